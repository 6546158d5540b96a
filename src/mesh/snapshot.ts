/**
 * Fetch: everything verify and status read from the cluster, with as few and as small requests as possible
 * (paged lists; metadata-only for namespaces and pods). Reads that RBAC forbids are recorded as skipped.
 */
import type { BundleReport } from '../ca/validate.js';
import { istiodEnv, readCaState, type CaState } from '../istio/ca-state.js';
import {
  readTrustBundle,
  rootPublication,
  type PublishedTrustBundle,
  type RootPublication,
} from '../istio/root-publication.js';
import {
  Annotations,
  EXCLUDED_NAMESPACES,
  ROOT_CERT_CONFIGMAP,
  ROOT_CERT_KEY,
  SIDECAR_CONTAINER,
  SIDECAR_STATUS_ANNOTATION,
} from '../istio/names.js';
import { bundleFromSecret, pemFingerprints } from '../istio/secret-bundle.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { Resources, type ConfigMap, type KubeObject, type Pod } from '../kube/resources.js';

export interface SnapshotOptions {
  istioNamespace: string;
  /** Namespaces to look at; undefined means all. */
  namespaces?: string[];
  now: Date;
}

export interface SidecarPod {
  namespace: string;
  name: string;
  createdAt: string;
  /** Kind/name of the controller that owns it (Deployment derived from its ReplicaSet), or Pod/name. */
  owner: string;
}

export interface LastChange {
  at: string | null;
  kind: string | null;
  by: string | null;
  bundleSha256: string | null;
  source: 'annotation' | 'managed-fields' | 'creation' | 'none';
  /** When rotate switched the signer (pods created before hold the previous intermediate's leaves), if recorded. */
  signerChangedAt?: string | null;
  /** When rotate read every gated proxy and found its leaf issued by the current intermediate, if recorded. */
  leavesVerifiedAt?: string | null;
}

export interface MeshSnapshot {
  context: string;
  istioNamespace: string;
  ca: CaState;
  bundle: BundleReport | null;
  /** Roots every namespace should trust, and where they came from. */
  referenceRoots: string[];
  referenceSource: 'cacerts' | 'istio-ca-secret' | 'configmap' | 'none';
  previousRoots: string[];
  lastChange: LastChange;
  istiodPods: Pod[];
  namespaces: string[];
  /** namespace -> root fingerprints in its istio-ca-root-cert; absent when the ConfigMap is missing. */
  rootConfigMaps: Map<string, string[]>;
  /** Where istiod publishes roots for workloads: ConfigMaps, or a ClusterTrustBundle
   * (ENABLE_CLUSTER_TRUST_BUNDLE_API). */
  rootPublication: RootPublication;
  /** The ClusterTrustBundle read when istiod publishes there; null when it does not exist or is not used. */
  trustBundle: PublishedTrustBundle | null;
  sidecarPods: SidecarPod[];
  skipped: string[];
}

function lastChangeOf(secret: KubeObject | null): LastChange {
  if (!secret) return { at: null, kind: null, by: null, bundleSha256: null, source: 'none' };
  const a = secret.metadata.annotations ?? {};
  if (a[Annotations.replacedAt]) {
    return {
      at: a[Annotations.replacedAt],
      kind: a[Annotations.changeKind] ?? null,
      by: a[Annotations.replacedBy] ?? null,
      bundleSha256: a[Annotations.bundleSha256] ?? null,
      source: 'annotation',
      signerChangedAt: a[Annotations.signerChangedAt] ?? null,
      leavesVerifiedAt: a[Annotations.leavesVerifiedAt] ?? null,
    };
  }
  const times = (secret.metadata.managedFields ?? [])
    .map((f) => f.time)
    .filter((t): t is string => !!t)
    .sort();
  if (times.length)
    return { at: times[times.length - 1], kind: null, by: null, bundleSha256: null, source: 'managed-fields' };
  return {
    at: secret.metadata.creationTimestamp ?? null,
    kind: null,
    by: null,
    bundleSha256: null,
    source: 'creation',
  };
}

/** The controller owning a pod: a Deployment through its ReplicaSet name and pod-template-hash, else the owner. */
export function podOwner(pod: KubeObject): string {
  const ref = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!ref) return `Pod/${pod.metadata.name}`;
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash && ref.name.endsWith(`-${hash}`))
    return `Deployment/${ref.name.slice(0, -hash.length - 1)}`;
  return `${ref.kind}/${ref.name}`;
}

async function tolerant<T>(what: string, skipped: string[], fn: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KubeApiError && e.forbidden) {
      skipped.push(
        `${what}: forbidden (${e.verb} ${e.resource}${e.namespace ? ` in ${e.namespace}` : ' cluster-wide'})`,
      );
      return fallback;
    }
    throw e;
  }
}

export async function takeSnapshot(client: KubeClient, opts: SnapshotOptions): Promise<MeshSnapshot> {
  const skipped: string[] = [];
  const scoped = opts.namespaces;
  const listIn = <T extends KubeObject>(
    type: (typeof Resources)[keyof typeof Resources],
    extra: { fieldSelector?: string; metadataOnly?: boolean },
  ) =>
    scoped
      ? Promise.all(scoped.map((ns) => client.list<T>(type, { ...extra, namespace: ns }))).then((x) => x.flat())
      : client.list<T>(type, extra);

  // What does not depend on how istiod publishes its roots is asked for at once, beside the CA's own reads.
  const caRead = readCaState(client, opts.istioNamespace);
  const early = Promise.all([
    tolerant(
      'istiod pods',
      skipped,
      () => client.list<Pod>(Resources.pods, { namespace: opts.istioNamespace, labelSelector: 'app=istiod' }),
      [],
    ),
    tolerant('namespaces', skipped, () => client.list<KubeObject>(Resources.namespaces, { metadataOnly: true }), []),
    tolerant('pods', skipped, () => listIn<KubeObject>(Resources.pods, { metadataOnly: true }), []),
  ]);
  early.catch(() => undefined); // awaited below unless the CA's reads fail first
  // The certificate model (@peculiar/x509 and its ASN.1 stack: most of the code verify loads) is loaded while the
  // lists are in flight, not before they are sent.
  const validation = import('../ca/validate.js');
  validation.catch(() => undefined); // awaited below only when cacerts holds a bundle; rejects there
  const ca = await caRead;
  // cacerts is validated while the lists are in flight (about 45 ms of CPU in a fresh process, which came after the
  // last page before), once the requests below are on their way (setImmediate: after this turn's I/O).
  const cacerts = ca.mode !== 'self-signed' ? ca.cacerts : null;
  const validated = cacerts
    ? new Promise<void>((r) => setImmediate(r))
        .then(() => validation)
        .then(
          ({ validateBundle }) =>
            validateBundle(bundleFromSecret(cacerts), {
              now: opts.now,
              expiryWarningDays: 30,
              istioNamespace: opts.istioNamespace,
            }).report,
        )
    : null;
  validated?.catch(() => undefined); // awaited below, after the lists
  const publication = rootPublication(ca.istiodDeployments.map(istiodEnv));
  const inTrustBundle = publication.kind === 'ClusterTrustBundle';
  const [configMaps, trustBundle] = await Promise.all([
    // istiod with ENABLE_CLUSTER_TRUST_BUNDLE_API writes no ConfigMap: nothing to list then.
    inTrustBundle
      ? Promise.resolve([] as ConfigMap[])
      : tolerant(
          'istio-ca-root-cert ConfigMaps',
          skipped,
          () => listIn<ConfigMap>(Resources.configmaps, { fieldSelector: `metadata.name=${ROOT_CERT_CONFIGMAP}` }),
          [],
        ),
    inTrustBundle
      ? tolerant(
          `ClusterTrustBundle ${publication.name}`,
          skipped,
          () => readTrustBundle(client, publication.name),
          null,
        )
      : Promise.resolve(null),
  ]);
  // Read while the other lists may still be in flight.
  const rootConfigMaps = new Map<string, string[]>();
  // Every namespace holds one of very few root bundles: parse each distinct PEM text once, not once per namespace.
  const fingerprintsOf = new Map<string, string[]>();
  for (const cm of configMaps) {
    const pem = cm.data?.[ROOT_CERT_KEY];
    let fps: string[] = [];
    if (pem !== undefined) {
      fps = fingerprintsOf.get(pem) ?? pemFingerprints(pem);
      fingerprintsOf.set(pem, fps);
    }
    const ns = cm.metadata.namespace;
    if (ns !== undefined) rootConfigMaps.set(ns, fps);
  }
  const [istiodPods, nsObjects, pods] = await early;
  if (!ca.secretsReadable)
    skipped.push(`secrets in ${opts.istioNamespace}: forbidden (get secrets): the CA bundle itself was not read`);

  let bundle: BundleReport | null = null;
  let referenceRoots: string[] = [];
  let referenceSource: MeshSnapshot['referenceSource'] = 'none';
  const istioNamespaceRoots = rootConfigMaps.get(opts.istioNamespace);
  if (validated) {
    bundle = await validated;
    referenceRoots = [...new Set(bundle.roots.map((r) => r.fingerprintSha256))];
    referenceSource = 'cacerts';
  } else if (ca.selfSigned?.data?.['ca-cert.pem']) {
    referenceRoots = pemFingerprints(Buffer.from(ca.selfSigned.data['ca-cert.pem'], 'base64'));
    referenceSource = 'istio-ca-secret';
  } else if (!ca.secretsReadable && istioNamespaceRoots) {
    referenceRoots = istioNamespaceRoots;
    referenceSource = 'configmap';
  }
  const prev = ca.cacerts?.metadata.annotations?.[Annotations.previousRootFingerprints];
  const wanted = scoped ? new Set(scoped) : null;
  const namespaces = (nsObjects.length ? nsObjects.map((n) => n.metadata.name) : (scoped ?? []))
    .filter((n) => !EXCLUDED_NAMESPACES.has(n) && (!wanted || wanted.has(n)))
    .sort();

  const sidecarPods: SidecarPod[] = pods
    .filter(
      (p) =>
        p.metadata.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined ||
        ((p as Pod).spec?.containers ?? []).some((c) => c.name === SIDECAR_CONTAINER),
    )
    .filter((p) => p.metadata.namespace !== opts.istioNamespace || !p.metadata.labels?.app?.startsWith('istiod'))
    .map((p) => ({
      namespace: p.metadata.namespace ?? '',
      name: p.metadata.name,
      createdAt: p.metadata.creationTimestamp ?? '',
      owner: podOwner(p),
    }));

  return {
    context: client.context,
    istioNamespace: opts.istioNamespace,
    ca,
    bundle,
    referenceRoots,
    referenceSource,
    previousRoots: prev ? prev.split(',').filter(Boolean) : [],
    lastChange: lastChangeOf(ca.cacerts),
    istiodPods,
    namespaces,
    rootConfigMaps,
    rootPublication: publication,
    trustBundle,
    sidecarPods,
    skipped,
  };
}
