/**
 * From kubeconfig files and kubectl's connection flags to one Connection, with clientcmd's precedence
 * (client_config.go): flags override the kubeconfig field by field; --insecure-skip-tls-verify and
 * --certificate-authority replace the kubeconfig's CA settings; --server or --tls-server-name replace its
 * tls-server-name; a static token beats tokenFile and exec; over plain HTTP no credentials are sent. With no usable
 * kubeconfig and no --server, the in-cluster service account is used (rest.InClusterConfig), as kubectl does.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { CommandContext } from '../context.js';
import { ConnectionError, RefusedError } from '../errors.js';
import { HttpKubeClient, type RateLimit } from './http.js';
import {
  isEmpty,
  loadKubeconfig,
  type ClusterEntry,
  type Defined,
  type MergedKubeconfig,
  type UserEntry,
} from './kubeconfig.js';
import { proxyFor } from './proxy.js';
import { buildCredentials, type Credentials } from './credentials.js';

/** kubectl's connection flags (genericclioptions.ConfigFlags). */
export interface ConnectionFlags {
  cluster?: string;
  user?: string;
  server?: string;
  token?: string;
  as?: string;
  asGroups?: string[];
  asUid?: string;
  certificateAuthority?: string;
  clientCertificate?: string;
  clientKey?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** kubectl's --request-timeout: an integer of seconds or a Go duration; 0 means no timeout. */
  requestTimeout?: string;
}

/** Time allowed for TCP connect, proxy CONNECT and TLS handshake together. */
export const CONNECT_TIMEOUT_MS = 10_000;

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface Connection {
  contextName: string;
  /** Where the settings came from, for messages: "context admin in /home/me/.kube/config" or "in-cluster". */
  source: string;
  server: string;
  namespace: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** The HTTP proxy to tunnel through (proxy-url, or HTTPS_PROXY/HTTP_PROXY unless NO_PROXY matches). */
  proxy?: URL;
  /** Whole-request deadline in ms; 0 = none (kubectl's --request-timeout). */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Authorization, impersonation and exec-issued client certificates; absent over plain HTTP. */
  credentials?: Credentials;
}

/** Parses --request-timeout as kubectl does: "5" is 5 s, else a Go duration ("1m30s", "500ms"); 0 is no timeout. */
export function parseRequestTimeout(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * units[m[2]];
    end = re.lastIndex;
  }
  if (t === '' || end !== t.length)
    throw new RefusedError(
      `--request-timeout ${JSON.stringify(text)} is not a timeout`,
      'give whole seconds (30) or a duration with a unit (1s, 2m, 3h); 0 means no timeout',
    );
  return Math.round(total);
}

function readFileField(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RefusedError(
      `${what} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`}`,
      'fix the path (relative paths in a kubeconfig are relative to that file\u2019s directory)',
    );
  }
}

/** The *-data field wins over the file field, as in client-go's dataFromSliceOrFile. */
function pick(data: string | undefined, file: string | undefined, where: string, fileKey: string): Buffer | undefined {
  if (data) return Buffer.from(data.replace(/[\r\n]/g, ''), 'base64');
  if (file) return readFileField(file, `${where}: ${fileKey}`);
  return undefined;
}

/** Checks PEM material up front so a bad file is named now, not as an OpenSSL error on the first request. */
function checkPem(conn: Connection, caWhere: string, certWhere: string): void {
  if (conn.ca) {
    const blocks = conn.ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    const parses = (b: string) => {
      try {
        new X509Certificate(b);
        return true;
      } catch {
        return false;
      }
    };
    if (!blocks || !blocks.every(parses))
      throw new RefusedError(`${caWhere}: the certificate authority is not PEM certificates`, 'fix the kubeconfig');
  }
  if (conn.cert || conn.key) {
    if (!conn.cert || !conn.key)
      throw new RefusedError(
        `${certWhere}: a client certificate needs its key and a key its certificate`,
        'set both client-certificate(-data) and client-key(-data)',
      );
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(conn.cert);
    } catch {
      throw new RefusedError(`${certWhere}: the client certificate is not a PEM certificate`, 'fix the kubeconfig');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(conn.key);
    } catch {
      throw new RefusedError(`${certWhere}: the client key is not a PEM private key`, 'fix the kubeconfig');
    }
    // The check TLS makes (SSL_CTX_check_private_key), without building a TLS context: a context made with no CA
    // loads the ~150 system roots first (about 50 ms of every command's start).
    if (!leaf.checkPrivateKey(key))
      throw new RefusedError(
        `${certWhere}: the client key does not match the client certificate`,
        'fix the kubeconfig',
      );
  }
}

/** rest.DefaultServerURL: a bare host:port gets https:// when TLS is configured (a CA, a client cert, insecure). */
function serverUrl(raw: string, defaultTls: boolean, where: string): URL {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  let u: URL | undefined;
  try {
    u = new URL(hasScheme ? raw : `${defaultTls ? 'https' : 'http'}://${raw}`);
  } catch {
    u = undefined;
  }
  if (!u || !u.hostname) throw new RefusedError(`${where} is not a URL or host:port`, 'use https://host:port');
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new RefusedError(`${where} must be an https:// (or http://) URL`, 'use https://host:port');
  return u;
}

function inClusterPossible(env: NodeJS.ProcessEnv, dir: string): boolean {
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) return false;
  try {
    return !statSync(`${dir}/token`).isDirectory();
  } catch {
    return false;
  }
}

export interface ResolveOptions {
  /** The service-account directory for in-cluster config (tests pass another). */
  serviceAccountDir?: string;
  stdinIsTerminal?: boolean;
  stderr?: NodeJS.WritableStream;
}

/** Resolves the connection kubectl would make with the same kubeconfig, context, flags and environment. */
export async function resolveConnection(
  kubeconfig: string | undefined,
  context: string | undefined,
  env: NodeJS.ProcessEnv,
  flags: ConnectionFlags = {},
  opts: ResolveOptions = {},
): Promise<Connection> {
  const cfg = await loadKubeconfig(kubeconfig || undefined, env);
  const requestTimeoutMs = flags.requestTimeout !== undefined ? parseRequestTimeout(flags.requestTimeout) : 0;
  const contextName = context || cfg.currentContext;
  const ctx = contextName ? cfg.contexts.get(contextName) : undefined;
  if (contextName && !ctx)
    throw new RefusedError(
      `context ${contextName} is not in the kubeconfig (${cfg.files.join(', ') || 'no file found'})`,
      `choose one of: ${[...cfg.contexts.keys()].join(', ') || 'none'}`,
    );
  const clusterName = flags.cluster || ctx?.value.cluster || '';
  const userName = flags.user || ctx?.value.user || '';
  const cluster = cfg.clusters.get(clusterName);
  const user = cfg.users.get(userName);
  if (flags.cluster && !cluster)
    throw new RefusedError(`--cluster ${flags.cluster} is not in the kubeconfig`, 'name a cluster the kubeconfig has');
  if (flags.user && !user)
    throw new RefusedError(`--user ${flags.user} is not in the kubeconfig`, 'name a user the kubeconfig has');

  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const server = flags.server || cluster?.value.server;
  if (!server) {
    if ((!ctx || isEmpty(cfg)) && !flags.server && !kubeconfig && inClusterPossible(env, saDir))
      return inCluster(env, saDir, flags, requestTimeoutMs, opts);
    throw noServer(cfg, contextName, clusterName, cluster, ctx?.file);
  }
  const where = ctx ? `context ${contextName} in ${ctx.file}` : 'the command-line flags';
  const clusterWhere = cluster ? `kubeconfig ${cluster.file}: cluster ${clusterName}` : '--server';
  const userWhere = user ? `kubeconfig ${user.file}: user ${userName}` : 'the command-line flags';

  const c: ClusterEntry = { ...cluster?.value };
  if (flags.server) c.server = flags.server;
  if (flags.insecureSkipTlsVerify || flags.certificateAuthority) {
    c['insecure-skip-tls-verify'] = flags.insecureSkipTlsVerify === true;
    if (flags.certificateAuthority) c['certificate-authority'] = resolve(flags.certificateAuthority);
    else delete c['certificate-authority'];
    delete c['certificate-authority-data'];
  }
  if (flags.tlsServerName !== undefined || flags.server) c['tls-server-name'] = flags.tlsServerName || undefined;

  const u: UserEntry = { ...user?.value };
  if (flags.token) u.token = flags.token;
  if (flags.clientCertificate) u['client-certificate'] = resolve(flags.clientCertificate);
  if (flags.clientKey) u['client-key'] = resolve(flags.clientKey);
  if (flags.as) u.as = flags.as;
  if (flags.asGroups?.length) u['as-groups'] = flags.asGroups;
  if (flags.asUid) u['as-uid'] = flags.asUid;

  const ca = pick(c['certificate-authority-data'], c['certificate-authority'], clusterWhere, 'certificate-authority');
  const cert = pick(u['client-certificate-data'], u['client-certificate'], userWhere, 'client-certificate');
  const key = pick(u['client-key-data'], u['client-key'], userWhere, 'client-key');
  const insecure = c['insecure-skip-tls-verify'] === true;
  if (insecure && ca)
    throw new RefusedError(
      `${clusterWhere}: insecure-skip-tls-verify is set together with a certificate authority; kubectl refuses ` +
        `this too`,
      'remove one of them (--insecure-skip-tls-verify on the command line replaces the kubeconfig\u2019s CA)',
    );
  const url = serverUrl(server, Boolean(ca) || Boolean(cert) || insecure, `${clusterWhere}: server`);
  const conn: Connection = {
    contextName: contextName ?? '',
    source: where,
    server: url.href.replace(/\/+$/, ''),
    namespace: ctx?.value.namespace || 'default',
    insecureSkipTlsVerify: insecure,
    requestTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  };
  if (ca) conn.ca = ca;
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (c['tls-server-name']) conn.tlsServerName = c['tls-server-name'];
  const proxy = proxyFor(url, c['proxy-url'], env, `${clusterWhere}: proxy-url`);
  if (proxy) conn.proxy = proxy;
  checkPem(conn, clusterWhere, userWhere);
  // kubectl sends credentials only over TLS (client_config.go: "only try to read the auth information if we are
  // secure").
  if (url.protocol === 'https:')
    conn.credentials = await buildCredentials({
      user: u,
      userName,
      where: userWhere,
      cluster: { ...c, server: conn.server, ...(ca ? { 'certificate-authority-data': ca.toString('base64') } : {}) },
      env,
      stdinIsTerminal: opts.stdinIsTerminal ?? process.stdin.isTTY,
      ...(opts.stderr ? { stderr: opts.stderr } : {}),
    });
  else {
    delete conn.cert;
    delete conn.key;
  }
  return conn;
}

function noServer(
  cfg: MergedKubeconfig,
  contextName: string | undefined,
  clusterName: string,
  cluster: Defined<ClusterEntry> | undefined,
  contextFile: string | undefined,
): RefusedError {
  if (cfg.files.length === 0)
    return new RefusedError(
      `no kubeconfig found (looked at ${cfg.looked.join(', ')}) and not running in a cluster`,
      'pass --kubeconfig, set KUBECONFIG, or give --server',
    );
  if (!contextName)
    return new RefusedError(
      `the kubeconfig (${cfg.files.join(', ')}) has no current-context`,
      `pass --context (one of: ${[...cfg.contexts.keys()].join(', ') || 'none'}) or run kubectl config use-context`,
    );
  if (!cluster)
    return new RefusedError(
      `kubeconfig ${contextFile ?? cfg.files.join(', ')}: context ${contextName} names cluster ` +
        `${JSON.stringify(clusterName)}, which no kubeconfig file defines`,
      'fix the context, or pass --cluster or --server',
    );
  return new RefusedError(
    `kubeconfig ${cluster.file}: cluster ${clusterName} has no server`,
    'set its server: https://host:port',
  );
}

/** rest.InClusterConfig plus the flags clientcmd's inClusterClientConfig honours. */
async function inCluster(
  env: NodeJS.ProcessEnv,
  dir: string,
  flags: ConnectionFlags,
  requestTimeoutMs: number,
  opts: ResolveOptions,
): Promise<Connection> {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const server = `https://${isIP(host) === 6 ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT}`;
  const url = new URL(server);
  let ca: Buffer | undefined;
  try {
    ca = flags.certificateAuthority
      ? readFileField(resolve(flags.certificateAuthority), '--certificate-authority')
      : readFileSync(`${dir}/ca.crt`);
  } catch (e) {
    if (flags.certificateAuthority) throw e;
    ca = undefined; // client-go logs and goes on with the system roots
  }
  let namespace = env.POD_NAMESPACE || '';
  if (!namespace)
    try {
      namespace = readFileSync(`${dir}/namespace`, 'utf8').trim();
    } catch {
      namespace = '';
    }
  const conn: Connection = {
    contextName: 'in-cluster',
    source: `the in-cluster service account (${dir})`,
    server,
    namespace: namespace || 'default',
    insecureSkipTlsVerify: flags.insecureSkipTlsVerify === true && !flags.certificateAuthority,
    requestTimeoutMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  };
  if (ca && !conn.insecureSkipTlsVerify) conn.ca = ca;
  const proxy = proxyFor(url, undefined, env);
  if (proxy) conn.proxy = proxy;
  const user: UserEntry = flags.token ? { token: flags.token } : { tokenFile: `${dir}/token` };
  if (flags.as) user.as = flags.as;
  if (flags.asGroups?.length) user['as-groups'] = flags.asGroups;
  if (flags.asUid) user['as-uid'] = flags.asUid;
  conn.credentials = await buildCredentials({
    user,
    userName: 'in-cluster',
    where: conn.source,
    cluster: { server },
    env,
    stdinIsTerminal: opts.stdinIsTerminal ?? false,
  });
  return conn;
}

/** Opens a KubeClient for the global connection flags. */
export async function connect(ctx: CommandContext, rate?: RateLimit): Promise<HttpKubeClient> {
  const conn = await resolveConnection(
    ctx.globals.kubeconfig,
    ctx.globals.context,
    ctx.env,
    ctx.globals.connection ?? {},
    { stderr: ctx.stderr },
  );
  return new HttpKubeClient(conn, rate);
}

export { ConnectionError };
