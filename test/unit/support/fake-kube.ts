/**
 * A strict in-memory KubeClient for unit tests, plus builders for the objects the plugin reads and a simulator of
 * rollouts. Strict means: a call the fake does not serve (a resource type it was not given, a verb outside
 * `allow`, a selector or patch it cannot evaluate faithfully) throws UnexpectedCallError and is recorded in
 * `unexpected`, so a test fails instead of passing on made-up behaviour. Code under test that catches errors per
 * item would hide that throw: end such tests with fake.assertNoUnexpectedCalls().
 *
 *   const kube = new FakeKube({ allow: ['list pods', 'list deployments', 'patch deployments'] });
 *   kube.seed(Resources.deployments, deployment('shop', 'web', { replicas: 2 }));
 *   kube.fail({ verb: 'patch', name: 'web' }, 403);          // one request answered 403 Forbidden
 *   kube.calls                                               // every call, in order, with its options
 *
 * Semantics kept from the API server: namespaced keys; resourceVersion bumped on every write, a stale one in
 * update is 409 Conflict; metadata.generation bumped when spec changes; dryRun validates and answers without
 * persisting; get of a missing object resolves null (as HttpKubeClient does); list pages counted as requests.
 *
 * Watches: listVersioned answers the store's resourceVersion; watch replays every change after the resourceVersion
 * it is given (from an event history), then streams live changes, in order, asynchronously, as the API server does.
 * A watch from a resourceVersion older than the last compact() is answered 410 Gone (as an ERROR event in the
 * stream, or as an HTTP 410 with `goneAs: 'http'`); bookmark() sends a BOOKMARK to watches that asked for them;
 * breakWatches() drops live streams as a broken connection does, closeWatches() ends them as the server's timeout
 * does. setStatus() is a controller's write: no request, but a MODIFIED event.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ListOptions, PatchType, WriteOptions } from '../../../src/kube/client.js';
import { KubeApiError, KubeTransportError } from '../../../src/kube/errors.js';
import { project } from '../../../src/kube/projection.js';
import type {
  VersionedList,
  WatchClient,
  WatchEvent,
  WatchEventType,
  WatchOptions,
  WatchStream,
} from '../../../src/kube/watch.js';
import { Resources, type KubeObject, type Pod, type ResourceType, type Workload } from '../../../src/kube/resources.js';

export type Verb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'watch';

export interface FakeCall {
  seq: number;
  verb: Verb;
  /** The resource's plural, e.g. 'deployments'. */
  resource: string;
  namespace: string | undefined;
  name?: string;
  list?: ListOptions;
  /** Options of a watch. */
  watch?: WatchOptions;
  /** Body of create/update, or the patch. */
  body?: unknown;
  patchType?: PatchType;
  dryRun: boolean;
}

export interface CallMatch {
  verb?: Verb | Verb[];
  resource?: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
}

export interface FakeKubeOptions {
  context?: string;
  /** Resource types served; any other is unexpected. Default: every type in Resources. */
  resources?: ResourceType[];
  /** `"verb plural"` pairs allowed (e.g. 'list pods'); any other call is unexpected. Default: every verb. */
  allow?: string[];
  /** Clock for creationTimestamp. */
  now?: () => Date;
  /** How a watch from a compacted resourceVersion is refused: an ERROR event with code 410 (default), or HTTP 410. */
  goneAs?: 'event' | 'http';
}

interface HistoryEntry {
  rv: number;
  type: WatchEventType;
  object: KubeObject;
}

interface LiveWatch {
  plural: string;
  opts: WatchOptions;
  call: FakeCall;
  queue: WatchEvent[];
  deliver(events: WatchEvent[]): void;
  end(error?: Error): void;
}

export class UnexpectedCallError extends Error {
  override name = 'UnexpectedCallError';
}

interface Fault {
  match: CallMatch;
  error: () => Error;
  times: number;
}

/** Called with the stored (mutable) objects a read is about to return; may change them first. */
export type ReadHook = (type: ResourceType, objects: KubeObject[], call: FakeCall) => void;
/** Called after a persisted write with the stored object and its state before the write (null on create). */
export type WriteHook = (type: ResourceType, stored: KubeObject, before: KubeObject | null, call: FakeCall) => void;

const clone = <T>(v: T): T => structuredClone(v);
const objKey = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

function matches(call: FakeCall, m: CallMatch): boolean {
  if (m.verb !== undefined && !(Array.isArray(m.verb) ? m.verb : [m.verb]).includes(call.verb)) return false;
  if (m.resource !== undefined && m.resource !== call.resource) return false;
  if (m.namespace !== undefined && m.namespace !== call.namespace) return false;
  if (m.name !== undefined && m.name !== call.name) return false;
  if (m.dryRun !== undefined && m.dryRun !== call.dryRun) return false;
  return true;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export class FakeKube implements WatchClient {
  readonly context: string;
  /** Every call, in order. */
  readonly calls: FakeCall[] = [];
  /** Calls the fake refused to serve, described. */
  readonly unexpected: string[] = [];
  private readonly types: Map<string, ResourceType>;
  private readonly allow: Set<string> | null;
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly faults: Fault[] = [];
  private readonly readHooks: ReadHook[] = [];
  private readonly writeHooks: WriteHook[] = [];
  private readonly beforeHooks: ((call: FakeCall) => void | Promise<void>)[] = [];
  private readonly now: () => Date;
  private rv = 100;
  private uid = 0;
  private requests = 0;
  private readonly history = new Map<string, HistoryEntry[]>();
  private readonly live = new Set<LiveWatch>();
  private compactedRv = 0;
  private readonly goneAs: 'event' | 'http';

  constructor(opts: FakeKubeOptions = {}) {
    this.context = opts.context ?? 'fake';
    this.types = new Map((opts.resources ?? Object.values(Resources)).map((t) => [t.plural, t]));
    this.allow = opts.allow ? new Set(opts.allow) : null;
    this.now = opts.now ?? (() => new Date('2026-01-01T00:00:00Z'));
    this.goneAs = opts.goneAs ?? 'event';
  }

  // --- arranging -------------------------------------------------------------------------------------------

  /** Stores objects as they are (uid, resourceVersion, generation and creationTimestamp filled in when absent). */
  seed(type: ResourceType, ...objects: KubeObject[]): this {
    const bucket = this.bucket(type);
    for (const o of objects) {
      const c = clone(o);
      c.apiVersion ??= type.group ? `${type.group}/${type.version}` : type.version;
      c.kind ??= type.kind;
      c.metadata.uid ??= `uid-${++this.uid}`;
      c.metadata.resourceVersion ??= String(++this.rv);
      this.rv = Math.max(this.rv, Number(c.metadata.resourceVersion) || 0);
      c.metadata.creationTimestamp ??= this.now().toISOString();
      if (c.spec !== undefined) c.metadata.generation ??= 1;
      const k = objKey(c.metadata.namespace, c.metadata.name);
      const existed = bucket.has(k);
      bucket.set(k, c);
      this.record(type, existed ? 'MODIFIED' : 'ADDED', c);
    }
    return this;
  }

  /** Removes an object from the store (no request); watches see it DELETED. */
  remove(type: ResourceType, namespace: string | undefined, name: string): boolean {
    const k = objKey(namespace, name);
    const o = this.bucket(type).get(k);
    if (!o) return false;
    this.bucket(type).delete(k);
    o.metadata.resourceVersion = String(++this.rv);
    this.record(type, 'DELETED', o);
    return true;
  }

  /** A controller's write of the stored object (e.g. its status): no request; the resourceVersion moves, watches see it. */
  setStatus(type: ResourceType, namespace: string | undefined, name: string, mutate: (o: KubeObject) => void): void {
    const o = this.bucket(type).get(objKey(namespace, name));
    if (!o) throw new Error(`setStatus: no ${type.plural} ${namespace}/${name}`);
    mutate(o);
    o.metadata.resourceVersion = String(++this.rv);
    this.record(type, 'MODIFIED', o);
  }

  /** Forgets the history up to now: a watch from an older resourceVersion is answered 410 Gone. */
  compact(): this {
    this.compactedRv = this.rv;
    for (const h of this.history.values()) h.length = 0;
    return this;
  }

  /** Sends a BOOKMARK with the current resourceVersion to the live watches (of a type) that asked for bookmarks. */
  bookmark(type?: ResourceType): number {
    let sent = 0;
    for (const w of this.live) {
      if ((type && w.plural !== type.plural) || !w.opts.allowWatchBookmarks) continue;
      w.deliver([
        { type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { name: '', resourceVersion: String(this.rv) } } },
      ]);
      sent++;
    }
    return sent;
  }

  /** Breaks the live watches (of a type) as a dropped connection does: their `done` rejects. Returns how many. */
  breakWatches(
    type?: ResourceType,
    error: () => Error = () => new KubeTransportError('connection reset by peer'),
  ): number {
    let n = 0;
    for (const w of [...this.live]) {
      if (type && w.plural !== type.plural) continue;
      w.end(error());
      n++;
    }
    return n;
  }

  /** Ends the live watches (of a type) cleanly, as the API server does at a watch's timeoutSeconds. */
  closeWatches(type?: ResourceType): number {
    let n = 0;
    for (const w of [...this.live]) {
      if (type && w.plural !== type.plural) continue;
      w.end();
      n++;
    }
    return n;
  }

  /** Watches open now (of a type). */
  liveWatches(type?: ResourceType): FakeCall[] {
    return [...this.live].filter((w) => !type || w.plural === type.plural).map((w) => w.call);
  }

  /**
   * Answers matching calls with an API error (status 403 -> Forbidden ...), `times` times (default: always).
   * The failed call still counts as a request, as it would on the wire.
   */
  fail(match: CallMatch, status: number, opts: { times?: number; message?: string } = {}): this {
    this.faults.push({
      match,
      times: opts.times ?? Infinity,
      error: () =>
        new KubeApiError(status, REASONS[status] ?? 'Error', opts.message ?? `fake ${status}`, '', '', undefined),
    });
    return this;
  }

  /** Answers matching calls with any error, e.g. a KubeTransportError. */
  failWith(match: CallMatch, error: () => Error, times = Infinity): this {
    this.faults.push({ match, error, times });
    return this;
  }

  /** Runs before each call is served (after it is recorded): delays, counters, gates. */
  beforeCall(fn: (call: FakeCall) => void | Promise<void>): this {
    this.beforeHooks.push(fn);
    return this;
  }

  onRead(fn: ReadHook): this {
    this.readHooks.push(fn);
    return this;
  }

  onWrite(fn: WriteHook): this {
    this.writeHooks.push(fn);
    return this;
  }

  // --- asserting -------------------------------------------------------------------------------------------

  /** The stored object (a copy), or null. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the kind they stored
  object<T extends KubeObject = KubeObject>(type: ResourceType, namespace: string | undefined, name: string): T | null {
    const o = this.bucket(type).get(objKey(namespace, name));
    return o ? (clone(o) as T) : null;
  }

  /** Stored objects of a type (copies), optionally in one namespace. */
  objects<T extends KubeObject = KubeObject>(type: ResourceType, namespace?: string): T[] {
    return [...this.bucket(type).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => clone(o) as T);
  }

  /** Calls matching, in order. */
  callsWhere(m: CallMatch): FakeCall[] {
    return this.calls.filter((c) => matches(c, m));
  }

  /** Writes (create, update, patch), dry-run ones included unless filtered. */
  writes(m: Omit<CallMatch, 'verb'> = {}): FakeCall[] {
    return this.calls.filter((c) => ['create', 'update', 'patch'].includes(c.verb) && matches(c, m));
  }

  assertNoUnexpectedCalls(): void {
    if (this.unexpected.length) throw new Error(`FakeKube got unexpected calls:\n  ${this.unexpected.join('\n  ')}`);
  }

  // --- KubeClient ------------------------------------------------------------------------------------------

  requestCount(): number {
    return this.requests;
  }

  async get<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | null> {
    const call = await this.begin({ verb: 'get', resource: type.plural, namespace, name, dryRun: false }, type);
    this.requests++;
    this.checkFaults(call, type);
    const o = this.bucket(type).get(objKey(namespace, name));
    if (!o) return null;
    for (const h of this.readHooks) h(type, [o], call);
    return clone(o) as T;
  }

  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<T[]> {
    const call = await this.begin(
      { verb: 'list', resource: type.plural, namespace: opts.namespace, list: { ...opts }, dryRun: false },
      type,
    );
    const labelTest = opts.labelSelector ? this.labelSelector(opts.labelSelector, call) : () => true;
    const fieldTest = opts.fieldSelector ? this.fieldSelector(opts.fieldSelector, call) : () => true;
    const found = [...this.bucket(type).values()]
      .filter((o) => opts.namespace === undefined || o.metadata.namespace === opts.namespace)
      .filter((o) => labelTest(o.metadata.labels ?? {}) && fieldTest(o))
      .sort((a, b) =>
        objKey(a.metadata.namespace, a.metadata.name).localeCompare(objKey(b.metadata.namespace, b.metadata.name)),
      );
    this.requests += Math.max(1, Math.ceil(found.length / (opts.limit ?? 500)));
    this.checkFaults(call, type);
    if (found.length) for (const h of this.readHooks) h(type, found, call);
    // As the real client answers a caller that reads only a projection: strict, so reading more fails here too.
    return found.map((o) =>
      opts.metadataOnly
        ? ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: clone(o.metadata) } as T)
        : opts.projection
          ? project(clone(o) as T, opts.projection, type.kind)
          : (clone(o) as T),
    );
  }

  async listVersioned<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<VersionedList<T>> {
    const items = await this.list<T>(type, opts);
    return { items, resourceVersion: String(this.rv) };
  }

  watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchStream {
    let live: LiveWatch | undefined;
    let stopped = false;
    let settle: ((error?: Error) => void) | undefined;
    const done = (async () => {
      const call = await this.begin(
        {
          verb: 'watch',
          resource: type.plural,
          namespace: opts.namespace,
          watch: { ...opts },
          dryRun: false,
        },
        type,
      );
      this.requests++;
      this.checkFaults(call, type);
      const from = Number(opts.resourceVersion);
      if (!Number.isFinite(from) || opts.resourceVersion === '')
        this.unexpectedCall(call, `watch from resourceVersion "${opts.resourceVersion}" is not simulated`);
      const labelTest = opts.labelSelector ? this.labelSelector(opts.labelSelector, call) : () => true;
      const fieldTest = opts.fieldSelector ? this.fieldSelector(opts.fieldSelector, call) : () => true;
      const wanted = (o: KubeObject) =>
        (opts.namespace === undefined || o.metadata.namespace === opts.namespace) &&
        labelTest(o.metadata.labels ?? {}) &&
        fieldTest(o);
      // A metadata-only watch (PartialObjectMetadata) carries each object's metadata only, as the API server sends.
      const shaped = (e: WatchEvent): WatchEvent<T> =>
        (opts.metadataOnly && e.type !== 'BOOKMARK' && e.type !== 'ERROR'
          ? {
              type: e.type,
              object: {
                apiVersion: 'meta.k8s.io/v1',
                kind: 'PartialObjectMetadata',
                metadata: clone(e.object.metadata),
              },
            }
          : e.type === 'BOOKMARK' || e.type === 'ERROR'
            ? clone(e)
            : {
                type: e.type,
                object: opts.projection ? project(clone(e.object), opts.projection, type.kind) : clone(e.object),
              }) as WatchEvent<T>;
      const gone = from < this.compactedRv;
      if (gone && this.goneAs === 'http')
        throw new KubeApiError(410, 'Expired', 'too old resource version', 'watch', type.plural, opts.namespace);
      await new Promise<void>((resolve, reject) => {
        let flushing = false;
        const w: LiveWatch = {
          plural: type.plural,
          opts,
          call,
          queue: [],
          deliver: (events) => {
            for (const e of events)
              if (e.type === 'BOOKMARK' || e.type === 'ERROR' || wanted(e.object)) w.queue.push(e);
            if (flushing) return;
            flushing = true;
            queueMicrotask(() => {
              flushing = false;
              if (!this.live.has(w)) return;
              for (const e of w.queue.splice(0)) onEvent(shaped(e));
            });
          },
          end: (error) => {
            if (!this.live.delete(w)) return;
            // Events already queued reach the client before the stream ends, as bytes in flight would.
            queueMicrotask(() => {
              const batch = w.queue.splice(0);
              if (!stopped) for (const e of batch) onEvent(shaped(e));
              if (error && !stopped) reject(error);
              else resolve();
            });
          },
        };
        live = w;
        settle = (error) => {
          w.end(error);
        };
        this.live.add(w);
        if (stopped) {
          w.end();
          return;
        }
        if (gone) {
          w.deliver([
            {
              type: 'ERROR',
              object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } as never,
            },
          ]);
          w.end();
          return;
        }
        const missed = (this.history.get(type.plural) ?? []).filter((h) => h.rv > from);
        w.deliver(missed.map((h) => ({ type: h.type, object: h.object })));
      });
    })();
    return {
      done,
      stop: () => {
        stopped = true;
        if (live) settle?.();
      },
    };
  }

  async create<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    const call = await this.begin(
      {
        verb: 'create',
        resource: type.plural,
        namespace,
        name: body.metadata?.name,
        body: clone(body),
        dryRun: opts.dryRun === true,
      },
      type,
    );
    this.requests++;
    this.checkFaults(call, type);
    const key = objKey(namespace, body.metadata.name);
    if (this.bucket(type).has(key))
      throw new KubeApiError(
        409,
        'AlreadyExists',
        `${type.plural} "${body.metadata.name}" already exists`,
        'create',
        type.plural,
        namespace,
      );
    const next = clone(body);
    next.metadata = {
      ...next.metadata,
      ...(namespace !== undefined ? { namespace } : {}),
      uid: `uid-${++this.uid}`,
      creationTimestamp: this.now().toISOString(),
    };
    if (next.spec !== undefined) next.metadata.generation = 1;
    return this.commit(type, key, null, next, call) as T;
  }

  async update<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    const call = await this.begin(
      {
        verb: 'update',
        resource: type.plural,
        namespace,
        name: body.metadata?.name,
        body: clone(body),
        dryRun: opts.dryRun === true,
      },
      type,
    );
    this.requests++;
    this.checkFaults(call, type);
    const key = objKey(namespace, body.metadata.name);
    const cur = this.bucket(type).get(key);
    if (!cur)
      throw new KubeApiError(
        404,
        'NotFound',
        `${type.plural} "${body.metadata.name}" not found`,
        'update',
        type.plural,
        namespace,
      );
    if (body.metadata.resourceVersion !== undefined && body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
      throw new KubeApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${type.plural} "${body.metadata.name}": the object has been modified`,
        'update',
        type.plural,
        namespace,
      );
    }
    const next = clone(body);
    next.metadata = {
      ...next.metadata,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
      ...(cur.metadata.generation !== undefined ? { generation: cur.metadata.generation } : {}),
    };
    return this.commit(type, key, cur, next, call) as T;
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts: WriteOptions = {},
  ): Promise<T> {
    const call = await this.begin(
      {
        verb: 'patch',
        resource: type.plural,
        namespace,
        name,
        body: clone(patch),
        patchType,
        dryRun: opts.dryRun === true,
      },
      type,
    );
    this.requests++;
    this.checkFaults(call, type);
    const key = objKey(namespace, name);
    const cur = this.bucket(type).get(key);
    if (!cur)
      throw new KubeApiError(404, 'NotFound', `${type.plural} "${name}" not found`, 'patch', type.plural, namespace);
    let next: KubeObject;
    if (patchType === 'json') next = this.jsonPatch(cur, patch, call);
    else {
      // A strategic-merge patch equals a JSON merge patch as long as it holds no lists and no $-directives.
      if (patchType === 'strategic') this.assertMapsOnly(patch, call);
      next = mergePatch(cur, patch) as KubeObject;
    }
    next.metadata = {
      ...next.metadata,
      name,
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
    };
    const out = this.commit(type, key, cur, next, call);
    // As the real client answers a caller that reads only a projection: strict, so reading more fails here too.
    return (opts.projection ? project(out, opts.projection, type.kind) : out) as T;
  }

  // --- internals -------------------------------------------------------------------------------------------

  private bucket(type: ResourceType): Map<string, KubeObject> {
    let b = this.store.get(type.plural);
    if (!b) this.store.set(type.plural, (b = new Map()));
    return b;
  }

  /** Keeps a change for watches from older resourceVersions and sends it to the live ones. */
  private record(type: ResourceType, event: WatchEventType, o: KubeObject): void {
    const entry: HistoryEntry = { rv: Number(o.metadata.resourceVersion), type: event, object: clone(o) };
    let h = this.history.get(type.plural);
    if (!h) this.history.set(type.plural, (h = []));
    h.push(entry);
    for (const w of this.live) if (w.plural === type.plural) w.deliver([{ type: event, object: entry.object }]);
  }

  private unexpectedCall(call: FakeCall | string, why: string): never {
    const what =
      typeof call === 'string'
        ? call
        : `${call.verb} ${call.resource}${call.namespace !== undefined ? ` -n ${call.namespace}` : ''}${call.name ? ` ${call.name}` : ''}`;
    this.unexpected.push(`${what}: ${why}`);
    throw new UnexpectedCallError(`FakeKube: unexpected call ${what}: ${why}`);
  }

  private async begin(partial: Omit<FakeCall, 'seq'>, type: ResourceType): Promise<FakeCall> {
    const call: FakeCall = { seq: this.calls.length, ...partial };
    this.calls.push(call);
    const served = this.types.get(type.plural);
    if (!served || served.group !== type.group || served.version !== type.version)
      this.unexpectedCall(
        call,
        `resource ${type.group || 'core'}/${type.version}/${type.plural} is not served by this fake`,
      );
    if (this.allow && !this.allow.has(`${call.verb} ${call.resource}`))
      this.unexpectedCall(call, `"${call.verb} ${call.resource}" is not in allow`);
    for (const h of this.beforeHooks) await h(call);
    return call;
  }

  private checkFaults(call: FakeCall, type: ResourceType): void {
    const f = this.faults.find((x) => x.times > 0 && matches(call, x.match));
    if (!f) return;
    f.times--;
    const e = f.error();
    if (e instanceof KubeApiError) {
      // Name the request as HttpKubeClient would.
      throw new KubeApiError(e.status, e.reason, e.apiMessage, call.verb, type.plural, call.namespace);
    }
    throw e;
  }

  private commit(
    type: ResourceType,
    key: string,
    cur: KubeObject | null,
    next: KubeObject,
    call: FakeCall,
  ): KubeObject {
    if (cur && next.spec !== undefined && !isDeepStrictEqual(cur.spec, next.spec))
      next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    next.metadata.resourceVersion = String(this.rv + 1);
    if (call.dryRun) return clone(next);
    this.rv++;
    this.bucket(type).set(key, next);
    for (const h of this.writeHooks) h(type, next, cur ? clone(cur) : null, call);
    const stored = this.bucket(type).get(key);
    if (stored) this.record(type, cur ? 'MODIFIED' : 'ADDED', stored);
    return clone(stored ?? next);
  }

  private assertMapsOnly(patch: unknown, call: FakeCall, path = ''): void {
    if (Array.isArray(patch))
      this.unexpectedCall(call, `strategic-merge patch with a list at ${path || '/'} (list merging is not simulated)`);
    if (patch && typeof patch === 'object') {
      for (const [k, v] of Object.entries(patch)) {
        if (k.startsWith('$')) this.unexpectedCall(call, `strategic-merge directive ${k} is not simulated`);
        this.assertMapsOnly(v, call, `${path}/${k}`);
      }
    }
  }

  private jsonPatch(cur: KubeObject, patch: unknown, call: FakeCall): KubeObject {
    if (!Array.isArray(patch)) this.unexpectedCall(call, 'a JSON patch must be a list of operations');
    const doc = clone(cur) as unknown as Record<string, unknown>;
    for (const op of patch as { op: string; path: string; value?: unknown }[]) {
      const parts = op.path
        .split('/')
        .slice(1)
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      const last = parts.pop();
      if (last === undefined) this.unexpectedCall(call, `JSON patch path ${op.path}`);
      let parent: Record<string, unknown> = doc;
      for (const p of parts) {
        if (parent[p] === undefined || parent[p] === null || typeof parent[p] !== 'object') {
          throw new KubeApiError(
            422,
            'Invalid',
            `path ${op.path} does not exist`,
            'patch',
            call.resource,
            call.namespace,
          );
        }
        parent = parent[p] as Record<string, unknown>;
      }
      if (Array.isArray(parent)) this.unexpectedCall(call, `JSON patch into a list (${op.path}) is not simulated`);
      switch (op.op) {
        case 'add':
        case 'replace':
          if (op.op === 'replace' && !(last in parent))
            throw new KubeApiError(
              422,
              'Invalid',
              `path ${op.path} does not exist`,
              'patch',
              call.resource,
              call.namespace,
            );
          parent[last] = clone(op.value);
          break;
        case 'remove':
          if (!(last in parent))
            throw new KubeApiError(
              422,
              'Invalid',
              `path ${op.path} does not exist`,
              'patch',
              call.resource,
              call.namespace,
            );
          delete parent[last];
          break;
        case 'test':
          if (!isDeepStrictEqual(parent[last], op.value))
            throw new KubeApiError(422, 'Invalid', `test failed at ${op.path}`, 'patch', call.resource, call.namespace);
          break;
        default:
          this.unexpectedCall(call, `JSON patch op ${op.op} is not simulated`);
      }
    }
    return doc as unknown as KubeObject;
  }

  private labelSelector(sel: string, call: FakeCall): (labels: Record<string, string>) => boolean {
    const tests = sel.split(',').map((term) => {
      const t = term.trim();
      let m: RegExpMatchArray | null;
      if ((m = t.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/))) {
        const [, k, op, v] = m;
        return (l: Record<string, string>) => (op === '!=' ? l[k] !== v : l[k] === v);
      }
      if ((m = t.match(/^!([\w./-]+)$/))) return (l: Record<string, string>) => !(m![1] in l);
      if ((m = t.match(/^([\w./-]+)$/))) return (l: Record<string, string>) => m![1] in l;
      return this.unexpectedCall(call, `label selector term "${t}" is not simulated`);
    });
    return (labels) => tests.every((f) => f(labels));
  }

  private fieldSelector(sel: string, call: FakeCall): (o: KubeObject) => boolean {
    const tests = sel.split(',').map((term) => {
      const m = term.trim().match(/^metadata\.(name|namespace)\s*(==|=|!=)\s*(.*)$/);
      if (!m) return this.unexpectedCall(call, `field selector "${term}" is not simulated`);
      const [, field, op, v] = m;
      return (o: KubeObject) => (op === '!=' ? o.metadata[field as 'name'] !== v : o.metadata[field as 'name'] === v);
    });
    return (o) => tests.every((f) => f(o));
  }
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? clone(target as Record<string, unknown>)
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// --- builders --------------------------------------------------------------------------------------------------

export type SidecarMark = 'annotation' | 'container' | 'native' | false;

export interface WorkloadSpecOptions {
  replicas?: number;
  labels?: Record<string, string>;
  /** How the pod template carries the sidecar: injected annotation only (as after webhook injection the pods
   * carry it, not the template: see `pods`), an istio-proxy container, an istio-proxy init container, or none. */
  templateSidecar?: SidecarMark;
  templateLabels?: Record<string, string>;
  templateAnnotations?: Record<string, string>;
  /** StatefulSet/DaemonSet updateStrategy.type (default RollingUpdate). */
  updateStrategy?: 'RollingUpdate' | 'OnDelete';
  paused?: boolean;
}

const STATUS_ANNOTATION = 'sidecar.istio.io/status';
const INJECTED = '{"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"default"}';

function template(name: string, o: WorkloadSpecOptions) {
  const labels = { app: name, ...o.templateLabels };
  const annotations = {
    ...(o.templateSidecar === 'annotation' ? { [STATUS_ANNOTATION]: INJECTED } : {}),
    ...o.templateAnnotations,
  };
  const containers = [
    { name, image: 'example/app:1' },
    ...(o.templateSidecar === 'container' ? [{ name: 'istio-proxy', image: 'istio/proxyv2:1.28.0' }] : []),
  ];
  const initContainers =
    o.templateSidecar === 'native'
      ? [{ name: 'istio-proxy', image: 'istio/proxyv2:1.28.0', restartPolicy: 'Always' }]
      : undefined;
  return {
    metadata: { labels, ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: { containers, ...(initContainers ? { initContainers } : {}) },
  };
}

/** A Deployment that has fully rolled out (status matches spec). */
export function deployment(namespace: string, name: string, o: WorkloadSpecOptions = {}): Workload {
  const replicas = o.replicas ?? 1;
  const w: Workload = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, ...o.labels }, generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: template(name, o),
      ...(o.paused ? { paused: true } : {}),
    } as Workload['spec'],
  };
  return settled('Deployment', w);
}

export function statefulSet(namespace: string, name: string, o: WorkloadSpecOptions = {}): Workload {
  const w: Workload = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace, labels: { app: name, ...o.labels }, generation: 1 },
    spec: {
      replicas: o.replicas ?? 1,
      selector: { matchLabels: { app: name } },
      serviceName: name,
      template: template(name, o),
      updateStrategy: {
        type: o.updateStrategy ?? 'RollingUpdate',
        ...(o.updateStrategy === 'OnDelete' ? {} : { rollingUpdate: { partition: 0 } }),
      },
    } as Workload['spec'],
  };
  return settled('StatefulSet', w);
}

/** A DaemonSet on `replicas` nodes. */
export function daemonSet(namespace: string, name: string, o: WorkloadSpecOptions = {}): Workload {
  const w: Workload = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace, labels: { app: name, ...o.labels }, generation: 1 },
    spec: {
      selector: { matchLabels: { app: name } },
      template: template(name, o),
      updateStrategy: { type: o.updateStrategy ?? 'RollingUpdate' },
    } as Workload['spec'],
    status: { desiredNumberScheduled: o.replicas ?? 1 },
  };
  return settled('DaemonSet', w);
}

/** A short stable hash of a pod template, as the controllers name revisions. */
export function templateHash(w: Workload): string {
  const h = createHash('sha256')
    .update(JSON.stringify(w.spec?.template ?? {}))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(h.subarray(0, 10), (b) => alphabet[b % alphabet.length]).join('');
}

/** The status of a workload whose current generation has fully rolled out. */
export function settled(kind: string, w: Workload): Workload {
  const gen = w.metadata.generation ?? 1;
  const spec = (w.spec ?? {}) as { replicas?: number };
  const replicas = spec.replicas ?? 1;
  const rev = `${w.metadata.name}-${templateHash(w)}`;
  if (kind === 'Deployment') {
    w.status = {
      observedGeneration: gen,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: [
        { type: 'Available', status: 'True' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    };
  } else if (kind === 'StatefulSet') {
    w.status = {
      observedGeneration: gen,
      replicas,
      readyReplicas: replicas,
      updatedReplicas: replicas,
      currentRevision: rev,
      updateRevision: rev,
    };
  } else {
    const desired = w.status?.desiredNumberScheduled ?? 1;
    w.status = {
      observedGeneration: gen,
      desiredNumberScheduled: desired,
      updatedNumberScheduled: desired,
      numberAvailable: desired,
    };
  }
  return w;
}

export interface PodOptions {
  /** How the pods show their sidecar (default: as the template does; 'annotation' when the template is injected
   * by the webhook is modelled by passing it here). */
  sidecar?: SidecarMark;
  /** How many pods (default: spec.replicas, or desiredNumberScheduled for a DaemonSet). */
  count?: number;
}

/** The pods a workload's controller would have created from its current template, with owner references. */
export function podsOf(w: Workload, o: PodOptions = {}): Pod[] {
  const kind = w.kind ?? 'Deployment';
  const ns = w.metadata.namespace!;
  const count =
    o.count ??
    (kind === 'DaemonSet'
      ? (w.status?.desiredNumberScheduled ?? 1)
      : ((w.spec as { replicas?: number })?.replicas ?? 1));
  const hash = templateHash(w);
  const t = w.spec?.template ?? {};
  const mark =
    o.sidecar ??
    (t.metadata?.annotations?.[STATUS_ANNOTATION]
      ? 'annotation'
      : (t.spec?.containers ?? []).some((c) => c.name === 'istio-proxy')
        ? 'container'
        : false);
  return Array.from({ length: count }, (_, i) => {
    const name =
      kind === 'StatefulSet'
        ? `${w.metadata.name}-${i}`
        : kind === 'DaemonSet'
          ? `${w.metadata.name}-${hash.slice(0, 5)}${i}`
          : `${w.metadata.name}-${hash}-${hash.slice(5)}${i}`;
    const owner =
      kind === 'Deployment'
        ? { kind: 'ReplicaSet', name: `${w.metadata.name}-${hash}`, controller: true }
        : { kind, name: w.metadata.name, controller: true };
    const annotations = {
      ...(t.metadata?.annotations ?? {}),
      ...(mark === 'annotation' ? { [STATUS_ANNOTATION]: INJECTED } : {}),
    };
    if (mark !== 'annotation') delete annotations[STATUS_ANNOTATION];
    const containers = [
      ...(t.spec?.containers ?? []).filter((c) => c.name !== 'istio-proxy'),
      ...(mark === 'container' || mark === 'annotation' ? [{ name: 'istio-proxy' }] : []),
    ];
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        labels: {
          ...(t.metadata?.labels ?? {}),
          ...(kind === 'Deployment'
            ? { 'pod-template-hash': hash }
            : kind === 'StatefulSet'
              ? { 'controller-revision-hash': `${w.metadata.name}-${hash}` }
              : {}),
        },
        ...(Object.keys(annotations).length ? { annotations } : {}),
        ownerReferences: [owner],
      },
      spec: { containers, ...(mark === 'native' ? { initContainers: [{ name: 'istio-proxy' }] } : {}) },
      status: { phase: 'Running' },
    };
    return pod;
  });
}

// --- rollouts --------------------------------------------------------------------------------------------------

export type RolloutOutcome = 'complete' | 'progress-deadline' | 'stuck';

export interface RolloutSimulationOptions {
  /** The clock whose time drives the controllers (required: rollouts progress as time passes, not on reads). */
  clock: FakeClock;
  /** Steps of `stepMs` after a template change until the rollout converges. Default 2. */
  stepsToComplete?: number;
  /** Length of a step (default 500 ms). */
  stepMs?: number;
  /** How a workload's rollout ends (default 'complete'); 'stuck' never converges. */
  outcome?: (w: Workload) => RolloutOutcome;
  /** Replace the workload's pods with pods of the new template when it completes (default true). */
  replacePods?: boolean;
}

const WORKLOAD_PLURALS = new Set(['deployments', 'statefulsets', 'daemonsets']);
const TYPE_OF: Record<string, ResourceType> = {
  Deployment: Resources.deployments,
  StatefulSet: Resources.statefulsets,
  DaemonSet: Resources.daemonsets,
};

/**
 * Makes Deployments, StatefulSets and DaemonSets roll out in the fake as controllers would, as time passes: a persisted
 * write that changes spec.template starts a rollout (status stays at the old generation); `stepsToComplete` steps of
 * the clock later the controller writes the converged status (or ProgressDeadlineExceeded) with setStatus, so watches
 * see it, and the old pods are replaced by new ones. Records events and the most rollouts in progress at once.
 */
export class RolloutSimulator {
  /** 'start <kind>/<ns>/<name>' and 'complete ...' / 'deadline ...', in order. */
  readonly events: string[] = [];
  readonly inProgress = new Set<string>();
  maxInProgress = 0;
  private readonly startedAt = new Map<string, { at: number; kind: string; namespace: string; name: string }>();

  constructor(
    private readonly kube: FakeKube,
    private readonly opts: RolloutSimulationOptions,
  ) {
    kube.onWrite((type, stored, before) => {
      if (!WORKLOAD_PLURALS.has(type.plural) || !before) return;
      const w = stored as Workload;
      if (isDeepStrictEqual((before as Workload).spec?.template, w.spec?.template)) return;
      const id = `${w.kind}/${w.metadata.namespace}/${w.metadata.name}`;
      this.startedAt.set(id, {
        at: opts.clock.now().getTime(),
        kind: w.kind!,
        namespace: w.metadata.namespace!,
        name: w.metadata.name,
      });
      this.inProgress.add(id);
      this.maxInProgress = Math.max(this.maxInProgress, this.inProgress.size);
      this.events.push(`start ${id}`);
      if (w.kind === 'StatefulSet' && w.status) w.status.updateRevision = `${w.metadata.name}-${templateHash(w)}`;
    });
    opts.clock.onAdvance((now) => {
      this.step(now);
    });
  }

  private step(now: number): void {
    const due = (this.opts.stepsToComplete ?? 2) * (this.opts.stepMs ?? 500);
    for (const [id, r] of [...this.startedAt]) {
      if (now - r.at < due) continue;
      const type = TYPE_OF[r.kind];
      const w = this.kube.object<Workload>(type, r.namespace, r.name);
      if (!w) {
        this.startedAt.delete(id);
        this.inProgress.delete(id);
        continue;
      }
      const outcome = this.opts.outcome?.(w) ?? 'complete';
      if (outcome === 'stuck') continue;
      this.startedAt.delete(id);
      this.inProgress.delete(id);
      if (outcome === 'progress-deadline') {
        this.kube.setStatus(type, r.namespace, r.name, (o) => {
          const x = o as Workload;
          const replicas = (x.spec as { replicas?: number }).replicas ?? 1;
          x.status = {
            ...x.status,
            observedGeneration: x.metadata.generation,
            replicas: replicas + 1,
            updatedReplicas: 1,
            availableReplicas: replicas,
            conditions: [
              {
                type: 'Progressing',
                status: 'False',
                reason: 'ProgressDeadlineExceeded',
                message: `ReplicaSet "${x.metadata.name}-${templateHash(x)}" has timed out progressing.`,
              },
            ],
          };
        });
        this.events.push(`deadline ${id}`);
        continue;
      }
      this.kube.setStatus(type, r.namespace, r.name, (o) => settled(r.kind, o));
      this.events.push(`complete ${id}`);
      if (this.opts.replacePods ?? true) this.replacePods(this.kube.object<Workload>(type, r.namespace, r.name)!);
    }
  }

  private replacePods(w: Workload): void {
    const ns = w.metadata.namespace!;
    const old = this.kube.objects<Pod>(Resources.pods, ns).filter((p) => {
      const ref = p.metadata.ownerReferences?.[0];
      if (!ref) return false;
      if (w.kind === 'Deployment')
        return (
          ref.kind === 'ReplicaSet' && ref.name === `${w.metadata.name}-${p.metadata.labels?.['pod-template-hash']}`
        );
      return ref.kind === w.kind && ref.name === w.metadata.name;
    });
    const sidecar: SidecarMark = old.some((p) => p.metadata.annotations?.[STATUS_ANNOTATION])
      ? 'annotation'
      : old.some((p) => p.spec?.containers?.some((c) => c.name === 'istio-proxy'))
        ? 'container'
        : false;
    for (const p of old) this.kube.remove(Resources.pods, ns, p.metadata.name);
    this.kube.seed(Resources.pods, ...podsOf(w, { sidecar }));
  }
}

// --- time ------------------------------------------------------------------------------------------------------

/** A clock that stands still until sleep() moves it: waits take no real time and durations are exact. */
export class FakeClock {
  private t: number;
  private readonly listeners: ((now: number) => void)[] = [];
  constructor(start: Date | string = '2026-11-28T10:00:00Z') {
    this.t = new Date(start).getTime();
  }
  now = (): Date => new Date(this.t);
  /** Called with the new time (epoch ms) whenever the clock moves: controllers act as time passes. */
  onAdvance(fn: (now: number) => void): void {
    this.listeners.push(fn);
  }
  advance(ms: number): void {
    this.t += ms;
    for (const fn of this.listeners) fn(this.t);
  }
  /** Moves time forward by ms, then yields to other tasks. */
  sleep = async (ms: number): Promise<void> => {
    this.advance(ms);
    await new Promise((r) => setImmediate(r));
  };
}

/** The verbs rotate needs to read a cluster's CA state (cacerts, root ConfigMaps, workloads, pods, namespaces). */
export const ROTATE_READS = [
  'get secrets',
  'get configmaps',
  'list deployments',
  'list statefulsets',
  'list daemonsets',
  'list pods',
  'list namespaces',
];
