/**
 * Pure rollout logic, as kubectl has it (rollout_restart.go and polymorphichelpers/rollout_status.go): the restart
 * patch, which workloads cannot be rolled, and whether a rollout is done, still waiting or failed.
 */
import { RESTARTED_AT_ANNOTATION } from '../istio/names.js';
import { Resources, type ResourceType, type Workload } from '../kube/resources.js';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

export const RESOURCE_OF: Record<WorkloadKind, ResourceType> = {
  Deployment: Resources.deployments,
  StatefulSet: Resources.statefulsets,
  DaemonSet: Resources.daemonsets,
};

/** The fields of Deployment, StatefulSet and DaemonSet specs that rollouts depend on (Workload types the rest). */
export interface RollableSpec {
  replicas?: number;
  paused?: boolean;
  selector?: { matchLabels?: Record<string, string> };
  strategy?: { type?: string };
  updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  /** StatefulSet: the first pod ordinal (default 0). */
  ordinals?: { start?: number };
}

export function specOf(w: Workload): RollableSpec {
  return w.spec ?? {};
}

/** kubectl rollout restart's strategic-merge patch: a new restartedAt on the pod template rolls every pod. */
export function restartPatch(restartedAt: string): unknown {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
}

export interface Unrollable {
  message: string;
  hint: string;
}

function selectorArg(w: Workload): string {
  const labels = specOf(w).selector?.matchLabels ?? {};
  const sel = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return sel ? ` -l ${sel}` : '';
}

/**
 * Why a workload cannot be rolled by patching its template, or null when it can: an OnDelete update strategy
 * (pods change only when deleted) or a paused Deployment (kubectl refuses to restart it too).
 */
export function unrollable(kind: WorkloadKind, w: Workload): Unrollable | null {
  const ns = w.metadata.namespace ?? '';
  const ref = `${kind.toLowerCase()}/${w.metadata.name}`;
  if (kind === 'Deployment' && specOf(w).paused) {
    return {
      message: 'the Deployment is paused: a restart would not roll it',
      hint: `resume it first: kubectl rollout resume ${ref} -n ${ns}`,
    };
  }
  if (kind !== 'Deployment' && specOf(w).updateStrategy?.type === 'OnDelete') {
    return {
      message: 'updateStrategy OnDelete: pods are replaced only when deleted, so a restart cannot roll them',
      hint:
        `restart its pods by deleting them (kubectl delete pod -n ${ns}${selectorArg(w)}), or switch its ` +
        `updateStrategy to RollingUpdate`,
    };
  }
  return null;
}

export type RolloutState =
  { phase: 'done'; message: string } | { phase: 'waiting'; message: string } | { phase: 'failed'; message: string };

const n = (v: number | undefined) => v ?? 0;

/**
 * Whether the rollout of the workload's current generation is complete, decided as `kubectl rollout status` decides
 * (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), check for check and in the same order. Two consequences
 * worth knowing: a StatefulSet whose updateStrategy has a rollingUpdate block (the API server adds one by default)
 * is done once the pods above the partition are updated and all are ready, whatever its revisions say; and a
 * partitioned StatefulSet is done with the pods below the partition never restarted (see podsBelowPartition).
 */
export function rolloutState(kind: WorkloadKind, w: Workload): RolloutState {
  const spec = specOf(w);
  const st = w.status ?? {};
  const generation = n(w.metadata.generation);
  const replicas = spec.replicas;
  switch (kind) {
    case 'Deployment': {
      if (generation > n(st.observedGeneration))
        return { phase: 'waiting', message: 'waiting for the Deployment controller to observe the restart' };
      const progressing = st.conditions?.find((c) => c.type === 'Progressing');
      if (progressing?.reason === 'ProgressDeadlineExceeded') {
        return {
          phase: 'failed',
          message: `exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ''}`,
        };
      }
      if (replicas !== undefined && n(st.updatedReplicas) < replicas)
        return { phase: 'waiting', message: `${n(st.updatedReplicas)} of ${replicas} new replicas updated` };
      if (n(st.replicas) > n(st.updatedReplicas))
        return {
          phase: 'waiting',
          message: `${n(st.replicas) - n(st.updatedReplicas)} old replicas pending termination`,
        };
      if (n(st.availableReplicas) < n(st.updatedReplicas))
        return {
          phase: 'waiting',
          message: `${n(st.availableReplicas)} of ${n(st.updatedReplicas)} updated replicas available`,
        };
      return {
        phase: 'done',
        message: `${n(st.updatedReplicas)} of ${replicas ?? n(st.updatedReplicas)} replicas updated and available`,
      };
    }
    case 'StatefulSet': {
      if (spec.updateStrategy?.type !== 'RollingUpdate')
        return { phase: 'failed', message: 'rollout status is only available for the RollingUpdate strategy type' };
      if (n(st.observedGeneration) === 0 || generation > n(st.observedGeneration))
        return { phase: 'waiting', message: 'waiting for the StatefulSet controller to observe the restart' };
      if (replicas !== undefined && n(st.readyReplicas) < replicas)
        return { phase: 'waiting', message: `${replicas - n(st.readyReplicas)} pods not ready` };
      const rolling = spec.updateStrategy.rollingUpdate;
      if (rolling) {
        const partition = rolling.partition;
        if (replicas !== undefined && partition !== undefined && n(st.updatedReplicas) < replicas - partition)
          return { phase: 'waiting', message: `${n(st.updatedReplicas)} of ${replicas - partition} pods updated` };
        return { phase: 'done', message: `partitioned roll out complete: ${n(st.updatedReplicas)} pods updated` };
      }
      if (st.updateRevision !== st.currentRevision)
        return { phase: 'waiting', message: `rolling update to revision ${st.updateRevision ?? '?'} in progress` };
      return {
        phase: 'done',
        message:
          `${n((st as { currentReplicas?: number }).currentReplicas)} pods at revision ` + (st.currentRevision ?? '?'),
      };
    }
    case 'DaemonSet': {
      if (spec.updateStrategy?.type !== 'RollingUpdate')
        return { phase: 'failed', message: 'rollout status is only available for the RollingUpdate strategy type' };
      if (generation > n(st.observedGeneration))
        return { phase: 'waiting', message: 'waiting for the DaemonSet controller to observe the restart' };
      const desired = n(st.desiredNumberScheduled);
      if (n(st.updatedNumberScheduled) < desired)
        return { phase: 'waiting', message: `${n(st.updatedNumberScheduled)} of ${desired} pods updated` };
      if (n(st.numberAvailable) < desired)
        return { phase: 'waiting', message: `${n(st.numberAvailable)} of ${desired} updated pods available` };
      return { phase: 'done', message: `${desired} of ${desired} pods updated and available` };
    }
  }
}

/**
 * The pods a partitioned StatefulSet leaves on its old revision: those whose index (ordinal minus spec.ordinals.start)
 * is below rollingUpdate.partition, as the StatefulSet controller updates only the pods from the last index down to
 * the partition. Named from the pods seen (podNames), or from the spec when none were seen. Null without a partition.
 */
export function podsBelowPartition(w: Workload, podNames: string[]): { partition: number; pods: string[] } | null {
  const spec = specOf(w);
  const partition = spec.updateStrategy?.type === 'RollingUpdate' ? n(spec.updateStrategy.rollingUpdate?.partition) : 0;
  if (partition <= 0) return null;
  const start = n(spec.ordinals?.start);
  const name = w.metadata.name;
  const indexOf = (pod: string) => {
    const m = pod.startsWith(`${name}-`) ? /^\d+$/.exec(pod.slice(name.length + 1)) : null;
    return m ? Number(m[0]) - start : -1;
  };
  const seen = podNames.filter((p) => {
    const i = indexOf(p);
    return i >= 0 && i < partition;
  });
  const pods = podNames.length
    ? seen
    : Array.from({ length: Math.min(partition, spec.replicas ?? 1) }, (_, i) => `${name}-${start + i}`);
  return { partition, pods: pods.sort((a, b) => indexOf(a) - indexOf(b)) };
}
