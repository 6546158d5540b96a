/**
 * Derive: which workloads a restart touches, from pods (metadata is enough) and workload objects. Pure.
 *
 * Control plane = Deployments in the Istio namespace: istiod (label app=istiod, every revision) and the gateways,
 * i.e. the other Deployments there whose pods carry a proxy. Other Deployments in that namespace (Prometheus,
 * Kiali, ...) hold no mesh certificate and are left alone. Everything else is a workload: a Deployment,
 * StatefulSet or DaemonSet outside the Istio-namespace Deployments with at least one pod that carries a sidecar.
 */
import { SIDECAR_CONTAINER, SIDECAR_STATUS_ANNOTATION } from '../istio/names.js';
import type { KubeObject, Pod, PodContainer, Workload } from '../kube/resources.js';
import { WORKLOAD_KINDS, type WorkloadKind } from './rollout.js';

export type Role = 'istiod' | 'gateway' | 'workload';

export interface Target {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  role: Role;
  /** Pods the workload has now. */
  pods: number;
  /** Their names. */
  podNames: string[];
  /** The workload as listed (spec for strategy checks, generation). */
  object: Workload;
}

/** A sidecar pod no Deployment, StatefulSet or DaemonSet manages (bare pod, Job, ReplicaSet of its own). */
export interface UnmanagedPod {
  namespace: string;
  name: string;
  owner: string;
}

export interface Inventory {
  pods: KubeObject[];
  workloads: Record<WorkloadKind, Workload[]>;
}

export interface Selection {
  istiod: Target[];
  gateways: Target[];
  workloads: Target[];
  unmanagedPods: UnmanagedPod[];
}

export interface SelectOptions {
  istioNamespace: string;
  /** Namespaces workloads may come from; null for all. */
  workloadNamespaces: string[] | null;
  controlPlane: boolean;
  workloads: boolean;
}

const hasProxy = (containers: PodContainer[] | undefined) =>
  (containers ?? []).some((c) => c.name === SIDECAR_CONTAINER);

/** A pod carries a sidecar: injected (annotation sidecar.istio.io/status) or an istio-proxy container (also native). */
export function podHasSidecar(pod: KubeObject): boolean {
  if (pod.metadata.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined) return true;
  const spec = (pod as Pod).spec;
  return hasProxy(spec?.containers) || hasProxy(spec?.initContainers);
}

/** The pod template carries a sidecar: manual injection, or a gateway whose template names istio-proxy. */
export function templateHasSidecar(w: Workload): boolean {
  const t = w.spec?.template;
  if (t?.metadata?.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined) return true;
  const spec = t?.spec;
  return hasProxy(spec?.containers) || hasProxy(spec?.initContainers);
}

export function isIstiod(w: Workload): boolean {
  return w.metadata.labels?.app === 'istiod' || w.spec?.template?.metadata?.labels?.app === 'istiod';
}

/**
 * Ambient's ztunnel: a DaemonSet whose container is also named istio-proxy, holding certificates for every pod on
 * its node. Restarting it is a node-wide disruption, never a sidecar restart.
 */
export function isZtunnel(w: Workload): boolean {
  const labels = { ...(w.spec?.template?.metadata?.labels ?? {}), ...(w.metadata.labels ?? {}) };
  return labels.app === 'ztunnel' || labels['app.kubernetes.io/name'] === 'ztunnel' || w.metadata.name === 'ztunnel';
}

type OwnerKey = `${WorkloadKind}/${string}/${string}`;
const key = (kind: WorkloadKind, namespace: string, name: string): OwnerKey => `${kind}/${namespace}/${name}`;

/**
 * The workload a pod belongs to: a Deployment through its ReplicaSet (the ReplicaSet is named
 * <deployment>-<pod-template-hash>), or the StatefulSet or DaemonSet that owns it. Null otherwise.
 */
export function podWorkload(pod: KubeObject): { kind: WorkloadKind; name: string } | { kind: null; owner: string } {
  const ref = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!ref) return { kind: null, owner: 'none' };
  if (ref.kind === 'ReplicaSet') {
    const hash = pod.metadata.labels?.['pod-template-hash'];
    if (hash && ref.name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
  }
  if (ref.kind === 'StatefulSet' || ref.kind === 'DaemonSet') return { kind: ref.kind, name: ref.name };
  return { kind: null, owner: `${ref.kind}/${ref.name}` };
}

const byName = (a: Target, b: Target) =>
  a.namespace.localeCompare(b.namespace) ||
  WORKLOAD_KINDS.indexOf(a.kind) - WORKLOAD_KINDS.indexOf(b.kind) ||
  a.name.localeCompare(b.name);

/** Picks istiod, the gateways and the sidecar workloads from an inventory. Sorted by namespace, kind, name. */
export function selectTargets(inv: Inventory, opts: SelectOptions): Selection {
  const known = new Map<OwnerKey, { kind: WorkloadKind; object: Workload; pods: KubeObject[] }>();
  for (const kind of WORKLOAD_KINDS) {
    for (const w of inv.workloads[kind])
      known.set(key(kind, w.metadata.namespace ?? '', w.metadata.name), { kind, object: w, pods: [] });
  }
  const inScope = (ns: string) => opts.workloadNamespaces === null || opts.workloadNamespaces.includes(ns);
  const unmanagedPods: UnmanagedPod[] = [];
  for (const pod of inv.pods) {
    const ns = pod.metadata.namespace ?? '';
    const owner = podWorkload(pod);
    const entry = owner.kind ? known.get(key(owner.kind, ns, owner.name)) : undefined;
    if (entry) entry.pods.push(pod);
    else if (opts.workloads && inScope(ns) && podHasSidecar(pod)) {
      unmanagedPods.push({
        namespace: ns,
        name: pod.metadata.name,
        owner: owner.kind ? `${owner.kind}/${owner.name} (not found)` : owner.owner,
      });
    }
  }

  const sel: Selection = { istiod: [], gateways: [], workloads: [], unmanagedPods };
  for (const { kind, object, pods } of known.values()) {
    const namespace = object.metadata.namespace ?? '';
    const target = (role: Role): Target => ({
      kind,
      namespace,
      name: object.metadata.name,
      role,
      pods: pods.length,
      podNames: pods.map((p) => p.metadata.name).sort(),
      object,
    });
    const sidecar = pods.length > 0 && (pods.some(podHasSidecar) || templateHasSidecar(object));
    if (kind === 'Deployment' && namespace === opts.istioNamespace) {
      if (!opts.controlPlane) continue;
      if (isIstiod(object)) sel.istiod.push(target('istiod'));
      else if (sidecar) sel.gateways.push(target('gateway'));
      continue;
    }
    if (kind === 'DaemonSet' && isZtunnel(object)) continue;
    if (opts.workloads && sidecar && inScope(namespace)) sel.workloads.push(target('workload'));
  }
  sel.istiod.sort(byName);
  sel.gateways.sort(byName);
  sel.workloads.sort(byName);
  unmanagedPods.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return sel;
}
