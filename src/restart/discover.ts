/**
 * Fetch: the pods and workloads a restart chooses from, in few requests. One paged metadata-only pod list per
 * scope (cluster-wide, or each -n namespace plus the Istio namespace), then one paged list per workload kind that
 * owns any of those pods. ReplicaSets are never listed: a pod's pod-template-hash label names its Deployment.
 * Workloads are read as the `workload` projection (kube/projection.ts): what rollouts are judged from, and of the pod
 * template only its labels, annotations and container names; the rest of the template is never decoded.
 */
import { Resources, type KubeObject, type Workload } from '../kube/resources.js';
import type { VersionedList, WatchClient } from '../kube/watch.js';
import { RESOURCE_OF, WORKLOAD_KINDS, type WorkloadKind } from './rollout.js';
import { podWorkload, type Inventory } from './targets.js';

export interface DiscoverOptions {
  istioNamespace: string;
  /** Namespaces to restart workloads in; undefined for every namespace. */
  namespaces: string[] | undefined;
  controlPlane: boolean;
  workloads: boolean;
}

export interface Discovery extends Inventory {
  /** Whether the lists were cluster-wide (then status polls may list cluster-wide too). */
  clusterWide: boolean;
  /** Each workload list as made, by countKey(kind, scope): rollout waits watch from its resourceVersion. */
  lists: Map<string, VersionedList<Workload>>;
}

/** Objects per list request, in discovery and informers: fewer, larger pages save requests under a tight rate limit. */
export const LIST_PAGE = 1000;

export const countKey = (kind: WorkloadKind, namespace: string | undefined) => `${kind}/${namespace ?? ''}`;

/** Lists what the selection needs; a forbidden list throws (the caller names verb, resource and namespace). */
export async function discover(client: WatchClient, opts: DiscoverOptions): Promise<Discovery> {
  const clusterWide = opts.workloads && opts.namespaces === undefined;
  const scopes: (string | undefined)[] = clusterWide
    ? [undefined]
    : [
        ...new Set([
          ...(opts.workloads ? (opts.namespaces ?? []) : []),
          ...(opts.controlPlane ? [opts.istioNamespace] : []),
        ]),
      ].sort();

  const perScope = await Promise.all(
    scopes.map(async (namespace) => {
      const pods = await client.list<KubeObject>(Resources.pods, {
        ...(namespace !== undefined ? { namespace } : {}),
        metadataOnly: true,
        limit: LIST_PAGE,
      });
      const needed = new Set<WorkloadKind>();
      for (const p of pods) {
        const owner = podWorkload(p);
        if (owner.kind) needed.add(owner.kind);
      }
      // istiod is found by its Deployment even when it has no pods.
      if (opts.controlPlane && (namespace === undefined || namespace === opts.istioNamespace)) needed.add('Deployment');
      const lists = await Promise.all(
        WORKLOAD_KINDS.map(
          async (kind) =>
            [
              kind,
              needed.has(kind)
                ? await client.listVersioned<Workload>(RESOURCE_OF[kind], {
                    ...(namespace !== undefined ? { namespace } : {}),
                    limit: LIST_PAGE,
                    projection: 'workload',
                  })
                : null,
            ] as const,
        ),
      );
      return { namespace, pods, lists };
    }),
  );

  const inv: Discovery = {
    pods: [],
    workloads: { Deployment: [], StatefulSet: [], DaemonSet: [] },
    clusterWide,
    lists: new Map(),
  };
  for (const s of perScope) {
    inv.pods.push(...s.pods);
    for (const [kind, list] of s.lists) {
      if (!list) continue;
      inv.lists.set(countKey(kind, s.namespace), list);
      for (const w of list.items) {
        inv.workloads[kind].push(w);
      }
    }
  }
  return inv;
}
