/**
 * Waiting for many rollouts at once by watching, not polling: one informer per workload kind (cluster-wide when
 * discovery listed cluster-wide, else one per namespace), started from discovery's own list, so waiting costs one
 * watch request per kind and scope, plus a re-list whenever the API server answers 410 Gone. Each wait is judged
 * on every change of its workload, as `kubectl rollout status` judges it (rolloutState), and ends at its deadline.
 */
import { Informer } from '../kube/informer.js';
import { explainKubeError } from '../kube/errors.js';
import type { Workload } from '../kube/resources.js';
import type { VersionedList, WatchClient } from '../kube/watch.js';
import { isIstioCaError } from '../errors.js';
import { countKey, LIST_PAGE } from './discover.js';
import { RESOURCE_OF, rolloutState, type WorkloadKind } from './rollout.js';

export type WaitOutcome = {
  status: 'done' | 'failed' | 'timeout';
  message: string;
  hint?: string;
  /** The workload as last seen (the rolled-out state when done). */
  object?: Workload;
};

export interface WatchTarget {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface WatcherOptions {
  /** How often deadlines are checked while waits are open (no requests: changes arrive by watch). */
  tickMs: number;
  now(): Date;
  sleep: (ms: number) => Promise<void>;
  /** Whether to watch cluster-wide (discovery listed cluster-wide, so RBAC permits it), else per namespace. */
  clusterWide: boolean;
  /** Discovery's lists by countKey(kind, namespace) (namespace undefined = cluster-wide), to watch from. */
  seeds: Map<string, VersionedList<Workload>>;
  random?: () => number;
}

export interface WaitRequest extends WatchTarget {
  /** The generation the restart patch produced: older copies in the watch predate the restart. */
  generation?: number;
  /** The workload's uid before the restart: another uid under the same name is a different workload. */
  uid?: string;
}

interface Waiter {
  req: WaitRequest;
  scope: string;
  deadline: number;
  last: string;
  resolve(o: WaitOutcome): void;
}

const objKey = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`;

/**
 * Watches kept open at once, unless more waits in flight need one each. Each watch holds a connection of the client's
 * pool (32), which patches share: with -n across many namespaces, watches no wait needs now are closed (their copy
 * kept, to resume from) before new ones open.
 */
export const MAX_OPEN_WATCHES = 12;

export class RolloutWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly informers = new Map<string, Informer<Workload>>();
  /** Copies of closed watches, to resume from. */
  private readonly parked = new Map<string, VersionedList<Workload>>();
  private readonly closed: Informer<Workload>[] = [];
  private running = false;
  private stopped = false;

  constructor(
    private readonly client: WatchClient,
    private readonly opts: WatcherOptions,
  ) {}

  /**
   * Starts watching what these targets need (up to MAX_OPEN_WATCHES), so the watches are open before their
   * restarts.
   */
  watchFor(targets: WatchTarget[]): void {
    for (const t of targets) {
      if (!this.informers.has(this.scopeKey(t.kind, t.namespace)) && this.informers.size >= MAX_OPEN_WATCHES) return;
      this.informerFor(t.kind, t.namespace);
    }
  }

  /** Resolves when the workload's restart has rolled out, failed, or the deadline (epoch ms) passed. */
  wait(req: WaitRequest, deadline: number): Promise<WaitOutcome> {
    return new Promise((resolve) => {
      const inf = this.informerFor(req.kind, req.namespace);
      const w: Waiter = {
        req,
        scope: this.scopeKey(req.kind, req.namespace),
        deadline,
        last: 'waiting for the rollout to start',
        resolve,
      };
      const k = objKey(req.kind, req.namespace, req.name);
      let set = this.waiters.get(k);
      if (!set) this.waiters.set(k, (set = new Set()));
      set.add(w);
      this.judge(w, inf);
      if (this.waiters.size > 0 && !this.running) {
        this.running = true;
        void this.tick();
      }
    });
  }

  /** Closes every watch. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers.values(), ...this.closed].map((i) => i.stop()));
  }

  /** Request figures of the watches: lists, watches, re-lists after 410, resumed watches. */
  stats(): { lists: number; watches: number; relists: number; reconnects: number } {
    const s = { lists: 0, watches: 0, relists: 0, reconnects: 0 };
    for (const i of [...this.informers.values(), ...this.closed]) {
      s.lists += i.stats.lists;
      s.watches += i.stats.watches;
      s.relists += i.stats.relists;
      s.reconnects += i.stats.reconnects;
    }
    return s;
  }

  private scopeKey(kind: WorkloadKind, namespace: string): string {
    return countKey(kind, this.opts.clusterWide ? undefined : namespace);
  }

  private informerFor(kind: WorkloadKind, namespace: string): Informer<Workload> {
    const scope = this.scopeKey(kind, namespace);
    const existing = this.informers.get(scope);
    if (existing) return existing;
    this.closeIdleWatches();
    const seed = this.parked.get(scope) ?? this.opts.seeds.get(scope);
    this.parked.delete(scope);
    const inf: Informer<Workload> = new Informer<Workload>(this.client, RESOURCE_OF[kind], {
      ...(this.opts.clusterWide ? {} : { namespace }),
      ...(seed ? { initial: seed } : {}),
      listPage: LIST_PAGE,
      projection: 'rollout',
      sleep: this.opts.sleep,
      ...(this.opts.random ? { random: this.opts.random } : {}),
      onChange: (_type, o) => {
        if (this.informers.get(scope) !== inf) return;
        const set = this.waiters.get(objKey(kind, o.metadata.namespace ?? '', o.metadata.name));
        if (set) for (const w of [...set]) this.judge(w, inf);
      },
      onSynced: () => {
        if (this.informers.get(scope) === inf) this.judgeScope(scope);
      },
      onError: (e, fatal) => {
        if (this.informers.get(scope) !== inf) return;
        const explained = explainKubeError(e, this.client.context);
        for (const w of this.waitersIn(scope)) {
          if (fatal) this.finish(w, this.cannotWatch(explained));
          else w.last = `last read failed: ${(explained as Error).message}`;
        }
      },
    });
    this.informers.set(scope, inf);
    if (!this.stopped) inf.start();
    return inf;
  }

  /** Closes watches no open wait needs, oldest first, while MAX_OPEN_WATCHES are open; keeps their copies. */
  private closeIdleWatches(): void {
    for (const [scope, inf] of this.informers) {
      if (this.informers.size < MAX_OPEN_WATCHES) return;
      if (this.waitersIn(scope).length > 0 || inf.failed()) continue;
      const snap = inf.snapshot();
      if (snap) this.parked.set(scope, snap);
      this.informers.delete(scope);
      this.closed.push(inf);
      void inf.stop();
    }
  }

  private cannotWatch(explained: unknown): WaitOutcome {
    const hint = isIstioCaError(explained) ? explained.hint : undefined;
    return {
      status: 'failed',
      message: `cannot watch the rollout: ${(explained as Error).message}`,
      ...(hint ? { hint } : {}),
    };
  }

  private waitersIn(scope: string): Waiter[] {
    return [...this.waiters.values()].flatMap((set) => [...set].filter((w) => w.scope === scope));
  }

  private judgeScope(scope: string): void {
    const inf = this.informers.get(scope);
    if (inf) for (const w of this.waitersIn(scope)) this.judge(w, inf);
  }

  private finish(w: Waiter, outcome: WaitOutcome): void {
    const k = objKey(w.req.kind, w.req.namespace, w.req.name);
    const set = this.waiters.get(k);
    if (!set?.delete(w)) return;
    if (set.size === 0) this.waiters.delete(k);
    w.resolve(outcome);
  }

  /** Judges one wait on the watch's copy of its workload. */
  private judge(w: Waiter, inf: Informer<Workload>): void {
    const { kind, namespace, name } = w.req;
    const fatal = inf.failed();
    if (fatal) {
      this.finish(w, this.cannotWatch(explainKubeError(fatal, this.client.context)));
      return;
    }
    if (!inf.hasSynced()) {
      w.last = `waiting for the first list of ${RESOURCE_OF[kind].plural}`;
      return;
    }
    const got = inf.get(namespace, name);
    if (!got || (w.req.uid !== undefined && got.metadata.uid !== undefined && got.metadata.uid !== w.req.uid)) {
      this.finish(w, { status: 'failed', message: `${kind} was deleted during the rollout` });
      return;
    }
    if ((got.metadata.generation ?? 0) < (w.req.generation ?? 0)) {
      w.last = 'waiting for the restart to show in the watch';
      return;
    }
    const state = rolloutState(kind, got);
    if (state.phase === 'done') {
      this.finish(w, { status: 'done', message: state.message, object: got });
      return;
    }
    if (state.phase === 'failed') {
      this.finish(w, {
        status: 'failed',
        message: state.message,
        hint: `see why: kubectl describe ${kind.toLowerCase()}/${name} -n ${namespace}`,
        object: got,
      });
      return;
    }
    w.last = state.message;
  }

  /** Ends waits whose deadline passed; runs while any wait is open. */
  private async tick(): Promise<void> {
    try {
      while (this.waiters.size > 0) {
        await this.opts.sleep(this.opts.tickMs);
        const now = this.opts.now().getTime();
        for (const set of [...this.waiters.values()])
          for (const w of [...set])
            if (now >= w.deadline) this.finish(w, { status: 'timeout', message: `timed out: ${w.last}` });
      }
    } finally {
      this.running = false;
    }
  }
}
