/**
 * Proxies as kubectl uses them: a cluster's proxy-url always; otherwise HTTPS_PROXY / HTTP_PROXY with NO_PROXY, as Go's
 * http.ProxyFromEnvironment reads them (upper case first; localhost and loopback addresses are never proxied). HTTPS
 * goes through an HTTP CONNECT tunnel. Node 20 has no proxy support of its own, and client-node's agents read no
 * environment variables, hence this module.
 */
import { request as httpRequest } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { RefusedError } from '../errors.js';

/** Parses a proxy URL as Go does (no scheme means http://); only http:// proxies are supported here. */
export function parseProxyUrl(raw: string, where: string): URL {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new RefusedError(`${where} is not a URL`, 'use http://host:port');
  }
  if (u.protocol !== 'http:')
    throw new RefusedError(
      `${where}: ${u.protocol.replace(/:$/, '')} proxies are not supported by this plugin`,
      'use an http:// proxy (HTTP CONNECT)',
    );
  return u;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!net || isIP(net) !== isIP(ip) || !Number.isInteger(bits)) return false;
  const toBits = (a: string): string =>
    isIP(a) === 4
      ? a
          .split('.')
          .map((o) => Number(o).toString(2).padStart(8, '0'))
          .join('')
      : expand6(a)
          .map((h) => parseInt(h, 16).toString(2).padStart(16, '0'))
          .join('');
  return toBits(ip).slice(0, bits) === toBits(net).slice(0, bits);
}

function expand6(a: string): string[] {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  return tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return expand6(host).every((x, i) => (i === 7 ? parseInt(x, 16) === 1 : parseInt(x, 16) === 0));
  return false;
}

/** Go's NO_PROXY matching (golang.org/x/net/http/httpproxy). */
export function bypassesProxy(host: string, port: string, noProxy: string): boolean {
  host = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (isLoopback(host)) return true;
  for (let entry of noProxy.split(',')) {
    entry = entry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (isIP(host) && ipInCidr(host, entry)) return true;
      continue;
    }
    let eport = '';
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m) [entry, eport] = [m[1].replace(/^\[|\]$/g, ''), m[2]];
    if (isIP(entry)) {
      if (entry === host && (!eport || eport === port)) return true;
      continue;
    }
    if (isIP(host)) continue;
    const exact = !entry.startsWith('.') && !entry.startsWith('*.');
    const suffix = entry.startsWith('*.') ? entry.slice(1) : entry.startsWith('.') ? entry : `.${entry}`;
    if ((host.endsWith(suffix) || (exact && host === entry)) && (!eport || eport === port)) return true;
  }
  return false;
}

/** The proxy for a request to `server`: proxy-url when set, else the environment (undefined: connect directly). */
export function proxyFor(
  server: URL,
  proxyUrl: string | undefined,
  env: NodeJS.ProcessEnv,
  where = 'the cluster\u2019s proxy-url',
): URL | undefined {
  if (proxyUrl) return parseProxyUrl(proxyUrl, where);
  const https = server.protocol === 'https:';
  const name = https ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  const raw = env[name] || env[name.toLowerCase()];
  if (!raw) return undefined;
  const port = server.port || (https ? '443' : '80');
  if (bypassesProxy(server.hostname, port, env.NO_PROXY || env.no_proxy || '')) return undefined;
  return parseProxyUrl(raw, name);
}

export class ProxyError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Opens a CONNECT tunnel to host:port through `proxy`; resolves with the raw socket. */
export function openTunnel(proxy: URL, host: string, port: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const headers: Record<string, string> = { Host: target };
    if (proxy.username)
      headers['Proxy-Authorization'] =
        'Basic ' +
        Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
    const req = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port || '80',
      method: 'CONNECT',
      path: target,
      headers,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(new ProxyError(`the proxy answered CONNECT with HTTP ${res.statusCode}`, 'EPROXYREFUSED'));
    });
    req.once('response', (res) => {
      res.resume();
      reject(new ProxyError(`the proxy answered CONNECT with HTTP ${res.statusCode}`, 'EPROXYREFUSED'));
    });
    req.once('error', (e: NodeJS.ErrnoException) => {
      reject(new ProxyError(`cannot reach the proxy: ` + (e.code ?? e.message), e.code ?? 'EPROXY'));
    });
    req.end();
  });
}
