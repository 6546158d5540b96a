/** `status`: one screen about the mesh's CA, derived from the same snapshot verify uses. */
import type { CertificateInfo } from '../ca/certificate.js';
import type { KeyDescription } from '../ca/keys.js';
import type { CaMode } from '../istio/ca-state.js';
import type { LastChange, MeshSnapshot } from '../mesh/snapshot.js';
import { Annotations } from '../istio/names.js';
import { namespaceSync, podReady, staleWorkloads } from '../verify/checks.js';

export interface StatusCertificate {
  role: 'signing' | 'intermediate' | 'root';
  subject: string;
  serial: string;
  fingerprintSha256: string;
  /** The public key, described as generate and inspect describe it: { type, bits, curve?, label }. */
  key: KeyDescription;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  /** Fraction of the lifetime left, 0..1. */
  lifeLeft: number;
}

export interface StatusResult {
  context: string;
  istioNamespace: string;
  caMode: CaMode;
  externalReason: string | null;
  bundleValid: boolean | null;
  multiRootMesh: boolean | null;
  certificates: StatusCertificate[];
  namespaces: { inSync: number; total: number; outOfSync: string[] };
  /**
   * Where istiod publishes roots for sidecars: a ConfigMap in every namespace, or one ClusterTrustBundle
   * (ENABLE_CLUSTER_TRUST_BUNDLE_API); inSync: it holds every root of the CA (null when not known).
   */
  rootsPublishedIn: { kind: 'ConfigMap' | 'ClusterTrustBundle'; name: string; inSync: boolean | null };
  workloadsAwaitingRestart: { workloads: number; pods: number; items: string[] };
  istiodPods: { name: string; ready: boolean; startedAt: string | null; ageSeconds: number | null }[];
  lastReplacement: LastChange;
  /** The phase of a root rotation recorded on cacerts by `rotate`; 'complete' when finished. */
  rotationPhase: string | null;
  skipped: string[];
}

function toStatusCert(role: StatusCertificate['role'], c: CertificateInfo, now: Date): StatusCertificate {
  const start = Date.parse(c.notBefore);
  const end = Date.parse(c.notAfter);
  return {
    role,
    subject: c.subject,
    serial: c.serial,
    fingerprintSha256: c.fingerprintSha256,
    key: c.key,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    daysLeft: c.daysLeft,
    lifeLeft: Math.max(0, Math.min(1, (end - now.getTime()) / Math.max(1, end - start))),
  };
}

export function deriveStatus(s: MeshSnapshot, now: Date): StatusResult {
  const certificates: StatusCertificate[] = [];
  if (s.bundle?.signingCert) certificates.push(toStatusCert('signing', s.bundle.signingCert, now));
  const roots = s.bundle?.roots ?? [];
  for (const c of s.bundle?.chain.slice(1) ?? [])
    if (!roots.some((r) => r.fingerprintSha256 === c.fingerprintSha256))
      certificates.push(toStatusCert('intermediate', c, now));
  for (const r of s.bundle?.roots ?? []) certificates.push(toStatusCert('root', r, now));
  const sync = namespaceSync(s);
  const stale = staleWorkloads(s);
  return {
    context: s.context,
    istioNamespace: s.istioNamespace,
    caMode: s.ca.mode,
    externalReason: s.ca.externalReason,
    bundleValid: s.bundle ? s.bundle.valid : null,
    multiRootMesh: s.ca.multiRoot,
    certificates,
    namespaces: {
      inSync: s.referenceRoots.length ? sync.inSync.length : 0,
      total: s.namespaces.length,
      outOfSync: [...sync.missingConfigMap, ...sync.missingRoots].sort(),
    },
    rootsPublishedIn: {
      kind: s.rootPublication.kind,
      name: s.rootPublication.name,
      inSync:
        s.rootPublication.kind === 'ClusterTrustBundle'
          ? s.trustBundle && s.referenceRoots.length
            ? s.referenceRoots.every((f) => s.trustBundle?.roots.includes(f) === true)
            : s.referenceRoots.length
              ? false
              : null
          : s.referenceRoots.length
            ? sync.inSync.length === s.namespaces.length
            : null,
    },
    workloadsAwaitingRestart: {
      workloads: stale.size,
      pods: [...stale.values()].reduce((n, p) => n + p.length, 0),
      items: [...stale.keys()].sort(),
    },
    istiodPods: s.istiodPods.map((p) => {
      const started = p.status?.startTime ?? p.metadata.creationTimestamp ?? null;
      return {
        name: p.metadata.name,
        ready: podReady(p),
        startedAt: started,
        ageSeconds: started ? Math.floor((now.getTime() - Date.parse(started)) / 1000) : null,
      };
    }),
    lastReplacement: s.lastChange,
    rotationPhase: s.ca.cacerts?.metadata.annotations?.[Annotations.rotationPhase] ?? null,
    skipped: s.skipped,
  };
}
