// A small HTTPS client for the benchmark's own work (populating the cluster, reading /metrics), with the admin
// credentials of the test cluster's kubeconfig. Only 127.0.0.1 is ever contacted.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { parse } from 'yaml';
import { decodeMetadataList } from '../../build/src/kube/protobuf.js';

/** Server, CA and client credentials of the kubeconfig's context (default: current-context). */
export function credentials(kubeconfigPath, contextName) {
  const kc = parse(readFileSync(kubeconfigPath, 'utf8'));
  const ctx = kc.contexts.find((c) => c.name === (contextName ?? kc['current-context'])).context;
  const cluster = kc.clusters.find((c) => c.name === ctx.cluster).cluster;
  const user = kc.users.find((u) => u.name === ctx.user).user;
  const pem = (data, file) => (data ? Buffer.from(data, 'base64') : file ? readFileSync(file) : undefined);
  const server = new URL(cluster.server);
  if (server.hostname !== '127.0.0.1' && server.hostname !== 'localhost')
    throw new Error(`the benchmark only talks to a loopback API server, not ${cluster.server}`);
  return {
    server: cluster.server,
    ca: pem(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: pem(user['client-certificate-data'], user['client-certificate']),
    key: pem(user['client-key-data'], user['client-key']),
    token: user.token,
  };
}

export class Api {
  constructor(creds) {
    this.creds = creds;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64, ca: creds.ca, cert: creds.cert, key: creds.key });
  }

  /** One request; resolves { status, body } (body parsed as JSON when it is JSON). Retries transport errors. */
  async req(method, path, body, headers = {}) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body, headers);
      } catch (e) {
        if (attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  once(method, path, body, headers) {
    const payload =
      body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = { Accept: 'application/json', ...headers };
    if (payload) {
      h['Content-Type'] ??= 'application/json';
      h['Content-Length'] = String(payload.length);
    }
    if (this.creds.token) h.Authorization = `Bearer ${this.creds.token}`;
    return new Promise((resolve, reject) => {
      const r = request(
        new URL(this.creds.server + path),
        { method, agent: this.agent, headers: h, timeout: 120_000 },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const type = res.headers['content-type'] ?? '';
            // Protobuf when asked for (verify's metadata-only pages): decoded as the plugin decodes a page.
            if (type.startsWith('application/vnd.kubernetes.protobuf') && res.statusCode === 200) {
              resolve({ status: res.statusCode, body: decodeMetadataList(Buffer.concat(chunks)) });
              return;
            }
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed = text;
            if ((res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                /* keep text */
              }
            }
            resolve({ status: res.statusCode, body: parsed });
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error(`${method} ${path}: timed out`)));
      r.on('error', reject);
      if (payload) r.write(payload);
      r.end();
    });
  }

  async ok(method, path, body, headers) {
    const r = await this.req(method, path, body, headers);
    if (r.status < 200 || r.status >= 300)
      throw new Error(
        `${method} ${path}: ${r.status} ${typeof r.body === 'object' ? r.body.message : String(r.body).slice(0, 200)}`,
      );
    return r.body;
  }

  /** Every item of a list, paged (500 a page); keep=false parses and drops them. */
  async list(path, query = '', headers = {}, keep = true) {
    const items = [];
    let cont = '';
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.ok(
        'GET',
        `${path}${sep}limit=500${query ? `&${query}` : ''}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
        undefined,
        headers,
      );
      if (keep) items.push(...page.items);
      cont = page.metadata?.continue ?? '';
    } while (cont);
    return items;
  }

  close() {
    this.agent.destroy();
  }
}

/** Runs fn over items, at most `limit` at once. */
export async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Sum of every sample of `metric` whose labels match `labels` (exact values), from Prometheus text format. */
export function sumMetric(text, metric, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    const m = /^[^{ ]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const got = {};
    for (const [, k, v] of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[2]);
  }
  return sum;
}
