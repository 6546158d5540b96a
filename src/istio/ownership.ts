/**
 * Who else owns a Secret: controllers that would revert or fight a write to cacerts, recognised by the labels,
 * annotations and owner references they set (pure).
 */
import type { KubeObject } from '../kube/resources.js';

interface Marker {
  tool: string;
  label?: (labels: Record<string, string>) => string | null;
  annotation?: (annotations: Record<string, string>) => string | null;
  owner?: string[];
}

const key = (m: Record<string, string>, k: string) => (m[k] !== undefined ? k : null);
const prefix = (m: Record<string, string>, p: string) => Object.keys(m).find((k) => k.startsWith(p)) ?? null;

const MARKERS: Marker[] = [
  { tool: 'cert-manager', annotation: (a) => prefix(a, 'cert-manager.io/'), owner: ['Certificate'] },
  {
    tool: 'external-secrets',
    label: (l) => prefix(l, 'reconcile.external-secrets.io/'),
    annotation: (a) => prefix(a, 'reconcile.external-secrets.io/'),
    owner: ['ExternalSecret'],
  },
  { tool: 'sealed-secrets', annotation: (a) => prefix(a, 'sealedsecrets.bitnami.com/'), owner: ['SealedSecret'] },
  {
    tool: 'Argo CD',
    label: (l) => key(l, 'argocd.argoproj.io/instance'),
    annotation: (a) => key(a, 'argocd.argoproj.io/tracking-id'),
  },
  {
    tool: 'Flux',
    label: (l) => prefix(l, 'kustomize.toolkit.fluxcd.io/') ?? prefix(l, 'helm.toolkit.fluxcd.io/'),
  },
  {
    tool: 'Helm',
    label: (l) => (l['app.kubernetes.io/managed-by']?.toLowerCase() === 'helm' ? 'app.kubernetes.io/managed-by' : null),
    annotation: (a) => key(a, 'meta.helm.sh/release-name'),
  },
];

/** The tool managing `obj` and the mark that says so ("Helm (label app.kubernetes.io/managed-by)"), or null. */
export function managingController(obj: KubeObject): string | null {
  const labels = obj.metadata.labels ?? {};
  const annotations = obj.metadata.annotations ?? {};
  const owners = obj.metadata.ownerReferences ?? [];
  for (const m of MARKERS) {
    const owner = owners.find((o) => m.owner?.includes(o.kind));
    if (owner) return `${m.tool} (owner ${owner.kind}/${owner.name})`;
    const l = m.label?.(labels);
    if (l) return `${m.tool} (label ${l})`;
    const a = m.annotation?.(annotations);
    if (a) return `${m.tool} (annotation ${a})`;
  }
  return null;
}
