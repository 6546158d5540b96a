/** KubeClient over HTTPS with keep-alive, paging and a client-side request rate limit (token bucket). */
import { Agent, request } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { KubeClient, ListOptions, PatchType, WriteOptions } from './client.js';
import { KubeApiError, KubeTransportError } from './errors.js';
import type { Connection } from './kubeconfig.js';
import { resourcePath, type KubeObject, type ResourceType } from './resources.js';

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

export class HttpKubeClient implements KubeClient {
  private readonly agent: Agent | HttpAgent;
  private readonly limiter: RateLimiter;
  private count = 0;
  readonly context: string;

  constructor(
    private readonly conn: Connection,
    rate: RateLimit = { qps: 50, burst: 100 },
  ) {
    this.context = conn.contextName;
    const tls = {
      keepAlive: true,
      maxSockets: 32,
      ca: conn.ca,
      cert: conn.cert,
      key: conn.key,
      rejectUnauthorized: !conn.insecureSkipTlsVerify,
    };
    this.agent = conn.server.startsWith('http://')
      ? new HttpAgent({ keepAlive: true, maxSockets: 32 })
      : new Agent(tls);
    this.limiter = new RateLimiter(rate);
  }

  requestCount(): number {
    return this.count;
  }

  private async send<T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    what: { resource: string; namespace: string | undefined; verb?: string },
  ): Promise<T> {
    await this.limiter.take();
    this.count++;
    const url = new URL(this.conn.server + path);
    const opts: { headers: Record<string, string>; cert?: unknown; key?: unknown; ca?: unknown } = {
      headers: { Accept: 'application/json', ...headers },
    };
    if (this.conn.token) opts.headers.Authorization = `Bearer ${this.conn.token}`;
    if (this.conn.dynamicAuth) await this.conn.dynamicAuth(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) opts.headers['Content-Length'] = String(payload.length);
    const send = url.protocol === 'http:' ? httpRequest : request;
    return new Promise<T>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          agent: this.agent,
          headers: opts.headers,
          timeout: 60_000,
          ...(opts.cert ? { cert: opts.cert as string, key: opts.key as string } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(new KubeTransportError(e.message)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve((text === '' ? {} : JSON.parse(text)) as T);
              } catch {
                reject(new KubeTransportError(`invalid JSON from ${method} ${url.pathname}`));
              }
              return;
            }
            let reason = res.statusMessage ?? '';
            let message = text.slice(0, 300);
            try {
              const s = JSON.parse(text) as { reason?: string; message?: string };
              reason = s.reason ?? reason;
              message = s.message ?? message;
            } catch {
              /* not a Status object */
            }
            reject(
              new KubeApiError(
                status,
                reason,
                message,
                what.verb ?? VERBS[method] ?? method,
                what.resource,
                what.namespace,
              ),
            );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out after 60s')));
      req.on('error', (e) => reject(new KubeTransportError(`${method} ${url.pathname}: ${e.message}`)));
      if (payload) req.write(payload);
      req.end();
    });
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
    const items: T[] = [];
    let cont: string | undefined;
    const headers: Record<string, string> = opts.metadataOnly
      ? { Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json' }
      : {};
    do {
      const q = new URLSearchParams();
      q.set('limit', String(opts.limit ?? 500));
      if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
      if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
      if (cont) q.set('continue', cont);
      const page = await this.send<{ items?: T[]; metadata?: { continue?: string } }>(
        'GET',
        `${resourcePath(type, opts.namespace)}?${q}`,
        undefined,
        headers,
        { resource: type.plural, namespace: opts.namespace, verb: 'list' },
      );
      // managedFields are most of a listed object's metadata (80% of a pod's) and nothing reads them from a list:
      // dropping them page by page keeps a list of thousands of objects small in memory.
      for (const item of page.items ?? []) {
        if (item.metadata) delete item.metadata.managedFields;
        items.push(item);
      }
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
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
      { 'Content-Type': CONTENT_TYPES[patchType] },
      { resource: type.plural, namespace },
    );
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

function dryRun(opts: WriteOptions): string {
  return opts.dryRun ? '?dryRun=All' : '';
}
