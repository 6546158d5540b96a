/**
 * `restart`: rollout-restart istiod and wait for it, then the gateways, then every workload with a sidecar, at
 * most `concurrency` at a time. Each workload ends as one RolloutItem; a failure in one never stops the others.
 *
 * JSON (stable): { context, istioNamespace, namespaces, restartedAt, dryRun, wait,
 *   controlPlane: RolloutItem[], workloads: RolloutItem[], unmanagedPods: UnmanagedPod[], summary: RestartSummary }
 */
import type { DryRun } from '../commands/dry-run.js';
import { ExitCode, OperationError, isIstioCaError, type ExitCodeValue } from '../errors.js';
import { explainKubeError } from '../kube/errors.js';
import type { Workload } from '../kube/resources.js';
import type { WatchClient } from '../kube/watch.js';
import { discover } from './discover.js';
import { podsBelowPartition, RESOURCE_OF, restartPatch, unrollable } from './rollout.js';
import { selectTargets, type Role, type Target, type UnmanagedPod } from './targets.js';
import { RolloutWatcher } from './watcher.js';

export type RestartScope = 'all' | 'control-plane' | 'workloads';

export interface RestartOptions {
  istioNamespace: string;
  /** Restart workloads only in these namespaces (the control plane is always in istioNamespace). */
  namespaces?: string[];
  scope: RestartScope;
  /** Most workloads patched or rolling at once. */
  concurrency: number;
  /** Bound of each wait, in ms. */
  timeoutMs: number;
  /** False: patch only (--no-wait). */
  wait: boolean;
  /**
   * none: restart. client: list what would restart, send no patch. server: send every patch with dryRun=All
   * (proves permission, changes nothing). A dry run never waits.
   */
  dryRun: DryRun;
}

export type ProgressEvent =
  | { type: 'planned'; total: number }
  | { type: 'started'; target: { kind: string; namespace: string; name: string; role: Role } }
  | { type: 'finished'; item: RolloutItem };

export interface RestartDeps {
  client: WatchClient;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /**
   * How often open waits check their deadlines (default 500 ms). Waiting sends no requests of its own beyond one
   * watch per workload kind (and scope): rollouts are judged on the changes the watches deliver.
   */
  pollIntervalMs?: number;
  progress?: (event: ProgressEvent) => void;
}

/**
 * restarted: patched and rolled out; patched: --no-wait; dry-run: the server accepted the dry-run patch;
 * failed: not patched, or the rollout failed; timeout: still rolling after --timeout; skipped: not attempted
 * because istiod did not roll out.
 */
export type RolloutStatus = 'restarted' | 'patched' | 'dry-run' | 'failed' | 'timeout' | 'skipped';

export interface RolloutItem {
  namespace: string;
  kind: string;
  name: string;
  role: Role;
  status: RolloutStatus;
  message: string;
  hint: string | null;
  /** Pods the workload had before the restart. */
  pods: number;
  /**
   * Only when the workload was not fully restarted by design (a partitioned or OnDelete StatefulSet, an OnDelete
   * DaemonSet): the pods left running with the certificates they had, which a restart did not replace.
   */
  oldPods?: string[];
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface RestartSummary {
  total: number;
  restarted: number;
  patched: number;
  dryRun: number;
  failed: number;
  timeout: number;
  skipped: number;
  durationMs: number;
  /** API requests sent, discovery included. */
  apiRequests: number;
}

export interface RestartResult {
  context: string;
  istioNamespace: string;
  namespaces: string[] | null;
  restartedAt: string;
  dryRun: DryRun;
  wait: boolean;
  controlPlane: RolloutItem[];
  workloads: RolloutItem[];
  unmanagedPods: UnmanagedPod[];
  summary: RestartSummary;
}

/** Runs fn over items with at most `limit` in flight, in order of the list. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** 1 when any rollout failed, else 124 when any timed out, else 0. */
export function exitCodeOf(result: RestartResult): ExitCodeValue {
  if (result.summary.failed > 0) return ExitCode.failed;
  if (result.summary.timeout > 0) return ExitCode.timeout;
  return ExitCode.ok;
}

/** Outcomes in which the restart patch was sent (or, in a dry run, would be): what `-o name` lists. */
const PATCHED: ReadonlySet<RolloutStatus> = new Set(['restarted', 'patched', 'dry-run', 'timeout']);

/**
 * `-o name`, as kubectl rollout restart prints it: `deployment.apps/istiod`, one per workload whose restart patch
 * was sent (a rollout that then timed out included; failed and skipped ones not), control plane first.
 */
export function restartedNames(result: RestartResult): string[] {
  return [...result.controlPlane, ...result.workloads]
    .filter((i) => PATCHED.has(i.status))
    .map((i) => `${i.kind.toLowerCase()}.apps/${i.name}`);
}

/** Restarts and waits as the options say; returns every workload's outcome (never throws for one workload). */
export async function runRestart(opts: RestartOptions, deps: RestartDeps): Promise<RestartResult> {
  const { client } = deps;
  const started = deps.now();
  const requestsBefore = client.requestCount();
  const restartedAt = started.toISOString();
  const controlPlane = opts.scope !== 'workloads';
  const workloadsWanted = opts.scope !== 'control-plane';

  const inventory = await discover(client, {
    istioNamespace: opts.istioNamespace,
    namespaces: opts.namespaces,
    controlPlane,
    workloads: workloadsWanted,
  });
  const sel = selectTargets(inventory, {
    istioNamespace: opts.istioNamespace,
    workloadNamespaces: opts.namespaces ?? null,
    controlPlane,
    workloads: workloadsWanted,
  });
  // The pods were needed only to choose (targets keep their names); thousands of them need not outlive the waits.
  inventory.pods = [];
  if (controlPlane && sel.istiod.length === 0) {
    throw new OperationError(
      `no istiod Deployment (label app=istiod) in namespace ${opts.istioNamespace}; nothing was restarted`,
      'name the control plane namespace with -i/--istio-namespace, or pass --workloads-only when the control plane ' +
        'runs elsewhere',
    );
  }
  deps.progress?.({ type: 'planned', total: sel.istiod.length + sel.gateways.length + sel.workloads.length });

  const watcher = new RolloutWatcher(client, {
    tickMs: deps.pollIntervalMs ?? 500,
    now: deps.now,
    sleep: deps.sleep,
    clusterWide: inventory.clusterWide,
    seeds: inventory.lists,
  });
  const waiting = opts.wait && opts.dryRun === 'none';
  // Open the watches now, from discovery's lists, so their resourceVersion is fresh however long istiod takes.
  if (waiting) watcher.watchFor([...sel.istiod, ...sel.gateways, ...sel.workloads]);
  const patch = restartPatch(restartedAt);

  const item = (
    t: Target,
    status: RolloutStatus,
    message: string,
    hint: string | null,
    startedAt: Date | null,
    oldPods?: string[],
  ): RolloutItem => {
    const end = deps.now();
    return {
      namespace: t.namespace,
      kind: t.kind,
      name: t.name,
      role: t.role,
      status,
      message,
      hint,
      pods: t.pods,
      ...(oldPods ? { oldPods } : {}),
      startedAt: startedAt?.toISOString() ?? null,
      finishedAt: startedAt ? end.toISOString() : null,
      durationMs: startedAt ? end.getTime() - startedAt.getTime() : null,
    };
  };

  const restartOne = async (t: Target): Promise<RolloutItem> => {
    const begin = deps.now();
    deps.progress?.({ type: 'started', target: { kind: t.kind, namespace: t.namespace, name: t.name, role: t.role } });
    const blocked = unrollable(t.kind, t.object);
    if (blocked) {
      const left = t.kind === 'Deployment' ? undefined : t.podNames;
      const message = left?.length
        ? `not restarted: ${blocked.message}; ${left.length} pod(s) keep their old certificates: ${left.join(', ')}`
        : blocked.message;
      return item(t, 'failed', message, blocked.hint, begin, left);
    }
    if (opts.dryRun === 'client')
      return item(t, 'dry-run', 'would restart (client dry run: nothing sent to the server)', null, begin);
    let patched: Workload;
    try {
      patched = await client.patch<Workload>(RESOURCE_OF[t.kind], t.namespace, t.name, patch, 'strategic', {
        dryRun: opts.dryRun === 'server',
        // Only the answer's generation is read.
        projection: 'rollout',
      });
    } catch (e) {
      const err = explainKubeError(e, client.context);
      return item(
        t,
        'failed',
        (err as Error).message ?? String(err),
        isIstioCaError(err) ? (err.hint ?? null) : null,
        begin,
      );
    }
    if (opts.dryRun === 'server')
      return item(t, 'dry-run', 'server dry run accepted the restart; nothing changed', null, begin);
    if (!opts.wait) return item(t, 'patched', 'restart requested; not waited for (--no-wait)', null, begin);
    const outcome = await watcher.wait(
      {
        kind: t.kind,
        namespace: t.namespace,
        name: t.name,
        ...(patched.metadata?.generation !== undefined ? { generation: patched.metadata.generation } : {}),
        ...(t.object.metadata.uid !== undefined ? { uid: t.object.metadata.uid } : {}),
      },
      begin.getTime() + opts.timeoutMs,
    );
    if (outcome.status === 'done' && t.kind === 'StatefulSet') {
      // kubectl calls a partitioned rollout complete; the pods below the partition still hold their old certificates.
      const below = podsBelowPartition(outcome.object ?? t.object, t.podNames);
      if (below) {
        const ref = `statefulset/${t.name} -n ${t.namespace}`;
        return item(
          t,
          'failed',
          `not fully restarted: rollingUpdate.partition ${below.partition} keeps ${below.pods.length} pod(s) on ` +
            `the old revision and their old certificates: ${below.pods.join(', ') || '(none running)'}`,
          `delete them to get new certificates (kubectl delete pod -n ${t.namespace} ${below.pods.join(' ')}), or ` +
            `set the partition to 0 (kubectl patch ${ref} -p ` +
            `'{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')`,
          begin,
          below.pods,
        );
      }
    }
    const status: RolloutStatus = outcome.status === 'done' ? 'restarted' : outcome.status;
    return item(t, status, outcome.message, outcome.hint ?? null, begin);
  };

  const runPhase = async (targets: Target[], into: RolloutItem[]) => {
    const results = new Map<Target, RolloutItem>();
    await pool(targets, opts.concurrency, async (t) => {
      const r = await restartOne(t);
      results.set(t, r);
      deps.progress?.({ type: 'finished', item: r });
    });
    into.push(...targets.flatMap((t) => results.get(t) ?? []));
  };

  const cpItems: RolloutItem[] = [];
  const wlItems: RolloutItem[] = [];
  try {
    await runPhases();
  } finally {
    await watcher.stop();
  }
  async function runPhases(): Promise<void> {
    await runPhase(sel.istiod, cpItems);
    // Workloads restarted while istiod is down or still on the old CA would get their certificates from it.
    const istiodBad =
      opts.dryRun === 'none' &&
      cpItems.some((i) => i.role === 'istiod' && (i.status === 'failed' || i.status === 'timeout'));
    if (istiodBad) {
      const why =
        'not restarted: istiod did not roll out (see above); restarting now would hand out certificates from a ' +
        'control plane that is not ready';
      for (const t of [...sel.gateways, ...sel.workloads]) {
        const r = item(t, 'skipped', why, null, null);
        (t.role === 'gateway' ? cpItems : wlItems).push(r);
        deps.progress?.({ type: 'finished', item: r });
      }
    } else {
      await runPhase(sel.gateways, cpItems);
      await runPhase(sel.workloads, wlItems);
    }
  }

  const all = [...cpItems, ...wlItems];
  const count = (s: RolloutStatus) => all.filter((i) => i.status === s).length;
  return {
    context: client.context,
    istioNamespace: opts.istioNamespace,
    namespaces: opts.namespaces ?? null,
    restartedAt,
    dryRun: opts.dryRun,
    wait: opts.wait && opts.dryRun === 'none',
    controlPlane: cpItems,
    workloads: wlItems,
    unmanagedPods: sel.unmanagedPods,
    summary: {
      total: all.length,
      restarted: count('restarted'),
      patched: count('patched'),
      dryRun: count('dry-run'),
      failed: count('failed'),
      timeout: count('timeout'),
      skipped: count('skipped'),
      durationMs: deps.now().getTime() - started.getTime(),
      apiRequests: client.requestCount() - requestsBefore,
    },
  };
}
