/** What the rotation planner knows about each cluster: plain data read by src/rotate/state.ts. */
import type { BundleData, BundleLayout } from '../ca/bundle.js';

export const PHASE_ORDER = ['plug-self-signed', 'trust-both', 'switch-signer', 'drop-old'] as const;
export type RotationPhase = (typeof PHASE_ORDER)[number] | 'replace-and-restart';
export type RotationKind = 'intermediate-only' | 'root-rotation' | 'self-signed-to-plugged' | 'downtime-replace';

export interface IstiodFacts {
  /** Deployment name. */
  name: string;
  /** istio.io/rev of the Deployment, null for the default revision. */
  revision: string | null;
  multiRoot: boolean;
  /**
   * Istio version from the discovery container's image tag (1.28.0), or, when the tag does not say, from istiod's
   * own /version (monitoring port, through pods/proxy); null when neither says.
   */
  version: string | null;
  /** Where `version` came from, or why it is unknown; said in the plan. */
  versionSource?: 'image tag' | 'version endpoint' | null;
  versionNote?: string;
  image: string | null;
}

export interface RestartCounts {
  istiod: number;
  gateways: number;
  workloads: number;
  /** Sidecar pods of those workloads (and gateways). */
  pods: number;
}

export interface MeshFacts {
  istiods: IstiodFacts[];
  /** Sidecar pods whose agent gets PROXY_CONFIG_XDS_AGENT=true (mesh config or pod annotation), of `total`. */
  push: { enabled: number; total: number };
  restart: RestartCounts;
  /** Pods and workloads a restart cannot roll: bare pods, Jobs, partitioned or OnDelete StatefulSets, ztunnel. */
  attention: string[];
  /** The controller that owns cacerts and would revert a write (label or annotation that says so), or null. */
  cacertsOwner: string | null;
  /** The ClusterTrustBundle istiod publishes roots in (ENABLE_CLUSTER_TRUST_BUNDLE_API), null for ConfigMaps. */
  trustBundle?: string | null;
  /** Mesh shapes the gates adapt to (discoverySelectors, renamed ConfigMap, revisions), said in the plan. */
  notes: string[];
}

export interface RecordedRotation {
  phase: string;
  target: string | null;
  kind: string | null;
}

export interface ClusterInput {
  context: string;
  /** istiod signs with its self-signed istio-ca-secret and there is no cacerts. */
  selfSigned: boolean;
  /** The CA in use, cacerts view (the self-signed certificate as a plug-in bundle when selfSigned). */
  current: BundleData;
  /** The layout cacerts uses today; every phase is written in it. */
  layout: BundleLayout;
  /** The rotation recorded on cacerts by an earlier run, if any. */
  recorded: RecordedRotation | null;
  /** The new bundle for this cluster, cacerts view. */
  next: BundleData;
  mesh: MeshFacts;
}
