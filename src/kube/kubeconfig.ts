/**
 * Resolving the kubeconfig and context into connection settings. Plain certificate and token credentials are read
 * directly (fast start); exec and auth-provider credentials are delegated to @kubernetes/client-node, loaded only then.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { RefusedError } from '../errors.js';

export interface Connection {
  contextName: string;
  server: string;
  namespace: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecureSkipTlsVerify: boolean;
  /** Set when credentials come from an exec plugin or auth provider: headers and TLS options resolved per request. */
  dynamicAuth?: (opts: {
    headers?: Record<string, string>;
    cert?: unknown;
    key?: unknown;
    ca?: unknown;
  }) => Promise<void>;
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  value?: T;
}

interface RawConfig {
  'current-context'?: string;
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
}

/** The kubeconfig files to read: --kubeconfig, else $KUBECONFIG (a path list), else ~/.kube/config. */
export function kubeconfigPaths(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  if (flag) return [flag];
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter(Boolean);
  return [join(homedir(), '.kube', 'config')];
}

function readData(entry: Record<string, unknown>, dataKey: string, fileKey: string, base: string): Buffer | undefined {
  const data = entry[dataKey];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const file = entry[fileKey];
  if (typeof file === 'string' && file !== '') return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

/** Loads and merges the kubeconfig files (first definition of a name wins, as kubectl does) and picks the context. */
export async function resolveConnection(
  flag: string | undefined,
  contextFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Connection> {
  const { parse } = await import('yaml');
  const paths = kubeconfigPaths(flag, env);
  const merged: Required<Pick<RawConfig, 'clusters' | 'users' | 'contexts'>> & { current?: string } = {
    clusters: [],
    users: [],
    contexts: [],
  };
  const baseOf = new Map<string, string>();
  let readAny = false;
  for (const p of paths) {
    let raw: RawConfig;
    try {
      raw = (parse(readFileSync(p, 'utf8')) ?? {}) as RawConfig;
      readAny = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !flag) continue;
      throw new RefusedError(
        `cannot read kubeconfig ${p}: ${(e as Error).message}`,
        'pass a readable kubeconfig with --kubeconfig',
      );
    }
    merged.current ??= raw['current-context'] || undefined;
    for (const c of raw.clusters ?? [])
      if (!merged.clusters.some((x) => x.name === c.name)) {
        merged.clusters.push(c);
        baseOf.set(`cluster/${c.name}`, dirname(p));
      }
    for (const u of raw.users ?? [])
      if (!merged.users.some((x) => x.name === u.name)) {
        merged.users.push(u);
        baseOf.set(`user/${u.name}`, dirname(p));
      }
    for (const c of raw.contexts ?? []) if (!merged.contexts.some((x) => x.name === c.name)) merged.contexts.push(c);
  }
  if (!readAny)
    throw new RefusedError(
      `no kubeconfig found (looked at ${paths.join(', ')})`,
      'pass --kubeconfig or set KUBECONFIG',
    );
  const contextName = contextFlag ?? merged.current;
  if (!contextName) throw new RefusedError('the kubeconfig has no current context', 'pass --context NAME');
  const ctx = merged.contexts.find((c) => c.name === contextName);
  if (!ctx)
    throw new RefusedError(
      `context ${contextName} is not in the kubeconfig`,
      `choose one of: ${merged.contexts.map((c) => c.name).join(', ') || 'none'}`,
    );
  const cluster = merged.clusters.find((c) => c.name === ctx.context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string')
    throw new RefusedError(
      `context ${contextName} names cluster ${ctx.context.cluster}, which has no server`,
      'fix the kubeconfig',
    );
  const user = merged.users.find((u) => u.name === ctx.context.user)?.user ?? {};
  const cbase = baseOf.get(`cluster/${ctx.context.cluster}`) ?? '.';
  const ubase = baseOf.get(`user/${ctx.context.user}`) ?? '.';
  const conn: Connection = {
    contextName,
    server: cluster.server.replace(/\/+$/, ''),
    namespace: ctx.context.namespace ?? 'default',
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
  try {
    const ca = readData(cluster, 'certificate-authority-data', 'certificate-authority', cbase);
    const cert = readData(user, 'client-certificate-data', 'client-certificate', ubase);
    const key = readData(user, 'client-key-data', 'client-key', ubase);
    if (ca) conn.ca = ca;
    if (cert) conn.cert = cert;
    if (key) conn.key = key;
  } catch (e) {
    throw new RefusedError(
      `context ${contextName}: cannot read a credential file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'fix the paths in the kubeconfig',
    );
  }
  if (typeof user.token === 'string') conn.token = user.token;
  else if (typeof user.tokenFile === 'string') conn.token = readFileSync(user.tokenFile, 'utf8').trim();
  if (user.exec || user['auth-provider'] || user.username) {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    if (paths.length === 1) kc.loadFromFile(paths[0]!);
    else kc.loadFromDefault();
    kc.setCurrentContext(contextName);
    const how = user.exec
      ? `the exec credential plugin ${JSON.stringify((user.exec as { command?: string }).command ?? '')}`
      : user['auth-provider']
        ? 'the auth provider'
        : 'basic auth';
    conn.dynamicAuth = async (opts) => {
      try {
        await kc.applyToHTTPSOptions(opts as Parameters<typeof kc.applyToHTTPSOptions>[0]);
      } catch (e) {
        const detail = (e as Error)?.message || 'it failed without a message';
        throw new RefusedError(
          `context ${contextName}: getting credentials from ${how} failed: ${detail}`,
          'run the plugin command by hand (or kubectl get ns) to see its error, and refresh your login',
        );
      }
    };
  }
  return conn;
}

export type { Named };
