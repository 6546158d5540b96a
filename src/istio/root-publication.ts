/**
 * Where istiod publishes its root bundle for workloads (what sidecars mount as root-cert.pem to verify istiod): a
 * ConfigMap in every namespace (istio-ca-root-cert, or PILOT_CA_CERT_CONFIGMAP), or, with
 * ENABLE_CLUSTER_TRUST_BUNDLE_API=true, one cluster-scoped ClusterTrustBundle and no ConfigMaps at all
 * (pilot/pkg/serviceregistry/kube/controller/multicluster.go runs one controller or the other;
 * pilot/pkg/config/kube/clustertrustbundle/controller.go fixes the name and signerName, whatever
 * PILOT_CA_CERT_CONFIGMAP says). Istio's injection template then mounts that ClusterTrustBundle by name.
 */
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import type { KubeObject, ResourceType } from '../kube/resources.js';
import { pemFingerprints } from './secret-bundle.js';
import { ROOT_CERT_CONFIGMAP } from './names.js';

export const CLUSTER_TRUST_BUNDLE_ENV = 'ENABLE_CLUSTER_TRUST_BUNDLE_API';
/** The ClusterTrustBundle istiod writes (istioClusterTrustBundleName) and its signerName. */
export const ISTIOD_TRUST_BUNDLE = 'istio.io:istiod-ca:root-cert';
export const ISTIOD_TRUST_BUNDLE_SIGNER = 'istio.io/istiod-ca';

export type RootPublication =
  { kind: 'ConfigMap'; name: string } | { kind: 'ClusterTrustBundle'; name: string; signerName: string };

/** Go's strconv.ParseBool true values: how istiod's env.Register reads a boolean setting. */
export function goBoolTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/**
 * Where the istiods with these discovery-container envs publish roots. One istiod with the ClusterTrustBundle API
 * on is enough: the namespace controller and the ClusterTrustBundle controller share one leader election.
 */
export function rootPublication(envs: Map<string, string>[]): RootPublication {
  if (envs.some((e) => goBoolTrue(e.get(CLUSTER_TRUST_BUNDLE_ENV))))
    return { kind: 'ClusterTrustBundle', name: ISTIOD_TRUST_BUNDLE, signerName: ISTIOD_TRUST_BUNDLE_SIGNER };
  return {
    kind: 'ConfigMap',
    name: envs.map((e) => e.get('PILOT_CA_CERT_CONFIGMAP')).find((v) => v) ?? ROOT_CERT_CONFIGMAP,
  };
}

/** Whether some istiods publish to a ClusterTrustBundle and others to ConfigMaps: only the leader's place is kept. */
export function mixedPublication(envs: Map<string, string>[]): boolean {
  const on = envs.filter((e) => goBoolTrue(e.get(CLUSTER_TRUST_BUNDLE_ENV))).length;
  return on > 0 && on < envs.length;
}

/** certificates.k8s.io versions serving ClusterTrustBundles: beta since Kubernetes 1.33 (Istio's), alpha before. */
export const CLUSTER_TRUST_BUNDLE_VERSIONS = ['v1beta1', 'v1alpha1'] as const;

export function clusterTrustBundles(version: (typeof CLUSTER_TRUST_BUNDLE_VERSIONS)[number]): ResourceType {
  return { group: 'certificates.k8s.io', version, plural: 'clustertrustbundles', kind: 'ClusterTrustBundle' };
}

export interface ClusterTrustBundle extends KubeObject {
  spec?: { signerName?: string; trustBundle?: string };
}

export interface PublishedTrustBundle {
  name: string;
  /** certificates.k8s.io/v1beta1 or v1alpha1: the version it was read from. */
  apiVersion: string;
  signerName: string | null;
  /** Root fingerprints, each once, in bundle order. */
  roots: string[];
}

/**
 * Reads a ClusterTrustBundle by name (v1beta1, else v1alpha1 on clusters before Kubernetes 1.33); null when no
 * served version has it. Forbidden and other API errors are thrown.
 */
export async function readTrustBundle(client: KubeClient, name: string): Promise<PublishedTrustBundle | null> {
  for (const version of CLUSTER_TRUST_BUNDLE_VERSIONS) {
    const b = await client.get<ClusterTrustBundle>(clusterTrustBundles(version), undefined, name);
    if (b) return published(name, version, b);
  }
  return null;
}

/**
 * The same read as a list of that one name (field selector metadata.name), so a client served from watches
 * (kube/watched-reads.ts) answers it from a watch and a waiter wakes when the bundle changes. `listed` is false when
 * listing was forbidden (only get is allowed) or no version is served: then it was read by GET, and a waiter has to
 * look again on a timer (when none is served it is not read at all: there is nothing to GET).
 */
export async function listTrustBundle(
  client: KubeClient,
  name: string,
): Promise<{ bundle: PublishedTrustBundle | null; listed: boolean }> {
  for (const version of CLUSTER_TRUST_BUNDLE_VERSIONS) {
    let items: ClusterTrustBundle[];
    try {
      items = await client.list<ClusterTrustBundle>(clusterTrustBundles(version), {
        fieldSelector: `metadata.name=${name}`,
      });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) continue; // this version is not served
      // List not allowed: get may be.
      if (e instanceof KubeApiError && e.status === 403)
        return { bundle: await readTrustBundle(client, name), listed: false };
      throw e;
    }
    const b = items.find((i) => i.metadata.name === name);
    return { bundle: b ? published(name, version, b) : null, listed: true };
  }
  // No version is served: a GET of either could only answer 404 too.
  return { bundle: null, listed: false };
}

function published(name: string, version: string, b: ClusterTrustBundle): PublishedTrustBundle {
  return {
    name,
    apiVersion: `certificates.k8s.io/${version}`,
    signerName: b.spec?.signerName ?? null,
    roots: [...new Set(pemFingerprints(b.spec?.trustBundle))],
  };
}

/** "ClusterTrustBundle istio.io:istiod-ca:root-cert" or "ConfigMap istio-ca-root-cert in every namespace". */
export function describePublication(p: RootPublication): string {
  return p.kind === 'ClusterTrustBundle' ? `ClusterTrustBundle ${p.name}` : `ConfigMap ${p.name} in every namespace`;
}
