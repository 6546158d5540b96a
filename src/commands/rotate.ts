/** `rotate --from-dir NEW`: zero-downtime CA rotation, across one or several clusters in lockstep. */
import type { CommandSpec } from './spec.js';
import { askYesNo } from './confirm.js';
import { dryRunOption, parseDryRun } from './dry-run.js';
import { OperationError, RefusedError, WaitTimeoutError } from '../errors.js';
import { MAX_WAIT_MS, parseDuration } from '../duration.js';
import { integerFlag, listFlag, namespaceName, nonEmpty, required } from './flags.js';
import { RESTART_DEFAULTS } from './restart.js';
import { explainKubeError } from '../kube/errors.js';
import type { HttpKubeClient } from '../kube/http.js';
import type { ProxyReader } from '../proxies/read.js';
import type { CommandContext } from '../context.js';

/**
 * A proxy reader (pods/exec through client-node, on the plugin's resolved connection for `context`) that loads
 * client-node only when a gate first reads a proxy.
 */
function lazyProxyReader(ctx: CommandContext, context: string | undefined): ProxyReader {
  let real: Promise<ProxyReader> | null = null;
  const open = async (): Promise<ProxyReader> => {
    const { execProxyReader } = await import('../proxies/read.js');
    const { resolveConnection } = await import('../kube/connect.js');
    const { clientNodeConfig } = await import('../kube/client-node.js');
    const g = ctx.globals;
    const conn = await resolveConnection(g.kubeconfig, context, ctx.env, g.connection ?? {}, { stderr: ctx.stderr });
    return execProxyReader(await clientNodeConfig(conn));
  };
  return {
    async read(namespace, pod) {
      real ??= open();
      return (await real).read(namespace, pod);
    },
  };
}

export const rotateCommand: CommandSpec = {
  command: 'rotate',
  describe: 'Rotate the CA without downtime: intermediate only, or a root in three gated phases',
  printsResult: true,
  builder: (y) =>
    dryRunOption(y, {
      client: 'print the phases; change nothing',
      server: 'not supported by rotate (refused)',
    })
      .option('from-dir', {
        alias: 'f',
        type: 'string',
        demandOption: true,
        describe: 'The new bundle (cacerts layout)',
      })
      .option('contexts', {
        type: 'string',
        array: true,
        describe:
          'Rotate these kubeconfig contexts in lockstep (comma-separated or repeated; default: the current context)',
      })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'Do not ask for confirmation' })
      .option('gate-timeout', { type: 'string', defaultDescription: '10m', describe: 'How long each gate may take' })
      .option('kubelet-sync', {
        type: 'string',
        defaultDescription: '75s',
        describe: 'Time for the kubelet to refresh the mounted secret, waited after each write',
      })
      .option('resume', {
        type: 'boolean',
        describe: 'Finish a rotation that was interrupted (phase recorded on cacerts)',
      })
      .option('allow-downtime', {
        type: 'boolean',
        describe: 'Without ISTIO_MULTIROOT_MESH: replace, restart everything, verify (breaks mTLS meanwhile)',
      })
      .option('backup-dir', {
        type: 'string',
        default: 'istio-ca-backups',
        describe: 'Where the backup before each phase goes',
      })
      .option('restart-workloads', {
        type: 'boolean',
        default: true,
        describe:
          'Restart istiod, gateways and sidecar workloads after trust-both and after switch-signer, unless every ' +
          'proxy gets the multi-root push (--no-restart-workloads: rely on the push, refused without it)',
      })
      .option('namespace', {
        alias: 'n',
        type: 'string',
        array: true,
        describe: 'Restart workloads only in these namespaces',
      })
      .option('concurrency', {
        type: 'string',
        defaultDescription: String(RESTART_DEFAULTS.concurrency),
        describe: 'Workloads restarted at once (as restart --concurrency)',
      })
      .option('push-wait', {
        type: 'string',
        defaultDescription: '2m',
        describe: 'With the multi-root push: how long to wait for it before restarting proxies rotate cannot read',
      }),
  examples: [
    ['$0 rotate --from-dir ./new-ca --dry-run', 'Show the phases'],
    ['$0 rotate --from-dir ./new-ca --yes', 'Rotate the current context'],
    ['$0 rotate --from-dir ./new-ca --contexts east,west --yes', 'Two clusters sharing a root, in lockstep'],
    ['$0 rotate --from-dir ./new-ca --resume --yes', 'Finish an interrupted rotation'],
  ],
  async run(args, ctx) {
    const dryRun = parseDryRun(args, { command: 'rotate', notice: ctx.notice, serverSupported: false }) === 'client';
    const fromDir = required(args, 'from-dir', 'rotate');
    const backupDir = nonEmpty(args, 'backup-dir', 'rotate') ?? 'istio-ca-backups';
    const gateTimeoutMs = parseDuration(nonEmpty(args, 'gate-timeout', 'rotate') ?? '10m', 'gate-timeout', {
      maxMs: MAX_WAIT_MS,
      command: 'rotate',
    });
    const kubeletSyncMs = parseDuration(nonEmpty(args, 'kubelet-sync', 'rotate') ?? '75s', 'kubelet-sync', {
      maxMs: MAX_WAIT_MS,
      command: 'rotate',
    });
    const contexts = listFlag(args, 'contexts', 'rotate') ?? [];
    if (ctx.globals.context && contexts.length)
      throw new RefusedError('--context and --contexts exclude each other', 'use --contexts a,b for several clusters');
    const namespaces = (listFlag(args, 'namespace', 'rotate') ?? []).map((n) => namespaceName(n, '-n', 'rotate'));
    const concurrency =
      integerFlag(args, 'concurrency', 'rotate', { min: 1, max: 1000, example: 10 }) ?? RESTART_DEFAULTS.concurrency;
    const pushWaitMs = parseDuration(nonEmpty(args, 'push-wait', 'rotate') ?? '2m', 'push-wait', {
      maxMs: MAX_WAIT_MS,
      command: 'rotate',
    });
    if (!dryRun && args.yes !== true) {
      if (!(await askYesNo('rotate the CA now?')))
        throw new RefusedError(
          'not confirmed; nothing was changed (a non-interactive shell needs --yes)',
          'pass --yes to rotate without asking, or --dry-run to see the plan',
        );
    }
    const { connect } = await import('../kube/connect.js');
    const { runRotate } = await import('../rotate/run.js');
    const { runRestart } = await import('../restart/run.js');
    const { renderRotate } = await import('../rotate/render.js');
    const clients: HttpKubeClient[] = [];
    try {
      for (const c of contexts.length ? contexts : [ctx.globals.context])
        clients.push(await connect({ ...ctx, globals: { ...ctx.globals, context: c } }));
      const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
      const restart = async (client: HttpKubeClient, scope: 'control-plane' | 'all', ungated: Set<string>) => {
        const r = await runRestart(
          {
            istioNamespace: ctx.globals.istioNamespace,
            ...(namespaces.length ? { namespaces } : {}),
            scope,
            concurrency,
            timeoutMs: gateTimeoutMs,
            wait: true,
            dryRun: 'none',
          },
          { client, now: ctx.now, sleep },
        );
        if (r.summary.timeout > 0)
          throw new WaitTimeoutError(
            `restarting on context ${client.context} timed out for ${r.summary.timeout} workload(s)`,
            'check those rollouts, then kubectl istio-ca rotate --resume',
          );
        // Workloads the plan reported as needing attention (OnDelete, paused) cannot roll: said, not fatal.
        const failed = [...r.controlPlane, ...r.workloads].filter(
          (i) => i.status === 'failed' && !ungated.has(`${i.namespace}/${i.kind}/${i.name}`),
        );
        if (failed.length > 0)
          throw new OperationError(
            `restarting on context ${client.context} failed for ${failed.length} workload(s): ` +
              failed
                .slice(0, 5)
                .map((i) => `${i.namespace}/${i.kind}/${i.name}: ${i.message}`)
                .join('; '),
            'kubectl istio-ca restart shows which; then kubectl istio-ca rotate --resume',
          );
        return r.summary.restarted;
      };
      const result = await runRotate(
        {
          fromDir,
          namespace: ctx.globals.istioNamespace,
          resume: args.resume === true,
          allowDowntime: args['allow-downtime'] === true,
          dryRun,
          gateTimeoutMs,
          kubeletSyncMs,
          backupDir,
          proxyUpdate: args['restart-workloads'] === false ? 'push' : 'auto',
          concurrency,
          pushWaitMs,
          ...(namespaces.length ? { namespaces } : {}),
        },
        {
          clusters: clients.map((client) => ({
            client,
            restart: (scope: 'control-plane' | 'all', ungated: Set<string>) => restart(client, scope, ungated),
            reader: lazyProxyReader(ctx, client.context),
          })),
          now: ctx.now,
          notice: ctx.notice,
          sleep,
        },
      ).catch((e: unknown) => {
        throw explainKubeError(e, clients.map((c) => c.context).join(','));
      });
      const { rotateFields } = await import('../output/documents.js');
      return { kind: 'RotateResult', data: rotateFields(result), human: (style) => renderRotate(result, style) };
    } finally {
      for (const c of clients) c.close();
    }
  },
};
