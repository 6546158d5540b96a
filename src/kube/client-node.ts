/**
 * A @kubernetes/client-node KubeConfig for what only that library does here (pods/exec over WebSocket), built from
 * the Connection this plugin resolved, so exec follows the same kubeconfig merge, flags, credentials, proxy and
 * tls-server-name as every other request instead of client-node's own kubeconfig loading.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { RefusedError } from '../errors.js';
import type { Connection } from './connect.js';
import type { AuthTarget } from './credentials.js';

/** Builds the KubeConfig; credentials are taken once, now (a token or certificate from an exec plugin included). */
export async function clientNodeConfig(conn: Connection): Promise<KubeConfig> {
  const auth: AuthTarget = { headers: {} };
  if (conn.credentials) await conn.credentials.apply(auth);
  const h = auth.headers;
  // client-node sends Impersonate-User only: refuse rather than act with more rights than asked for.
  if (h['Impersonate-Group'] || h['Impersonate-Uid'] || Object.keys(h).some((k) => k.startsWith('Impersonate-Extra-')))
    throw new RefusedError(
      'reading sidecars through pods/exec cannot impersonate groups, a uid or extra fields',
      'use --as alone, or a context that is that identity',
    );
  const authz = typeof h.Authorization === 'string' ? h.Authorization : '';
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const cert = auth.cert ?? conn.cert;
  const key = auth.key ?? conn.key;
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: conn.server,
        skipTLSVerify: conn.insecureSkipTlsVerify,
        ...(conn.ca ? { caData: conn.ca.toString('base64') } : {}),
        ...(conn.tlsServerName ? { tlsServerName: conn.tlsServerName } : {}),
        ...(conn.proxy ? { proxyUrl: conn.proxy.href } : {}),
      },
    ],
    users: [
      {
        name: 'u',
        ...(authz.startsWith('Bearer ') ? { token: authz.slice(7) } : {}),
        ...(authz.startsWith('Basic ')
          ? (() => {
              const [username, ...rest] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
              return { username, password: rest.join(':') };
            })()
          : {}),
        ...(cert && key
          ? { certData: Buffer.from(cert).toString('base64'), keyData: Buffer.from(key).toString('base64') }
          : {}),
        ...(typeof h['Impersonate-User'] === 'string' ? { impersonateUser: h['Impersonate-User'] } : {}),
      },
    ],
    contexts: [{ name: conn.contextName || 'x', cluster: 'c', user: 'u' }],
    currentContext: conn.contextName || 'x',
  });
  return kc;
}
