/**
 * Reads served from watches: a KubeClient whose `list` is answered from an informer's local copy (one informer per
 * distinct list: type, namespace, selectors, metadata only), started by the first list of its kind and kept current
 * by its watch, so reading again costs no request. Writes and `get` go straight to the client. `changed()` resolves
 * at the next change any of its watches delivers: a waiter re-judges when something it reads moved, not on a timer.
 *
 * A list whose watch cannot be kept (watch forbidden while list is allowed, or more lists than MAX_WATCHES) is sent
 * to the API server every time instead, and `polling()` says so: a waiter then has to look again on a timer.
 */
import type { KubeClient, ListOptions, PatchType, WriteOptions } from './client.js';
import { Informer } from './informer.js';
import type { KubeObject, ResourceType } from './resources.js';
import type { WatchClient } from './watch.js';

/** Watches one WatchedReads keeps open; each holds a connection of the client's pool, which other requests share. */
export const MAX_WATCHES = 16;

export interface WatchedReadsOptions {
  sleep: (ms: number) => Promise<void>;
  /** Page size of the informers' lists. */
  listPage?: number;
  random?: () => number;
}

interface Entry {
  informer: Informer<KubeObject>;
  /** Settles when the first list is in, or with the error that ended the informer before it was. */
  synced: Promise<void>;
}

const listKey = (type: ResourceType, o: ListOptions) =>
  [type.group, type.plural, o.namespace ?? '', o.labelSelector ?? '', o.fieldSelector ?? '', o.metadataOnly ? 'm' : '']
    .map((s) => encodeURIComponent(s))
    .join('/');

const byNamespaceAndName = (a: KubeObject, b: KubeObject) => {
  const x = a.metadata.namespace ?? '';
  const y = b.metadata.namespace ?? '';
  if (x !== y) return x < y ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
};

export class WatchedReads implements KubeClient {
  readonly context: string;
  private readonly entries = new Map<string, Entry>();
  /** Lists answered by the API server each time (their watch failed, or too many watches). */
  private readonly polled = new Set<string>();
  private version = 0;
  private waiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly client: WatchClient,
    private readonly opts: WatchedReadsOptions,
  ) {
    this.context = client.context;
  }

  /** Counts every change delivered by any watch (and every re-list that changed something). */
  changes(): number {
    return this.version;
  }

  /** Resolves once changes() is past `seen` (at once when it already is). */
  changed(seen: number): Promise<void> {
    if (this.version !== seen || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Whether any list read so far is not kept by a watch (it is read from the API server each time). */
  polling(): boolean {
    return this.polled.size > 0;
  }

  /** Closes every watch; later lists go to the API server. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeAll();
    const all = [...this.entries.values()].map((e) => e.informer.stop());
    this.entries.clear();
    await Promise.all(all);
  }

  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<T[]> {
    const key = listKey(type, opts);
    if (this.stopped || this.polled.has(key)) return this.client.list<T>(type, opts);
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.entries.size >= MAX_WATCHES) {
        this.polled.add(key);
        return this.client.list<T>(type, opts);
      }
      entry = this.start(key, type, opts);
    }
    try {
      await entry.synced;
    } catch (e) {
      // The list itself failed: the caller sees the error its own list would have got; the next list tries anew.
      if (this.entries.get(key) === entry) this.entries.delete(key);
      void entry.informer.stop();
      throw e;
    }
    if (entry.informer.failed()) {
      // Listed, but the watch was refused (e.g. list allowed, watch forbidden): read by listing from now on.
      this.entries.delete(key);
      this.polled.add(key);
      return this.client.list<T>(type, opts);
    }
    // In the order the API server lists them (by namespace, then name), whatever order the changes came in.
    return (entry.informer.list() as T[]).sort(byNamespaceAndName);
  }

  private start(key: string, type: ResourceType, opts: ListOptions): Entry {
    let settle!: (e?: Error) => void;
    const synced = new Promise<void>((resolve, reject) => {
      settle = (e) => {
        if (e) reject(e);
        else resolve();
      };
    });
    const informer = new Informer<KubeObject>(this.client, type, {
      ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
      ...(opts.metadataOnly ? { metadataOnly: true } : {}),
      listPage: opts.limit ?? this.opts.listPage ?? 500,
      sleep: this.opts.sleep,
      ...(this.opts.random ? { random: this.opts.random } : {}),
      onChange: () => {
        this.bump();
      },
      onSynced: () => {
        settle();
      },
      onError: (e) => {
        // Before the first list is in, an error ends this informer: the list reports it, as a plain list would.
        if (!informer.hasSynced()) {
          settle(e);
          void informer.stop();
        } else this.bump();
      },
    });
    const entry = { informer, synced };
    // A rejection nobody awaits yet must not crash the process; list() awaits it.
    synced.catch(() => undefined);
    this.entries.set(key, entry);
    informer.start();
    return entry;
  }

  private bump(): void {
    this.version++;
    this.wakeAll();
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  get<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | null> {
    return this.client.get<T>(type, namespace, name);
  }
  create<T extends KubeObject>(type: ResourceType, ns: string | undefined, body: T, o?: WriteOptions): Promise<T> {
    return this.client.create<T>(type, ns, body, o);
  }
  update<T extends KubeObject>(type: ResourceType, ns: string | undefined, body: T, o?: WriteOptions): Promise<T> {
    return this.client.update<T>(type, ns, body, o);
  }
  patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    o?: WriteOptions,
  ): Promise<T> {
    return this.client.patch<T>(type, namespace, name, patch, patchType, o);
  }
  requestCount(): number {
    return this.client.requestCount();
  }
}
