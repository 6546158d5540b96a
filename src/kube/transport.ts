/**
 * Sockets to the API server: direct or through an HTTP CONNECT proxy, with a connect timeout covering TCP, the proxy
 * and the TLS handshake (a silent server fails in CONNECT_TIMEOUT_MS, not never), and every socket failure turned
 * into a KubeTransportError that says which step failed (DNS, TCP, proxy, TLS and why) and what to do.
 */
import { Agent as HttpAgent, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { KubeTransportError } from './errors.js';
import { ProxyError, openTunnel } from './proxy.js';
import type { Connection } from './connect.js';

/** A connect step that took too long; the figure is the time actually waited. */
export class ConnectTimeoutError extends Error {
  constructor(
    readonly phase: 'tcp' | 'proxy' | 'tls',
    readonly waitedMs: number,
  ) {
    super(`connect timeout in ${phase}`);
  }
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

type Callback = (err: Error | null, stream: Duplex) => void;

/** Arms the connect timer on a socket: cleared once `ready` fires. */
function armTimeout(
  sock: Socket,
  ms: number,
  ready: string,
  phase: () => 'tcp' | 'proxy' | 'tls',
  start: number,
): void {
  if (!ms) return;
  const t = setTimeout(() => sock.destroy(new ConnectTimeoutError(phase(), Date.now() - start)), ms);
  sock.once(ready, () => {
    clearTimeout(t);
  });
  sock.once('close', () => {
    clearTimeout(t);
  });
}

/** The agent for one Connection: keep-alive sockets, made as `createSocket` below says. */
export function createAgent(conn: Connection): HttpAgent {
  const https = conn.server.startsWith('https:');
  const base = { keepAlive: true, maxSockets: 32 };
  const make = (options: ClientRequestArgs & ConnectionOptions, cb: Callback) => {
    createSocket(conn, options, cb);
  };
  if (!https) {
    const a = new HttpAgent(base);
    a.createConnection = (options, cb) => {
      make(options as ClientRequestArgs & ConnectionOptions, cb as Callback);
      return undefined;
    };
    return a;
  }
  const a = new HttpsAgent({
    ...base,
    ...(conn.ca ? { ca: conn.ca } : {}),
    ...(conn.cert ? { cert: conn.cert, key: conn.key } : {}),
    rejectUnauthorized: !conn.insecureSkipTlsVerify,
  });
  a.createConnection = (options, cb) => {
    make(options as ClientRequestArgs & ConnectionOptions, cb as Callback);
    return undefined;
  };
  return a;
}

function createSocket(conn: Connection, options: ClientRequestArgs & ConnectionOptions, cb: Callback): void {
  const https = conn.server.startsWith('https:');
  const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
  const port = String(options.port ?? (https ? 443 : 80));
  const start = Date.now();
  const tlsOptions = (): ConnectionOptions => {
    const o: ConnectionOptions = { ...options, host, port: Number(port) };
    if (conn.tlsServerName) o.servername = conn.tlsServerName;
    return o;
  };
  let done = false;
  const finish = (err: Error | null, s?: Duplex) => {
    if (done) return;
    done = true;
    if (err) cb(err, undefined as unknown as Duplex);
    else if (s) cb(null, s);
    else cb(new Error('no socket and no error'), undefined as unknown as Duplex);
  };
  if (!conn.proxy) {
    let phase: 'tcp' | 'tls' = 'tcp';
    const sock = https ? tlsConnect(tlsOptions()) : netConnect({ host, port: Number(port) });
    sock.once('connect', () => (phase = 'tls'));
    armTimeout(sock, conn.connectTimeoutMs, https ? 'secureConnect' : 'connect', () => phase, start);
    finish(null, sock);
    return;
  }
  // Through the proxy: CONNECT first, then TLS over the tunnel, all within the connect timeout.
  let timer: NodeJS.Timeout | undefined;
  let phase: 'proxy' | 'tls' = 'proxy';
  let tunnel: Socket | undefined;
  if (conn.connectTimeoutMs)
    timer = setTimeout(() => {
      const e = new ConnectTimeoutError(phase, Date.now() - start);
      tunnel?.destroy();
      finish(e);
    }, conn.connectTimeoutMs);
  openTunnel(conn.proxy, host, port).then(
    (raw) => {
      tunnel = raw;
      if (done) return raw.destroy();
      if (!https) {
        clearTimeout(timer);
        finish(null, raw);
        return;
      }
      phase = 'tls';
      const sock = tlsConnect({ ...tlsOptions(), socket: raw });
      sock.once('secureConnect', () => {
        clearTimeout(timer);
      });
      sock.once('error', () => {
        clearTimeout(timer);
      });
      finish(null, sock);
    },
    (e: unknown) => {
      clearTimeout(timer);
      finish(e instanceof Error ? e : new Error(String(e)));
    },
  );
}

const CA_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** Turns a socket-level failure into a message that names the step that failed and what to do. */
export function transportError(e: unknown, conn: Connection, url: URL): KubeTransportError {
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const code = err?.code ?? '';
  const addr = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const at = `the API server ${conn.server} (${conn.source})`;
  const mk = (what: string, hint: string) => new KubeTransportError(`cannot connect to ${at}: ${what}`, hint);
  const proxyName = conn.proxy ? `${conn.proxy.protocol}//${conn.proxy.host}` : '';
  if (e instanceof ConnectTimeoutError) {
    const step =
      e.phase === 'tcp'
        ? `TCP: no connection to ${addr}`
        : e.phase === 'proxy'
          ? `proxy ${proxyName}: no tunnel to ${addr}`
          : `TLS: ${addr} accepted the connection but did not complete the TLS handshake`;
    return mk(
      `${step} within ${secs(e.waitedMs)} (the connect timeout)`,
      'the server, a firewall or a proxy is silent: check the server address and that this is the API ' +
        'server\u2019s port',
    );
  }
  if (e instanceof ProxyError)
    return mk(
      `proxy ${proxyName}: ${e.message}`,
      'check proxy-url in the kubeconfig, or HTTPS_PROXY and NO_PROXY, and that the proxy allows CONNECT to this ' +
        'address',
    );
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME')
    return mk(
      `DNS: the name ${url.hostname} does not resolve (${code})`,
      'check the server address in the kubeconfig, and your DNS or VPN',
    );
  if (code === 'ECONNREFUSED')
    return mk(`TCP: connection to ${addr} refused`, 'check that the API server is running and that the port is right');
  if (['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN', 'EHOSTDOWN'].includes(code))
    return mk(`TCP: ${addr} is unreachable (${code})`, 'check the network, your VPN and the server address');
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return mk(
      `the connection to ${addr} was reset (${code})`,
      'the server or something in between closed the connection: check the server address and any proxy or firewall',
    );
  if (CA_CODES.has(code))
    return mk(
      `TLS: the server\u2019s certificate is not signed by a trusted certificate authority (${code})`,
      'check that certificate-authority(-data) in the kubeconfig belongs to this cluster (kubectl fails the same way)',
    );
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return mk(
      `TLS: the server\u2019s certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not yet valid'}`,
      'renew the API server\u2019s certificate, or check this machine\u2019s clock',
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return mk(
      `TLS: the server\u2019s certificate is not valid for ${conn.tlsServerName ?? url.hostname} ` +
        `(${err.reason ?? 'name mismatch'})`,
      'connect by a name the certificate lists, or set tls-server-name (--tls-server-name) to one',
    );
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNKNOWN_PROTOCOL/.test(code + err.message))
    return mk(
      `TLS: ${addr} does not speak TLS (is it a plain HTTP server, or not an API server?)`,
      'check the server URL and port',
    );
  if (/ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED)/.test(code))
    return mk(
      `TLS: the server rejected the client certificate (${code.replace(/^ERR_SSL_/, '')})`,
      'check client-certificate and client-key in the kubeconfig: the certificate may be expired or from another ' +
        'cluster',
    );
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO')
    return mk(`TLS: the handshake failed (${code})`, 'check the server URL, the CA and tls-server-name');
  return mk(
    `the connection failed (${code || 'no error code'})`,
    'check the server address and the network (kubectl get ns should fail the same way)',
  );
}
