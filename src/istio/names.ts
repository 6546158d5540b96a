/** Istio's object names and the annotations the plugin records on cacerts. */

export const CACERTS = 'cacerts';
export const SELF_SIGNED_SECRET = 'istio-ca-secret';
export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
export const SIDECAR_CONTAINER = 'istio-proxy';
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
/** Namespaces istiod's namespace controller never writes istio-ca-root-cert into. */
export const EXCLUDED_NAMESPACES = new Set(['kube-public', 'kube-node-lease', 'local-path-storage']);

const PREFIX = 'kubectl-istio-ca.io';
export const Annotations = {
  replacedAt: `${PREFIX}/replaced-at`,
  bundleSha256: `${PREFIX}/bundle-sha256`,
  bundleSource: `${PREFIX}/bundle-source`,
  changeKind: `${PREFIX}/change-kind`,
  rootFingerprints: `${PREFIX}/root-fingerprints`,
  previousRootFingerprints: `${PREFIX}/previous-root-fingerprints`,
  replacedBy: `${PREFIX}/replaced-by`,
  rotationPhase: `${PREFIX}/rotation-phase`,
  rotationTarget: `${PREFIX}/rotation-target`,
  rotationKind: `${PREFIX}/rotation-kind`,
  /** When the signing CA last changed (rotate's switch-signer): pods created before it hold the old signer's leaves. */
  signerChangedAt: `${PREFIX}/signer-changed-at`,
  /** When rotate read every gated sidecar after switch-signer and found its leaf issued by the new intermediate. */
  leavesVerifiedAt: `${PREFIX}/leaves-verified-at`,
} as const;

/** Whether a namespace has sidecar injection turned on by label. */
export function injectionEnabled(labels: Record<string, string> | undefined): boolean {
  if (!labels) return false;
  if (labels['istio-injection'] === 'disabled') return false;
  return labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined;
}
