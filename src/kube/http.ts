/**
 * KubeClient over HTTPS with keep-alive, paging and a client-side request rate limit (token bucket). Sockets, proxies
 * and the connect timeout are in transport.ts; credentials are applied per request (credentials.ts).
 */
import { continueExpired, DEFAULT_RETRY, parseRetryAfter, withRetries, type RetryPolicy } from './retry.js';
import { request } from 'node:https';
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import type { ListOptions, PatchType, WriteOptions } from './client.js';
import { KubeApiError, KubeTransportError, KubeUnauthorizedError } from './errors.js';
import type { Connection } from './connect.js';
import type { AuthTarget } from './credentials.js';
import { createAgent, transportError } from './transport.js';
import { ManagedFieldsCutter, withoutMembers } from './managed-fields.js';
import { project, projectionCuts, schemaOf, type Projection } from './projection.js';
import {
  decodeProjectedObject,
  decodeStatus,
  MetadataListDecoder,
  projectedListDecoder,
  PROTOBUF,
  WatchFrameDecoder,
} from './protobuf.js';
import { resourcePath, type KubeObject, type ResourceType } from './resources.js';
import {
  WatchLineDecoder,
  watchQuery,
  type VersionedList,
  type WatchClient,
  type WatchEvent,
  type WatchOptions,
  type WatchStream,
} from './watch.js';

export interface RateLimit {
  qps: number;
  burst: number;
}

/** Token bucket: at most `burst` requests at once, refilled at `qps` per second. */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();
  constructor(private readonly limit: RateLimit) {
    this.tokens = limit.burst;
  }
  take(): Promise<void> {
    const next = this.queue.then(async () => {
      for (;;) {
        const now = Date.now();
        this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.qps);
        this.last = now;
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.limit.qps) * 1000)));
      }
    });
    this.queue = next;
    return next;
  }
}

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};
const VERBS: Record<string, string> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** What a request is for, and how its answer is read. */
interface RequestInfo {
  resource: string;
  namespace: string | undefined;
  verb?: string;
  /** Reads a 200 response as a stream (a watch); other answers are handled as for any request. */
  stream?: (res: IncomingMessage) => Promise<void>;
  /** A list: its items' managedFields are cut out before parsing (nothing reads them from a list). */
  list?: boolean;
  /** A 2xx body is returned as text, not parsed as JSON (what a pod answers through pods/proxy). */
  text?: boolean;
  /** Members cut out of a 2xx JSON body before parsing (what a projection drops), as memberKey texts. */
  omit?: readonly Buffer[];
  /**
   * Protobuf was asked for (Accept): a decoder of a 2xx protobuf body, fed its chunks as they arrive. A JSON answer
   * is parsed as usual; an error in protobuf is a Status, read as one.
   */
  protobuf?: () => { push(chunk: Buffer): void; end(): unknown };
  /** Applied to a 2xx JSON answer once parsed (a projection: the protobuf decoder gives the same object). */
  project?: (parsed: unknown) => unknown;
  /** This request's own timeout, instead of --request-timeout. */
  timeoutMs?: number;
}

/** What a response body reads as: the answer (2xx: decoded, parsed or, for what.text, the text), or an error's text. */
type Read = { answer: unknown } | { errorText: string };

/** Why a body cannot be read: said after "with a body that". */
class UnreadableBody extends Error {}

/**
 * A response body, read as it arrives. JSON: a 2xx list page is cut and decoded chunk by chunk, never whole
 * (ManagedFieldsCutter); a 2xx answer of which a projection is read has the rest cut (withoutMembers) first and is
 * projected once parsed. Protobuf (only when asked for): a 2xx body goes through the caller's decoder as it arrives;
 * an error is a Status, read as the JSON text the error path parses. read() throws UnreadableBody.
 */
function bodyReader(
  ok: boolean,
  proto: boolean,
  what: RequestInfo,
): { push: (chunk: Buffer) => void; read: () => Read } {
  if (proto) {
    const decoder = ok ? what.protobuf?.() : undefined;
    const raw: Buffer[] = [];
    let broken: Error | undefined;
    return {
      push: (chunk) => {
        if (!decoder) raw.push(chunk);
        else if (!broken)
          try {
            decoder.push(chunk);
          } catch (e) {
            broken = e as Error;
          }
      },
      read: () => {
        try {
          if (broken) throw broken;
          return decoder ? { answer: decoder.end() } : { errorText: JSON.stringify(decodeStatus(Buffer.concat(raw))) };
        } catch (e) {
          throw new UnreadableBody(`is protobuf that does not decode (${(e as Error).message})`);
        }
      },
    };
  }
  let text: () => string;
  let push: (chunk: Buffer) => void;
  if (ok && what.list) {
    const cutter = new ManagedFieldsCutter();
    push = (chunk) => {
      cutter.push(chunk);
    };
    text = () => cutter.text();
  } else {
    const chunks: Buffer[] = [];
    const omit = ok ? what.omit : undefined;
    push = (chunk) => {
      chunks.push(chunk);
    };
    text = () => {
      const body = Buffer.concat(chunks);
      return (omit ? withoutMembers(body, omit) : body).toString('utf8');
    };
  }
  return {
    push,
    read: () => {
      const t = text();
      if (!ok) return { errorText: t };
      if (what.text) return { answer: t };
      let parsed: unknown;
      try {
        parsed = t === '' ? {} : JSON.parse(t);
      } catch {
        throw new UnreadableBody('is not JSON');
      }
      return { answer: what.project ? what.project(parsed) : parsed };
    },
  };
}

/** Something other than an API server answered (a web server, a load balancer, a proxy). */
function notApiServerError(conn: Connection, request: string, res: IncomingMessage, why: string): KubeTransportError {
  return new KubeTransportError(
    (
      `the server at ${conn.server} (${conn.source}) is not a Kubernetes API server: ${request} ` +
      `got HTTP ${res.statusCode ?? 0} ${res.statusMessage ?? ''}${why}`
    ).trimEnd(),
    'check the server URL (and any path prefix or proxy in front of it)',
  );
}

export class HttpKubeClient implements WatchClient {
  private readonly agent: Agent;
  private readonly limiter: RateLimiter;
  private count = 0;
  private protoCount = 0;
  readonly context: string;

  /**
   * @param opts.protobuf false: JSON only, never protobuf (the differential tests compare the two encodings).
   */
  constructor(
    private readonly conn: Connection,
    rate: RateLimit = { qps: 50, burst: 100 },
    private readonly opts: { protobuf?: boolean } = {},
  ) {
    this.context = conn.contextName;
    this.agent = createAgent(conn);
    this.limiter = new RateLimiter(rate);
  }

  requestCount(): number {
    return this.count;
  }

  /** Answers read from protobuf so far (lists, watches, patches; the differential tests check it is used). */
  protobufAnswers(): number {
    return this.protoCount;
  }

  /** Whether to ask for protobuf: a projection with a schema for the type (projection.ts), unless turned off. */
  private protobuf(projection: Projection | undefined, type: ResourceType): projection is Projection {
    return this.opts.protobuf !== false && projection !== undefined && schemaOf(projection, type.kind) !== undefined;
  }

  /** Retries of failed requests (kube/retry.ts); tests may shorten the waits. */
  retry: RetryPolicy = DEFAULT_RETRY;

  private send<T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    what: Parameters<HttpKubeClient['sendOnce']>[4],
  ): Promise<T> {
    const once = () => this.sendOnce<T>(method, path, body, headers, what);
    return what.stream ? once() : withRetries(method, once, this.retry);
  }

  private async sendOnce<T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    what: RequestInfo,
  ): Promise<T> {
    await this.limiter.take();
    this.count++;
    const conn = this.conn;
    const start = Date.now();
    const url = new URL(conn.server + path);
    const auth: AuthTarget = { headers: { Accept: 'application/json', ...headers } };
    if (conn.credentials) await conn.credentials.apply(auth);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) auth.headers['Content-Length'] = String(payload.length);
    const plain = url.protocol === 'http:';
    const send = plain ? httpRequest : request;
    // A plain-HTTP server behind a proxy gets the absolute URL (Go's http.Transport does the same); HTTPS tunnels.
    const target = plain && conn.proxy ? conn.proxy : url;
    const timeoutMs = what.timeoutMs ?? conn.requestTimeoutMs;
    const timedOut = () =>
      new KubeTransportError(
        `no answer from the API server ${conn.server} (${conn.source}) to ${method} ${url.pathname} within ` +
          `${((Date.now() - start) / 1000).toFixed(1)} s (--request-timeout)`,
        'the server or the network is slow or silent: check the server address, or give a longer --request-timeout',
      );
    if (timeoutMs && Date.now() - start >= timeoutMs) throw timedOut();
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const req = send(
        target,
        {
          method,
          agent: plain && conn.proxy ? undefined : this.agent,
          headers: plain && conn.proxy ? { ...auth.headers, Host: url.host } : auth.headers,
          ...(plain && conn.proxy ? { path: url.href } : {}),
          ...(auth.cert ? { cert: auth.cert, key: auth.key } : {}),
        },
        (res) => {
          if (what.stream && res.statusCode === 200) {
            clearTimeout(timer);
            what.stream(res).then(() => {
              resolve(undefined as T);
            }, reject);
            return;
          }
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          // Protobuf only when asked for (what.protobuf); an error is then a Status in protobuf too.
          const proto = what.protobuf !== undefined && (res.headers['content-type'] ?? '').startsWith(PROTOBUF);
          if (proto) this.protoCount++;
          const body = bodyReader(ok, proto, what);
          res.on('data', body.push);
          res.on('error', (e) => {
            reject(transportError(e, conn, url));
          });
          res.on('end', () => {
            clearTimeout(timer);
            const notApiServer = (why: string) => notApiServerError(conn, `${method} ${url.pathname}`, res, why);
            let read: Read;
            try {
              read = body.read();
            } catch (e) {
              reject(notApiServer(` with a body that ${(e as Error).message}`));
              return;
            }
            if ('answer' in read) {
              resolve(read.answer as T);
              return;
            }
            const text = read.errorText;
            let reason = res.statusMessage ?? '';
            let message = text.slice(0, 300);
            let isStatus = false;
            try {
              const s = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
              isStatus = s?.kind === 'Status';
              reason = s.reason ?? reason;
              message = s.message ?? message;
            } catch {
              /* not a Status object */
            }
            if (status === 401) {
              conn.credentials?.rejected();
              reject(
                new KubeUnauthorizedError(
                  `unauthorized: the API server ${conn.server} rejected the credentials of ${conn.source} ` +
                    `(HTTP 401, ${conn.credentials?.kind ?? 'no credentials'})`,
                  'refresh your credentials or log in again (kubectl get ns fails the same way)',
                ),
              );
              return;
            }
            // Everything the API server itself refuses comes as a Status object; an HTML page or a bare 502 is
            // something else answering (a web server, a load balancer, a proxy).
            const html = /text\/html/i.test(res.headers['content-type'] ?? '');
            // Through pods/proxy the answer is the pod's, or the API server's plain-text "error trying to reach".
            if (!isStatus && what.text) {
              reject(new KubeApiError(status, reason, message.trim(), 'get', what.resource, what.namespace));
              return;
            }
            if (!isStatus && (status !== 404 || html)) {
              reject(notApiServer(''));
              return;
            }
            reject(
              new KubeApiError(
                status,
                reason,
                message,
                what.verb ?? VERBS[method] ?? method,
                what.resource,
                what.namespace,
                parseRetryAfter(res.headers['retry-after']),
              ),
            );
          });
        },
      );
      if (timeoutMs) timer = setTimeout(() => req.destroy(timedOut()), Math.max(0, timeoutMs - (Date.now() - start)));
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e instanceof KubeTransportError ? e : transportError(e, conn, url));
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  /**
   * GET through the API server's proxy to a pod's port (`pods/proxy`, RBAC get on pods/proxy): the pod's answer as
   * text. Not retried: a pod the API server cannot reach answers 503 only after its dial timeout.
   */
  proxyGet(namespace: string, pod: string, port: number, path: string, timeoutMs: number): Promise<string> {
    const p =
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}` +
      `/proxy/${path.replace(/^\//, '')}`;
    return this.sendOnce<string>(
      'GET',
      p,
      undefined,
      { Accept: '*/*' },
      {
        resource: 'pods/proxy',
        namespace,
        verb: 'get',
        text: true,
        timeoutMs,
      },
    );
  }

  async get<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | null> {
    try {
      return await this.send<T>(
        'GET',
        resourcePath(type, namespace, name),
        undefined,
        {},
        { resource: type.plural, namespace },
      );
    } catch (e) {
      if (e instanceof KubeApiError && e.notFound) return null;
      throw e;
    }
  }

  async list<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<T[]> {
    return (await this.listVersioned<T>(type, opts)).items;
  }

  async listVersioned<T extends KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<VersionedList<T>> {
    const items: T[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    // Metadata-only pages, and pages of which a projection is read, in protobuf: managedFields (most of the bytes)
    // and what the projection drops are skipped by length, not scanned. JSON from a server that does not offer it.
    const proto = this.opts.protobuf !== false;
    const projection = opts.metadataOnly ? undefined : opts.projection;
    const projectedProto = this.protobuf(projection, type);
    const headers: Record<string, string> = opts.metadataOnly
      ? {
          Accept:
            (proto ? `${PROTOBUF};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,` : '') +
            'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
        }
      : projectedProto
        ? { Accept: `${PROTOBUF},application/json` }
        : {};
    const decoder = opts.metadataOnly
      ? () => new MetadataListDecoder()
      : projectedProto && projection
        ? () => projectedListDecoder(projection, type.kind)
        : undefined;
    type Page = { items?: T[]; metadata?: { continue?: string; resourceVersion?: string } };
    // A page that came as JSON (asked for so, or from a server without protobuf) is projected once parsed.
    const projectPage = projection
      ? (page: unknown): Page => {
          const p = page as Page;
          return { ...p, items: (p.items ?? []).map((o) => project(o, projection, type.kind)) };
        }
      : undefined;
    let restarts = 0;
    let again: boolean;
    do {
      again = false;
      const q = new URLSearchParams();
      q.set('limit', String(opts.limit ?? 500));
      if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
      if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
      if (cont) q.set('continue', cont);
      const what = {
        resource: type.plural,
        namespace: opts.namespace,
        verb: 'list',
        list: true,
        ...(decoder ? { protobuf: decoder } : {}),
        ...(projectPage ? { project: projectPage } : {}),
      };
      const page = await this.send<Page>('GET', `${resourcePath(type, opts.namespace)}?${q}`, undefined, headers, what)
        .then((p): Page | null => p)
        .catch((e: unknown) => {
          if (!cont || !continueExpired(e) || ++restarts > 3) throw e;
          return null;
        });
      if (page === null) {
        // The continue token expired (410): start the list over from a fresh snapshot.
        items.length = 0;
        cont = undefined;
        again = true;
        continue;
      }
      // managedFields were cut out of the page before parsing (managed-fields.ts).
      for (const item of page.items ?? []) items.push(item);
      // Every page of a paged list is served from the first page's snapshot and carries its resourceVersion.
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont || again);
    return { items, resourceVersion };
  }

  /**
   * One watch request, counted and rate-limited like any other; events are decoded line by line as they arrive.
   * --request-timeout bounds only the wait for the response to start: a quiet watch is not a dead one (the server
   * ends it after timeoutSeconds).
   */
  watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchStream {
    let stopped = false;
    let open: IncomingMessage | undefined;
    const done = this.send<undefined>(
      'GET',
      `${resourcePath(type, opts.namespace)}?${watchQuery(opts)}`,
      undefined,
      opts.metadataOnly
        ? { Accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json' }
        : this.protobuf(opts.projection, type)
          ? { Accept: `${PROTOBUF};stream=watch,application/json` }
          : {},
      {
        resource: type.plural,
        namespace: opts.namespace,
        verb: 'watch',
        // Asked for in protobuf, a refused watch (410 Gone: too old a resourceVersion) answers a protobuf Status.
        ...(this.protobuf(opts.projection, type) ? { protobuf: streamedOnly } : {}),
        stream: (res) =>
          new Promise<void>((resolve, reject) => {
            open = res;
            const fail = (e: Error) => {
              if (stopped) resolve();
              else reject(e);
            };
            const broken = (why: string) => new KubeTransportError(`watch ${type.plural}: ${why}`);
            if (stopped) {
              res.destroy();
              resolve();
              return;
            }
            const proto = (res.headers['content-type'] ?? '').startsWith(PROTOBUF);
            if (proto) this.protoCount++;
            const decoder =
              proto && opts.projection
                ? new WatchFrameDecoder(opts.projection)
                : new WatchLineDecoder(opts.projection, type.kind);
            const deliver = (events: WatchEvent[]) => {
              for (const e of events) onEvent(e as WatchEvent<T>);
            };
            res.on('data', (c: Buffer) => {
              try {
                deliver(decoder.push(c));
              } catch (e) {
                res.destroy();
                fail(broken((e as Error).message));
              }
            });
            res.on('end', () => {
              try {
                deliver(decoder.end());
                resolve();
              } catch (e) {
                fail(broken((e as Error).message));
              }
            });
            res.on('error', (e) => {
              fail(broken(e.message));
            });
            res.on('close', () => {
              if (!res.complete) fail(broken('the stream broke off'));
            });
          }),
      },
    );
    return {
      done,
      stop: () => {
        stopped = true;
        open?.destroy();
      },
    };
  }

  create<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.send<T>(
      'POST',
      resourcePath(type, namespace) + dryRun(opts),
      body,
      { 'Content-Type': 'application/json' },
      { resource: type.plural, namespace },
    );
  }

  update<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.send<T>(
      'PUT',
      resourcePath(type, namespace, body.metadata.name) + dryRun(opts),
      body,
      { 'Content-Type': 'application/json' },
      { resource: type.plural, namespace },
    );
  }

  patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.send<T>(
      'PATCH',
      resourcePath(type, namespace, name) + dryRun(opts),
      patch,
      {
        'Content-Type': CONTENT_TYPES[patchType],
        ...(this.protobuf(opts.projection, type) ? { Accept: `${PROTOBUF},application/json` } : {}),
      },
      { resource: type.plural, namespace, ...(opts.projection ? projected(opts.projection, type.kind) : {}) },
    );
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

/** The protobuf "decoder" of a watch: its 200 answer is read as a stream, so only an error (a Status) is read here. */
function streamedOnly(): { push(chunk: Buffer): void; end(): unknown } {
  return {
    push: () => undefined,
    end: () => {
      throw new Error('a watch answer is read as a stream');
    },
  };
}

/** How sendOnce reads an answer of `kind` of which only the projection is read, in protobuf or in JSON. */
function projected(projection: Projection, kind: string) {
  return {
    omit: projectionCuts(projection),
    project: (o: unknown) => project(o as KubeObject, projection, kind),
    protobuf: () => {
      const chunks: Buffer[] = [];
      return {
        push: (c: Buffer) => {
          chunks.push(c);
        },
        end: () => decodeProjectedObject(Buffer.concat(chunks), projection),
      };
    },
  };
}

function dryRun(opts: WriteOptions): string {
  return opts.dryRun ? '?dryRun=All' : '';
}
