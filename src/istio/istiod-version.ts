/**
 * The Istio version an istiod runs, when its image tag does not say (a digest, a custom tag): istiod answers it on
 * its monitoring port (15014) at /version with pkg/version BuildInfo.String(), "<version>-<git revision>-<build
 * status>" (pilot/pkg/bootstrap/monitoring.go), e.g. "1.28.0-4f1c...-Clean"; a build without release ldflags
 * answers "unknown-unknown-unknown". istioctl reads the same endpoint (pkg/kube/client.go GetIstioVersions) through
 * a port-forward; the plugin goes through the API server's pods/proxy.
 */
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import type { Pod } from '../kube/resources.js';

export const MONITORING_PORT = 15014;
/** How long one version request may take: a pod the API server cannot reach only fails after its dial timeout. */
export const VERSION_TIMEOUT_MS = 8000;

/**
 * The version in istiod's /version answer: x.y.z (with any pre-release suffix, e.g. 1.31.0-alpha.0), or x.y-suffix of a
 * development build as x.y.0-suffix; null for "unknown" and anything else. istioctl's JSON form is read too.
 */
export function parseIstiodVersion(body: string): string | null {
  let text = body.trim();
  try {
    const v = JSON.parse(text) as { clientVersion?: { version?: string } };
    if (v && typeof v === 'object' && typeof v.clientVersion?.version === 'string') text = v.clientVersion.version;
  } catch {
    /* the plain BuildInfo.String() form */
  }
  const full = /^(\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)\.\d+)?)(?:-|$)/.exec(text);
  if (full) return full[1] ?? null;
  const dev = /^(\d+)\.(\d+)-(alpha|beta|dev)\b/.exec(text);
  return dev ? `${dev[1]}.${dev[2]}.0-${dev[3]}` : null;
}

/** The discovery container's port named http-monitoring (Istio's chart), else 15014. */
export function monitoringPort(pod: Pod): number {
  const containers = (pod.spec?.containers ?? []) as {
    name: string;
    ports?: { name?: string; containerPort?: number }[];
  }[];
  const c = containers.find((x) => x.name === 'discovery') ?? containers[0];
  return c?.ports?.find((p) => p.name === 'http-monitoring')?.containerPort ?? MONITORING_PORT;
}

export type VersionReading =
  { ok: true; version: string | null; answer: string; via: string } | { ok: false; error: string; via: string };

/** Asks one istiod pod for its version through pods/proxy; never throws. */
export async function readIstiodVersion(client: KubeClient, pod: Pod): Promise<VersionReading> {
  const ns = pod.metadata.namespace ?? '';
  const port = monitoringPort(pod);
  const via = `pods/proxy ${pod.metadata.name}:${port}/version`;
  if (!client.proxyGet) return { ok: false, error: 'this client cannot reach pods', via };
  try {
    const answer = await client.proxyGet(ns, pod.metadata.name, port, 'version', VERSION_TIMEOUT_MS);
    return { ok: true, version: parseIstiodVersion(answer), answer: answer.trim().slice(0, 120), via };
  } catch (e) {
    const why =
      e instanceof KubeApiError && e.forbidden
        ? 'pods/proxy forbidden'
        : (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 160);
    return { ok: false, error: why, via };
  }
}
