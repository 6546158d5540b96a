/** `backup`: save the CA secrets and every istio-ca-root-cert ConfigMap. */
import type { CommandSpec } from './spec.js';
import { withKube } from '../kube/session.js';
import { checkWritableDir } from '../fsutil/atomic.js';
import { nonEmpty } from './flags.js';

export const backupCommand: CommandSpec = {
  command: 'backup',
  describe: 'Back up cacerts, istio-ca-secret and every istio-ca-root-cert ConfigMap to a folder',
  printsResult: true,
  namesObjects: true,
  builder: (y) =>
    y.option('out-dir', {
      alias: 'd',
      type: 'string',
      defaultDescription: 'istio-ca-backups',
      describe: 'Folder to create the backup in',
    }),
  examples: [['$0 backup --out-dir ./backups', 'Creates ./backups/<context>-<UTC time>/']],
  async run(args, ctx) {
    const outDir = nonEmpty(args, 'out-dir', 'backup') ?? 'istio-ca-backups';
    await checkWritableDir(outDir, '--out-dir');
    const { runBackup } = await import('../backup/run.js');
    const result = await withKube(ctx, (client) =>
      runBackup(client, { outDir, namespace: ctx.globals.istioNamespace }, ctx.now()),
    );
    return {
      kind: 'BackupResult',
      data: result,
      // What was saved, as kubectl get -o name prints it (one line per object, namespaces not shown).
      names: () => [
        ...(result.cacerts ? ['secret/cacerts'] : []),
        ...(result.selfSignedSecret ? ['secret/istio-ca-secret'] : []),
        ...Array.from({ length: result.configMaps }, () => 'configmap/istio-ca-root-cert'),
      ],
      human: (style) =>
        `${style.ok('√')} backup of context ${result.context} written: ` +
        (result.cacerts ? 'secret/cacerts, ' : '') +
        (result.selfSignedSecret ? 'secret/istio-ca-secret, ' : '') +
        `${result.configMaps} istio-ca-root-cert ConfigMap(s), ${result.files.length} files\n` +
        `${result.path}\n` +
        (result.cacerts ? `restore with: kubectl istio-ca replace --from-dir ${result.path}\n` : ''),
    };
  },
};
