/**
 * An informer: a local copy of one resource type in one scope, kept current by a watch. List (or start from a list
 * the caller already made), then watch from that list's resourceVersion with bookmarks; a watch the server ends is
 * resumed from the last resourceVersion seen, a broken one after an exponential backoff (800 ms doubling to 30 s,
 * with jitter, as client-go's reflector), and a 410 Gone (the resourceVersion was compacted away) re-lists.
 *
 * Why not @kubernetes/client-node's Watch/ListWatch (1.4.0): its Watch sends requests with node-fetch and a
 * KubeConfig of its own, outside HttpKubeClient's token bucket and request count (the --qps/--burst promise and the
 * request figures of restart), and would load the whole library (about 0.3 s of start-up the plugin avoids for every
 * command but --proxies). Its ListWatch never asks for bookmarks (allowWatchBookmarks is not sent), restarts a
 * closed watch at once with no backoff, and stops for good on any error other than 410 (its ERROR callback is the
 * end of it), where a rollout wait must ride out a restarting API server.
 */
import { KubeApiError } from './errors.js';
import type { ListOptions } from './client.js';
import type { Projection } from './projection.js';
import type { KubeObject, ResourceType } from './resources.js';
import type { VersionedList, WatchClient, WatchEvent, WatchStatus, WatchStream } from './watch.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions<T extends KubeObject> {
  /** Watch one namespace; undefined for the whole cluster. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Keep only each object's metadata (PartialObjectMetadata lists and watch events). */
  metadataOnly?: boolean;
  /**
   * Watch events and the informer's own lists carry only the projection's fields (WatchOptions.projection,
   * ListOptions.projection); an initial list given by the caller may carry more (a projection that holds this one).
   */
  projection?: Projection;
  /** A list the caller already made of exactly this scope: the informer starts watching from it without listing. */
  initial?: VersionedList<T>;
  /** Page size of the informer's own lists. */
  listPage?: number;
  sleep(ms: number): Promise<void>;
  /** Backoff after a failed list or watch: initialMs doubling up to maxMs, with up to 100 % jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** Server-side length of each watch request (default 300-600 s, drawn anew for each, as client-go does). */
  timeoutSeconds?: () => number;
  random?: () => number;
  /** Each change to the local copy, after it is applied (a re-list reports what it changed). */
  onChange?(type: ChangeType, object: T): void;
  /** After each (re-)list has replaced the local copy. */
  onSynced?(): void;
  /** A list or watch failed; `fatal` when the informer gives up (401, 403, 404: retrying cannot help). */
  onError?(error: Error, fatal: boolean): void;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Lists after a 410 Gone. */
  relists: number;
  /** Watches resumed after a failure. */
  reconnects: number;
  bookmarks: number;
  events: number;
}

const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

/** A refusal no retry can turn around. */
export function isFatal(e: unknown): boolean {
  return e instanceof KubeApiError && (e.status === 401 || e.status === 403 || e.status === 404);
}

function isGone(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 410;
}

/** The status of an ERROR event as an error, named like a refused request. */
function statusError(s: WatchStatus, resource: string, namespace: string | undefined): KubeApiError {
  return new KubeApiError(s.code ?? 500, s.reason ?? 'Error', s.message ?? 'watch error', 'watch', resource, namespace);
}

export class Informer<T extends KubeObject> {
  readonly stats: InformerStats = { lists: 0, watches: 0, relists: 0, reconnects: 0, bookmarks: 0, events: 0 };
  private readonly store = new Map<string, T>();
  private resourceVersion: string | undefined;
  private stopped = false;
  private synced = false;
  private stream: WatchStream | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private fatalError: Error | undefined;

  constructor(
    private readonly client: WatchClient,
    readonly type: ResourceType,
    private readonly opts: InformerOptions<T>,
  ) {
    if (opts.initial) {
      for (const o of opts.initial.items) this.store.set(key(o.metadata.namespace, o.metadata.name), o);
      this.resourceVersion = opts.initial.resourceVersion;
      this.synced = true;
    }
  }

  /** Starts listing and watching in the background (once). */
  start(): this {
    this.running ??= this.run();
    return this;
  }

  /** Stops the watch; resolves when the informer has nothing in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.stop();
    this.wake?.();
    await this.running;
  }

  /** Whether the local copy holds a complete list (it may lag the server by the events in flight). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Set when the informer gave up (forbidden, unauthorized, not served). */
  failed(): Error | undefined {
    return this.fatalError;
  }

  /** The local copy and the resourceVersion it is current at (to start another informer from), once synced. */
  snapshot(): VersionedList<T> | undefined {
    return this.synced && this.resourceVersion !== undefined
      ? { items: this.list(), resourceVersion: this.resourceVersion }
      : undefined;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(key(namespace, name));
  }

  list(): T[] {
    return [...this.store.values()];
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.resourceVersion === undefined) {
        try {
          await this.relist();
        } catch (e) {
          if (this.giveUp(e)) return;
          await this.pause(++failures);
          continue;
        }
      }
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      if (outcome.kind === 'gone') {
        // The resourceVersion was compacted away: only a new list can say what changed meanwhile.
        this.resourceVersion = undefined;
        this.stats.relists++;
        continue;
      }
      if (outcome.kind === 'failed') {
        if (this.giveUp(outcome.error)) return;
        if (outcome.events > 0) failures = 0;
        this.stats.reconnects++;
        await this.pause(++failures);
        continue;
      }
      // The server ended the watch (timeoutSeconds): resume from the last resourceVersion. A server that ends every
      // watch at once without a word is treated as failing, so that it is not asked again in a tight loop.
      if (outcome.events > 0) failures = 0;
      else await this.pause(++failures);
    }
  }

  /** Reports an error; true when it is fatal and the informer stops. */
  private giveUp(e: unknown): boolean {
    const err = e instanceof Error ? e : new Error(String(e));
    const fatal = isFatal(err);
    if (fatal) this.fatalError = err;
    this.opts.onError?.(err, fatal);
    return fatal;
  }

  private async pause(failures: number): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 800, maxMs: 30_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 16));
    const ms = Math.round(base * (1 + (this.opts.random ?? Math.random)()));
    await Promise.race([this.opts.sleep(Math.min(ms, maxMs)), new Promise<void>((r) => (this.wake = r))]);
    this.wake = undefined;
  }

  private async relist(): Promise<void> {
    const listOpts: ListOptions = {
      ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      ...(this.opts.listPage ? { limit: this.opts.listPage } : {}),
      ...(this.opts.metadataOnly ? { metadataOnly: true } : {}),
      ...(this.opts.projection ? { projection: this.opts.projection } : {}),
    };
    const list = await this.client.listVersioned<T>(this.type, listOpts);
    this.stats.lists++;
    if (this.stopped) return;
    const seen = new Set<string>();
    const changes: [ChangeType, T][] = [];
    for (const o of list.items) {
      const k = key(o.metadata.namespace, o.metadata.name);
      seen.add(k);
      const had = this.store.get(k);
      if (had?.metadata.resourceVersion === o.metadata.resourceVersion && had !== undefined) continue;
      this.store.set(k, o);
      changes.push([had ? 'MODIFIED' : 'ADDED', o]);
    }
    for (const [k, o] of this.store) {
      if (seen.has(k)) continue;
      this.store.delete(k);
      changes.push(['DELETED', o]);
    }
    this.resourceVersion = list.resourceVersion;
    this.synced = true;
    for (const [t, o] of changes) this.opts.onChange?.(t, o);
    this.opts.onSynced?.();
  }

  private async watchOnce(): Promise<
    { kind: 'ended'; events: number } | { kind: 'gone' } | { kind: 'failed'; error: unknown; events: number }
  > {
    let events = 0;
    let gone = false;
    let refused: KubeApiError | undefined;
    const stream = this.client.watch<T>(
      this.type,
      {
        ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
        ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
        ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
        ...(this.opts.metadataOnly ? { metadataOnly: true } : {}),
        ...(this.opts.projection ? { projection: this.opts.projection } : {}),
        resourceVersion: this.resourceVersion ?? '',
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.timeoutSeconds?.() ?? 300 + Math.floor((this.opts.random ?? Math.random)() * 300),
      },
      (e: WatchEvent<T>) => {
        if (this.stopped || gone || refused) return;
        events++;
        if (e.type === 'ERROR') {
          const status = e.object as unknown as WatchStatus;
          if (status.code === 410) gone = true;
          else refused = statusError(status, this.type.plural, this.opts.namespace);
          stream.stop();
          return;
        }
        this.apply(e);
      },
    );
    this.stream = stream;
    this.stats.watches++;
    if (this.stopped) stream.stop();
    try {
      await stream.done;
    } catch (e) {
      if (isGone(e)) return { kind: 'gone' };
      return { kind: 'failed', error: e, events };
    } finally {
      this.stream = undefined;
    }
    if (gone) return { kind: 'gone' };
    if (refused) return { kind: 'failed', error: refused, events };
    return { kind: 'ended', events };
  }

  private apply(e: WatchEvent<T>): void {
    const o = e.object;
    const rv = o.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.resourceVersion = rv;
      return;
    }
    this.stats.events++;
    // managedFields are most of an object's metadata and nothing here reads them.
    delete o.metadata.managedFields;
    const k = key(o.metadata.namespace, o.metadata.name);
    if (e.type === 'DELETED') {
      if (rv) this.resourceVersion = rv;
      if (!this.store.delete(k)) return;
      this.opts.onChange?.('DELETED', o);
      return;
    }
    const had = this.store.has(k);
    this.store.set(k, o);
    if (rv) this.resourceVersion = rv;
    this.opts.onChange?.(had ? 'MODIFIED' : 'ADDED', o);
  }
}
