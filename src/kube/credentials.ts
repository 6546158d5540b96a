/**
 * Who the plugin is to the API server, applied to every request: a bearer token (static, or from tokenFile re-read
 * every minute as client-go's cached file token source does, so projected tokens can rotate during a long run), basic
 * auth, an exec credential plugin, an auth provider, and impersonation headers. A static token wins over exec and
 * auth-provider, as it does in client-go (the exec round tripper leaves a request that has Authorization alone).
 */
import { readFileSync } from 'node:fs';
import { ConnectionError, RefusedError } from '../errors.js';
import { ExecCredentialPlugin } from './exec-credential.js';
import type { ClusterEntry, UserEntry } from './kubeconfig.js';

export interface AuthTarget {
  headers: Record<string, string | string[]>;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface Credentials {
  /** What authenticates the requests, for messages ("a bearer token", "the exec credential plugin ..."). */
  readonly kind: string;
  apply(target: AuthTarget): Promise<void>;
  /** The API server answered 401: forget cached exec and file credentials. */
  rejected(): void;
}

export interface CredentialOptions {
  user: UserEntry;
  userName: string;
  where: string;
  cluster: ClusterEntry & { server: string };
  env: NodeJS.ProcessEnv;
  stdinIsTerminal: boolean;
  stderr?: NodeJS.WritableStream;
}

const TOKEN_FILE_PERIOD_MS = 60_000;

class TokenFile {
  private token = '';
  private readAt = 0;
  constructor(
    private readonly path: string,
    private readonly where: string,
  ) {
    this.read(true);
  }
  private read(first: boolean): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      const msg =
        `${this.where}: tokenFile ${this.path} ` + (code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`);
      if (first) throw new RefusedError(msg, 'fix tokenFile (a relative path is relative to the kubeconfig file)');
      // A rotating projected token may be briefly absent: keep the last one, as client-go does.
      if (this.token) return;
      throw new ConnectionError(msg, 'check that the token file exists');
    }
    const t = text.trim();
    if (!t) throw new ConnectionError(`${this.where}: tokenFile ${this.path} is empty`, 'write a token into it');
    this.token = t;
    this.readAt = Date.now();
  }
  get(): string {
    if (Date.now() - this.readAt >= TOKEN_FILE_PERIOD_MS) this.read(false);
    return this.token;
  }
  invalidate(): void {
    this.readAt = 0;
  }
}

const REMOVED_PROVIDERS: Record<string, string> = {
  gcp: 'The gcp auth plugin was removed from kubectl (1.26): use the gke-gcloud-auth-plugin exec credential plugin',
  azure: 'The azure auth plugin was removed from kubectl (1.26): use kubelogin as an exec credential plugin',
};

function impersonation(u: UserEntry, where: string): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {};
  const groups = u['as-groups'] ?? [];
  const extra = Object.entries(u['as-user-extra'] ?? {});
  if (!u.as) {
    if (groups.length || u['as-uid'] || extra.length)
      throw new RefusedError(
        `${where}: impersonation groups, uid or extra are set without a user to impersonate`,
        'add --as USER (or as: in the kubeconfig)',
      );
    return h;
  }
  h['Impersonate-User'] = u.as;
  if (u['as-uid']) h['Impersonate-Uid'] = u['as-uid'];
  if (groups.length) h['Impersonate-Group'] = groups;
  for (const [k, vals] of extra) h[`Impersonate-Extra-${encodeURIComponent(k)}`] = vals;
  return h;
}

/** Builds the credentials of one user; throws RefusedError for combinations kubectl refuses. */
export async function buildCredentials(o: CredentialOptions): Promise<Credentials> {
  const u = o.user;
  const imp = impersonation(u, o.where);
  if (u.exec && u['auth-provider'])
    throw new RefusedError(`${o.where}: has both exec and auth-provider; kubectl refuses this too`, 'keep one of them');
  if ((u.token || u.tokenFile) && (u.username || u.password))
    throw new RefusedError(
      `${o.where}: has both a token and username/password; kubectl refuses this too`,
      'keep one of them',
    );
  const staticToken = u.token || undefined;
  const file = !staticToken && u.tokenFile ? new TokenFile(u.tokenFile, o.where) : undefined;
  const basic =
    u.username || u.password
      ? 'Basic ' + Buffer.from(`${u.username ?? ''}:${u.password ?? ''}`).toString('base64')
      : undefined;
  const exec = u.exec
    ? new ExecCredentialPlugin({
        exec: u.exec,
        where: o.where,
        cluster: o.cluster,
        env: o.env,
        stdinIsTerminal: o.stdinIsTerminal,
        ...(o.stderr ? { stderr: o.stderr } : {}),
      })
    : undefined;
  const ap = u['auth-provider'];
  const provider = ap ? await authProvider(o, ap) : undefined;
  const kind = staticToken
    ? 'a bearer token'
    : file
      ? `the token in ${u.tokenFile}`
      : exec
        ? `the exec credential plugin ${JSON.stringify(u.exec?.command)}`
        : provider
          ? `the ${u['auth-provider']?.name ?? ''} auth provider`
          : basic
            ? 'username and password'
            : u['client-certificate'] || u['client-certificate-data']
              ? 'a client certificate'
              : 'no credentials';
  return {
    kind,
    async apply(t) {
      Object.assign(t.headers, imp);
      const bearer = staticToken ?? file?.get();
      if (bearer) t.headers.Authorization = `Bearer ${bearer}`;
      else if (basic) t.headers.Authorization = basic;
      else if (provider) await provider(t);
      if (exec && !bearer) {
        const c = await exec.credential();
        if (c.token) t.headers.Authorization = `Bearer ${c.token}`;
        if (c.clientCertificateData && !t.cert) {
          t.cert = c.clientCertificateData;
          t.key = c.clientKeyData;
        }
      }
    },
    rejected() {
      exec?.invalidate();
      file?.invalidate();
    },
  };
}

/**
 * auth-provider users: kubectl keeps only oidc since 1.26; it is delegated to @kubernetes/client-node, loaded only
 * here. Unlike kubectl, a refreshed id-token is not written back to the kubeconfig.
 */
async function authProvider(
  o: CredentialOptions,
  ap: NonNullable<CredentialOptions['user']['auth-provider']>,
): Promise<(t: AuthTarget) => Promise<void>> {
  if (REMOVED_PROVIDERS[ap.name])
    throw new RefusedError(`${o.where}: ${REMOVED_PROVIDERS[ap.name]}`, 'switch the user to the exec plugin');
  if (ap.name !== 'oidc')
    throw new RefusedError(`${o.where}: no auth provider named ${JSON.stringify(ap.name)}`, 'kubectl knows only oidc');
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: o.cluster.server, skipTLSVerify: false }],
    users: [{ name: o.userName || 'u', authProvider: { name: ap.name, config: { ...ap.config } } }],
    contexts: [{ name: 'x', cluster: 'c', user: o.userName || 'u' }],
    currentContext: 'x',
  });
  return async (t) => {
    const scratch: { headers: Record<string, string> } = { headers: {} };
    try {
      await kc.applyToHTTPSOptions(scratch as Parameters<typeof kc.applyToHTTPSOptions>[0]);
    } catch {
      throw new ConnectionError(
        `${o.where}: the oidc auth provider could not get a token`,
        'log in again (your id-token or refresh-token may have expired)',
      );
    }
    if (scratch.headers.Authorization) t.headers.Authorization = scratch.headers.Authorization;
  };
}
