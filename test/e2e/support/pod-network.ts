/**
 * A pod network for the API server's own proxying (pods/proxy, services/proxy). kwok's pod IPs lead nowhere; the
 * test cluster's API server sends those requests through HTTP_PROXY=127.0.0.1:POD_NET_PORT (scripts/test-cluster),
 * and this server, listening there, serves a pod's port from a real process on loopback (`route`). Anything not
 * routed is answered 502, as an unreachable pod. One listener per cluster at a time (e2e files run one by one).
 *
 * Seen here: Go writes a proxied plain-HTTP request line with the Host header, and the API server keeps the
 * client's Host, so the request line names the API server, not the pod IP; the pod is known from the
 * X-Forwarded-Uri the API server adds (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/...).
 */
import { createServer, request, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { e2eEnv } from './cluster.js';

export interface PodNetwork {
  /** Serves requests for pod namespace/name's port from 127.0.0.1:target. */
  route(namespace: string, pod: string, port: number, target: number): void;
  /** Requests forwarded, as "METHOD namespace/pod:port/path". */
  forwarded: string[];
  close(): Promise<void>;
}

/** The port the test cluster's API server proxies pod traffic to (its state dir's `ports` file). */
export function podNetworkPort(kubeconfig = e2eEnv().kubeconfig): number {
  const m = /^POD_NET_PORT=(\d+)$/m.exec(readFileSync(join(dirname(kubeconfig), 'ports'), 'utf8'));
  if (!m)
    throw new Error(
      `no POD_NET_PORT in ${dirname(kubeconfig)}/ports: restart the test cluster (scripts/test-cluster up)`,
    );
  return Number(m[1]);
}

export async function startPodNetwork(kubeconfig?: string): Promise<PodNetwork> {
  const routes = new Map<string, number>();
  const forwarded: string[] = [];
  const server: Server = createServer((req, res) => {
    const via = String(req.headers['x-forwarded-uri'] ?? '');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/(?:https?:)?([^/:]+):(\d+)\/proxy(\/[^?]*)?/.exec(via);
    const key = m ? `${m[1]}/${m[2]}:${m[3]}` : '';
    const target = routes.get(key);
    if (!m || target === undefined) {
      res.writeHead(502).end(`no route to ${key || via || req.url}`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://pod');
    forwarded.push(`${req.method} ${key}${url.pathname}`);
    const up = request(
      {
        host: '127.0.0.1',
        port: target,
        method: req.method,
        path: url.pathname + url.search,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', (e) => res.writeHead(502).end(String(e)));
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(podNetworkPort(kubeconfig), '127.0.0.1', resolve);
  });
  return {
    route: (namespace, pod, port, target) => routes.set(`${namespace}/${pod}:${port}`, target),
    forwarded,
    close: () =>
      new Promise<void>((r) =>
        server.close(() => {
          r();
        }),
      ),
  };
}
