/**
 * What each sidecar really holds: its Envoy config_dump secrets (ROOTCA trust bundle and the `default` workload
 * certificate chain), read through the API server's pods/exec with `pilot-agent request GET config_dump` in the
 * istio-proxy container. Envoy redacts private keys in config_dump; only certificates are read.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { parsePem } from '../ca/pem.js';
import { pemFingerprints } from '../istio/secret-bundle.js';
import { SIDECAR_CONTAINER } from '../istio/names.js';

export interface ProxyCerts {
  /** Fingerprints of every root in the proxy's ROOTCA bundle (every PEM block decoded). */
  roots: string[];
  /** Fingerprints of the workload certificate chain: leaf first, then its issuers. */
  chain: string[];
  /** The workload certificate (first block of the chain), when the proxy holds one. */
  leaf?: ProxyLeaf;
  /** Subject of each root in `roots`, same order. */
  rootSubjects?: string[];
}

export interface ProxyLeaf {
  /** The URI SAN (spiffe://<trust domain>/ns/<namespace>/sa/<service account>), null when there is none. */
  spiffeId: string | null;
  /** The issuer's distinguished name as the leaf names it, one line. */
  issuer: string;
  notAfter: string;
}

export type ProxyReading =
  | { namespace: string; pod: string; ok: true; certs: ProxyCerts }
  | { namespace: string; pod: string; ok: false; error: string; forbidden: boolean };

/** The seam verify --proxies reads through: the real one execs into pods; tests pass a fake. */
export interface ProxyReader {
  read(namespace: string, pod: string): Promise<ProxyReading>;
}

export const CONFIG_DUMP_COMMAND = ['pilot-agent', 'request', 'GET', 'config_dump?resource=dynamic_active_secrets'];

interface DumpSecret {
  name?: string;
  secret?: {
    name?: string;
    tls_certificate?: { certificate_chain?: { inline_bytes?: string } };
    validation_context?: { trusted_ca?: { inline_bytes?: string } };
  };
}

/**
 * Extracts the trust bundle and workload chain from a config_dump (JSON text), in either shape Envoy gives: with
 * `?resource=dynamic_active_secrets` each entry of `configs` is one SecretsConfigDump.DynamicSecret; without it
 * one entry is a SecretsConfigDump holding `dynamic_active_secrets`.
 */
export function parseConfigDump(text: string): ProxyCerts {
  const dump = JSON.parse(text) as { configs?: (DumpSecret & { dynamic_active_secrets?: DumpSecret[] })[] };
  const secrets = (dump.configs ?? []).flatMap((c) => c.dynamic_active_secrets ?? (c.secret ? [c] : []));
  const decode = (b?: string) => (b ? Buffer.from(b, 'base64').toString('utf8') : undefined);
  const rootca = secrets.find((s) => (s.name ?? s.secret?.name) === 'ROOTCA');
  const workload = secrets.find((s) => (s.name ?? s.secret?.name) === 'default');
  const rootPem = decode(rootca?.secret?.validation_context?.trusted_ca?.inline_bytes);
  const chainPem = decode(workload?.secret?.tls_certificate?.certificate_chain?.inline_bytes);
  const leaf = certificatesOf(chainPem)[0];
  return {
    roots: pemFingerprints(rootPem),
    chain: pemFingerprints(chainPem),
    rootSubjects: certificatesOf(rootPem).map((c) => oneLine(c.subject)),
    ...(leaf
      ? {
          leaf: {
            spiffeId: /URI:(spiffe:\/\/[^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1] ?? null,
            issuer: oneLine(leaf.issuer),
            notAfter: new Date(leaf.validTo).toISOString(),
          },
        }
      : {}),
  };
}

const oneLine = (dn: string) => dn.split('\n').join(', ');

function certificatesOf(pem: string | undefined): X509Certificate[] {
  if (!pem) return [];
  try {
    return parsePem(pem)
      .filter((b) => b.label === 'CERTIFICATE')
      .flatMap((b) => {
        try {
          return [new X509Certificate(b.der)];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    if (this.text.length < 64 * 1024 * 1024) this.text += chunk.toString('utf8');
    cb();
  }
}

/**
 * Reads proxies with pods/exec through @kubernetes/client-node (loaded only for --proxies), with a KubeConfig built
 * from the plugin's own resolved connection (src/kube/client-node.ts).
 */
export async function execProxyReader(kc: KubeConfig): Promise<ProxyReader> {
  const k8s = await import('@kubernetes/client-node');
  const exec = new k8s.Exec(kc);
  return {
    async read(namespace, pod) {
      const out = new Collect();
      const err = new Collect();
      try {
        const status = await new Promise<{ status?: string; message?: string }>((resolve, reject) => {
          const timer = setTimeout(() => {
            reject(new Error('exec timed out after 30s'));
          }, 30_000);
          exec
            .exec(namespace, pod, SIDECAR_CONTAINER, CONFIG_DUMP_COMMAND, out, err, null, false, (s) => {
              clearTimeout(timer);
              resolve(s);
            })
            // The socket's type comes from the ws package, whose types are not installed; only 'close' is used.
            .then((ws: { on(event: 'close', listener: () => void): unknown }) =>
              ws.on('close', () =>
                setTimeout(() => {
                  resolve({ status: 'Success' });
                }, 50),
              ),
            )
            .catch((e: unknown) => {
              clearTimeout(timer);
              reject(e);
            });
        });
        if (status.status !== 'Success')
          return {
            namespace,
            pod,
            ok: false,
            forbidden: false,
            error: `pilot-agent failed: ${status.message ?? err.text.trim().slice(0, 200)}`,
          };
        return { namespace, pod, ok: true, certs: parseConfigDump(out.text) };
      } catch (e) {
        const msg = String((e as { message?: string })?.message ?? e);
        const forbidden =
          /403|forbidden/i.test(msg) || /403/.test(String((e as { statusCode?: number }).statusCode ?? ''));
        return {
          namespace,
          pod,
          ok: false,
          forbidden,
          error: forbidden ? `forbidden: create pods/exec in namespace ${namespace}` : msg.slice(0, 200),
        };
      }
    },
  };
}

/** Reads every pod with at most `concurrency` execs in flight. */
export async function readProxies(
  reader: ProxyReader,
  pods: { namespace: string; name: string }[],
  concurrency: number,
): Promise<ProxyReading[]> {
  const results = new Array<ProxyReading>(pods.length);
  let next = 0;
  const worker = async () => {
    while (next < pods.length) {
      const i = next++;
      results[i] = await reader.read(pods[i].namespace, pods[i].name);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, pods.length) }, worker));
  return results;
}
