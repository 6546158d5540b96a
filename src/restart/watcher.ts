/**
 * Waiting for many rollouts at once within a request budget. One loop polls for all workloads being waited on, and
 * per kind picks the cheapest way to read them: a get per workload, a list per namespace, or one cluster-wide list,
 * whichever costs fewer requests (a list page holds LIST_PAGE objects). Polls come at most every pollMs, and no
 * more often than keeps them within POLL_SHARE of the client's request rate, so patches keep most of the budget.
 */
import type { KubeClient } from '../kube/client.js';
import { KubeApiError, explainKubeError } from '../kube/errors.js';
import type { Workload } from '../kube/resources.js';
import { isIstioCaError } from '../errors.js';
import { countKey, LIST_PAGE } from './discover.js';
import { RESOURCE_OF, rolloutState, type WorkloadKind } from './rollout.js';

export type WaitOutcome = { status: 'done' | 'failed' | 'timeout'; message: string; hint?: string };

export interface WatchTarget {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface WatcherOptions {
  /** Shortest time between polls. */
  pollMs: number;
  /** The client's request rate limit (requests/s), when known: polls then spend at most POLL_SHARE of it. */
  qps?: number;
  now(): Date;
  sleep(ms: number): Promise<void>;
  /** Whether cluster-wide lists are allowed (discovery listed cluster-wide, so RBAC permits it). */
  clusterWide: boolean;
  /** How many objects a list of kind in namespace ('' for cluster-wide) returns, from discovery. */
  counts: Map<string, number>;
}

interface Waiter {
  target: WatchTarget;
  deadline: number;
  last: string;
  resolve(o: WaitOutcome): void;
}

/** Part of the request rate polls may use while rollouts wait. */
export const POLL_SHARE = 0.3;
const pages = (items: number) => Math.max(1, Math.ceil(items / LIST_PAGE));
const objKey = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`;

type Fetched = Map<string, Workload | null | Error>;

export class RolloutWatcher {
  private readonly waiters = new Set<Waiter>();
  private running = false;
  /** Wait before the next poll; kept across loops so a new wait does not poll early. */
  private interval: number;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: WatcherOptions,
  ) {
    this.interval = opts.pollMs;
  }

  /** Resolves when the workload's current generation has rolled out, failed, or the deadline (epoch ms) passed. */
  wait(target: WatchTarget, deadline: number): Promise<WaitOutcome> {
    return new Promise((resolve) => {
      this.waiters.add({ target, deadline, last: 'waiting for the rollout to start', resolve });
      if (!this.running) {
        this.running = true;
        void this.loop();
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiters.size > 0) {
        await this.opts.sleep(this.interval);
        const requests = await this.pollOnce([...this.waiters]);
        this.interval = this.opts.qps
          ? Math.max(this.opts.pollMs, Math.ceil((requests / (this.opts.qps * POLL_SHARE)) * 1000))
          : this.opts.pollMs;
      }
    } catch (e) {
      // A bug, not an API answer: end every wait with it rather than hang.
      for (const w of this.waiters)
        this.finish(w, { status: 'failed', message: `internal error while waiting: ${(e as Error).message}` });
    } finally {
      this.running = false;
    }
  }

  private finish(w: Waiter, outcome: WaitOutcome): void {
    this.waiters.delete(w);
    w.resolve(outcome);
  }

  /** Reads and judges every waiter once; returns the requests it took. */
  private async pollOnce(batch: Waiter[]): Promise<number> {
    const fetched: Fetched = new Map();
    const byKind = new Map<WorkloadKind, Waiter[]>();
    for (const w of batch) byKind.set(w.target.kind, [...(byKind.get(w.target.kind) ?? []), w]);
    const before = this.client.requestCount();
    await Promise.all([...byKind].map(([kind, ws]) => this.fetchKind(kind, ws, fetched)));
    const requests = this.client.requestCount() - before;
    const now = this.opts.now().getTime();
    for (const w of batch) {
      const got = fetched.get(objKey(w.target.kind, w.target.namespace, w.target.name));
      if (got instanceof Error) {
        const e = explainKubeError(got, this.client.context);
        if (got instanceof KubeApiError && got.forbidden && isIstioCaError(e)) {
          this.finish(w, {
            status: 'failed',
            message: `cannot watch the rollout: ${e.message}`,
            ...(e.hint ? { hint: e.hint } : {}),
          });
          continue;
        }
        w.last = `last read failed: ${(e as Error).message}`;
      } else if (got === null || got === undefined) {
        this.finish(w, { status: 'failed', message: `${w.target.kind} was deleted during the rollout` });
        continue;
      } else {
        const state = rolloutState(w.target.kind, got);
        if (state.phase === 'done') {
          this.finish(w, { status: 'done', message: state.message });
          continue;
        }
        if (state.phase === 'failed') {
          this.finish(w, {
            status: 'failed',
            message: state.message,
            hint: `see why: kubectl describe ${w.target.kind.toLowerCase()}/${w.target.name} -n ${w.target.namespace}`,
          });
          continue;
        }
        w.last = state.message;
      }
      if (now >= w.deadline) this.finish(w, { status: 'timeout', message: `timed out: ${w.last}` });
    }
    return requests;
  }

  /** Reads every waited-on object of one kind with the fewest requests. */
  private async fetchKind(kind: WorkloadKind, ws: Waiter[], out: Fetched): Promise<void> {
    const type = RESOURCE_OF[kind];
    const byNs = new Map<string, Waiter[]>();
    for (const w of ws) byNs.set(w.target.namespace, [...(byNs.get(w.target.namespace) ?? []), w]);
    const count = (ns: string | undefined) => this.opts.counts.get(countKey(kind, ns)) ?? 1;
    const nsCost = [...byNs].reduce((sum, [ns, group]) => sum + Math.min(group.length, pages(count(ns))), 0);
    const clusterCost = this.opts.clusterWide ? pages(count(undefined)) : Infinity;

    const fromList = async (namespace: string | undefined, group: Waiter[]) => {
      try {
        const items = await this.client.list<Workload>(type, {
          ...(namespace !== undefined ? { namespace } : {}),
          limit: LIST_PAGE,
        });
        for (const w of group) out.set(objKey(kind, w.target.namespace, w.target.name), null);
        for (const item of items) {
          const k = objKey(kind, item.metadata.namespace ?? namespace ?? '', item.metadata.name);
          if (out.has(k)) out.set(k, item);
        }
      } catch (e) {
        for (const w of group) out.set(objKey(kind, w.target.namespace, w.target.name), e as Error);
      }
    };
    const fromGet = async (w: Waiter) => {
      const k = objKey(kind, w.target.namespace, w.target.name);
      try {
        out.set(k, await this.client.get<Workload>(type, w.target.namespace, w.target.name));
      } catch (e) {
        out.set(k, e as Error);
      }
    };

    if (clusterCost < nsCost) return fromList(undefined, ws);
    await Promise.all(
      [...byNs].map(([ns, group]) =>
        group.length > pages(count(ns)) ? fromList(ns, group) : Promise.all(group.map(fromGet)),
      ),
    );
  }
}
