/** `restart`: rollout-restart the control plane, then every workload with a sidecar, and wait like kubectl. */
import type { CommandSpec } from './spec.js';
import { RefusedError } from '../errors.js';
import { MAX_WAIT_MS, parseDuration } from '../duration.js';
import { integerFlag, listFlag, namespaceName, nonEmpty, positiveNumberFlag } from './flags.js';
import { withKube } from '../kube/session.js';
import { dryRunOption, parseDryRun } from './dry-run.js';

/**
 * Defaults: 10 rollouts at once, 5 minutes per wait, 50 requests/s with bursts of 100 (the plugin's client
 * default).
 */
export const RESTART_DEFAULTS = { concurrency: 10, timeout: '5m', qps: 50, burst: 100 } as const;

export const restartCommand: CommandSpec = {
  command: 'restart',
  describe: 'Rollout-restart istiod and the gateways, then every workload with a sidecar, and wait for each rollout',
  printsResult: true,
  namesObjects: true,
  builder: (y) =>
    dryRunOption(y, {
      client: 'list what would restart; send nothing',
      server: 'also send every restart patch as a server-side dry run (proves permission); change nothing',
    })
      .option('control-plane-only', {
        type: 'boolean',
        describe:
          'Restart only the control plane: istiod, then the gateways (Deployments with a proxy in the Istio namespace)',
      })
      .option('workloads-only', {
        type: 'boolean',
        describe: 'Restart only workloads with a sidecar (not istiod, not the gateways in the Istio namespace)',
      })
      .option('namespace', {
        alias: 'n',
        type: 'string',
        array: true,
        describe: 'Restart workloads only in these namespaces (repeatable; the control plane is always in -i)',
      })
      .option('concurrency', {
        type: 'string',
        defaultDescription: String(RESTART_DEFAULTS.concurrency),
        describe: 'Most workloads restarting (patched and not yet rolled out) at once',
      })
      .option('timeout', {
        type: 'string',
        defaultDescription: RESTART_DEFAULTS.timeout,
        describe: 'How long to wait for each rollout (e.g. 90s, 10m); a rollout still running then counts as timed out',
      })
      .option('wait', {
        type: 'boolean',
        default: true,
        describe: 'Wait for each rollout like kubectl rollout status (--no-wait: patch only)',
      })
      .option('qps', {
        type: 'string',
        defaultDescription: String(RESTART_DEFAULTS.qps),
        describe: 'Client-side limit of API requests per second',
      })
      .option('burst', {
        type: 'string',
        defaultDescription: String(RESTART_DEFAULTS.burst),
        describe: 'Requests allowed at once above --qps',
      }),
  examples: [
    ['$0 restart', 'istiod first (waited for), then the gateways, then every workload with a sidecar'],
    ['$0 restart --control-plane-only', 'istiod and the gateways only, e.g. after a root change without multi-root'],
    ['$0 restart --workloads-only -n shop -n payments --concurrency 20', 'Two namespaces, 20 rollouts at a time'],
    ['$0 restart --dry-run=server -o json', 'What would restart, checked by the API server; nothing changes'],
  ],
  async run(args, ctx) {
    if (args['control-plane-only'] === true && args['workloads-only'] === true) {
      throw new RefusedError(
        '--control-plane-only and --workloads-only exclude each other',
        'pass neither to restart the control plane and then the workloads',
      );
    }
    const dryRun = parseDryRun(args, { command: 'restart', notice: ctx.notice });
    const concurrency =
      integerFlag(args, 'concurrency', 'restart', { min: 1, max: 1000, example: 10 }) ?? RESTART_DEFAULTS.concurrency;
    const qps = positiveNumberFlag(args, 'qps', 'restart', { max: 10_000, example: 50 }) ?? RESTART_DEFAULTS.qps;
    const burst =
      integerFlag(args, 'burst', 'restart', { min: 1, max: 10_000, example: 100 }) ?? RESTART_DEFAULTS.burst;
    const timeoutMs = parseDuration(nonEmpty(args, 'timeout', 'restart') ?? RESTART_DEFAULTS.timeout, 'timeout', {
      maxMs: MAX_WAIT_MS,
      command: 'restart',
    });
    const namespaces = listFlag(args, 'namespace', 'restart')?.map((n) => namespaceName(n, '-n', 'restart'));
    if (namespaces && args['control-plane-only'] === true)
      ctx.notice(
        `note: -n has no effect with --control-plane-only: the control plane is in ${ctx.globals.istioNamespace} (-i)`,
      );
    const { runRestart, exitCodeOf, restartedNames } = await import('../restart/run.js');
    const { renderRestart, progressReporter } = await import('../restart/render.js');
    const progress = progressReporter({ write: (t) => void ctx.stderr.write(t) }, ctx.interactive, ctx.errStyle);
    progress.start();
    try {
      const { isWatchClient } = await import('../kube/watch.js');
      const result = await withKube(
        ctx,
        (client) => {
          if (!isWatchClient(client)) throw new Error('internal: the kube client cannot watch');
          return runRestart(
            {
              istioNamespace: ctx.globals.istioNamespace,
              ...(namespaces ? { namespaces } : {}),
              scope:
                args['control-plane-only'] === true
                  ? 'control-plane'
                  : args['workloads-only'] === true
                    ? 'workloads'
                    : 'all',
              concurrency,
              timeoutMs,
              wait: args.wait !== false,
              dryRun,
            },
            {
              client,
              now: ctx.now,
              sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
              progress: progress.onEvent,
            },
          );
        },
        { qps, burst },
      );
      return {
        kind: 'RestartResult',
        data: result,
        exitCode: exitCodeOf(result),
        human: (style) => renderRestart(result, style),
        names: () => restartedNames(result),
      };
    } finally {
      progress.end();
    }
  },
};
