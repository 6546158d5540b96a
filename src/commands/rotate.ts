/** `rotate --from-dir NEW`: zero-downtime CA rotation, across one or several clusters in lockstep. */
import type { CommandSpec } from './spec.js';
import { askYesNo } from './confirm.js';
import { dryRunOption, parseDryRun } from './dry-run.js';
import { OperationError, RefusedError, WaitTimeoutError } from '../errors.js';
import { MAX_WAIT_MS, parseDuration } from '../duration.js';
import { integerFlag, listFlag, namespaceName, nonEmpty } from './flags.js';
import { RESTART_DEFAULTS } from './restart.js';
import { explainKubeError } from '../kube/errors.js';
import type { RotateResult } from '../rotate/run.js';
import type { Style } from '../output/style.js';
import type { HttpKubeClient } from '../kube/http.js';

function render(r: RotateResult, style: Style): string {
  let out = `${style.bold('rotation')} ${r.kind}${r.dryRun ? ' (dry run: nothing changed)' : ''} on ${r.contexts.join(', ')}\n`;
  for (const p of r.phases) {
    out += `  ${style.bold(p.phase)}\n`;
    for (const c of p.clusters)
      out += `    ${c.context}: ${c.action}${c.gateSeconds !== null ? `, gates passed in ${c.gateSeconds}s` : ''}${c.backup ? ` (backup ${c.backup})` : ''}\n`;
  }
  if (!r.dryRun)
    out += `${style.ok('√')} every cluster ends on root ${r.finalRoots.map((f) => f.slice(0, 23) + '…').join(', ')}\n`;
  return out;
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
          'Restart sidecar workloads after switching the signer (--no-restart-workloads relies on the multi-root push)',
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
      }),
  examples: [
    ['$0 rotate --from-dir ./new-ca --dry-run', 'Show the phases'],
    ['$0 rotate --from-dir ./new-ca --yes', 'Rotate the current context'],
    ['$0 rotate --from-dir ./new-ca --contexts east,west --yes', 'Two clusters sharing a root, in lockstep'],
    ['$0 rotate --from-dir ./new-ca --resume --yes', 'Finish an interrupted rotation'],
  ],
  async run(args, ctx) {
    const dryRun = parseDryRun(args, { command: 'rotate', notice: ctx.notice, serverSupported: false }) === 'client';
    const fromDir = nonEmpty(args, 'from-dir', 'rotate')!;
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
    const clients: HttpKubeClient[] = [];
    try {
      for (const c of contexts.length ? contexts : [ctx.globals.context])
        clients.push(await connect({ ...ctx, globals: { ...ctx.globals, context: c } }));
      const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
      const restart = async (client: HttpKubeClient, scope: 'control-plane' | 'all') => {
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
        if (r.summary.failed > 0)
          throw new OperationError(
            `restarting on context ${client.context} failed for ${r.summary.failed} workload(s)`,
            'kubectl istio-ca restart shows which; then kubectl istio-ca rotate --resume',
          );
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
          restartWorkloads: args['restart-workloads'] !== false,
        },
        {
          clusters: clients.map((client) => ({
            client,
            restartControlPlane: () => restart(client, 'control-plane'),
            restartWorkloads: () => restart(client, 'all'),
          })),
          now: ctx.now,
          notice: ctx.notice,
          sleep,
        },
      ).catch((e: unknown) => {
        throw explainKubeError(e, clients.map((c) => c.context).join(','));
      });
      return { data: result, human: (style) => render(result, style) };
    } finally {
      for (const c of clients) c.close();
    }
  },
};
