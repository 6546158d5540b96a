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
}

export function specOf(w: Workload): RollableSpec {
  return (w.spec ?? {}) as RollableSpec;
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
      hint: `restart its pods by deleting them (kubectl delete pod -n ${ns}${selectorArg(w)}), or switch its updateStrategy to RollingUpdate`,
    };
  }
  return null;
}

export type RolloutState =
  { phase: 'done'; message: string } | { phase: 'waiting'; message: string } | { phase: 'failed'; message: string };

const n = (v: number | undefined) => v ?? 0;

/** Whether the rollout of the workload's current generation is complete, as `kubectl rollout status` decides. */
export function rolloutState(kind: WorkloadKind, w: Workload): RolloutState {
  const spec = specOf(w);
  const st = w.status ?? {};
  const generation = n(w.metadata.generation);
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
      const replicas = spec.replicas ?? 1;
      if (n(st.updatedReplicas) < replicas)
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
      return { phase: 'done', message: `${n(st.updatedReplicas)} of ${replicas} replicas updated and available` };
    }
    case 'StatefulSet': {
      if (n(st.observedGeneration) === 0 || generation > n(st.observedGeneration))
        return { phase: 'waiting', message: 'waiting for the StatefulSet controller to observe the restart' };
      const replicas = spec.replicas ?? 1;
      if (n(st.readyReplicas) < replicas)
        return { phase: 'waiting', message: `${replicas - n(st.readyReplicas)} pods not ready` };
      const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      if (n(st.updatedReplicas) < replicas - partition)
        return { phase: 'waiting', message: `${n(st.updatedReplicas)} of ${replicas - partition} pods updated` };
      // With a partition the pods below it keep the old revision by design; otherwise the revisions must meet.
      if (partition === 0 && st.updateRevision !== st.currentRevision)
        return { phase: 'waiting', message: `rolling update to revision ${st.updateRevision ?? '?'} in progress` };
      return {
        phase: 'done',
        message: partition
          ? `partitioned roll out complete: ${n(st.updatedReplicas)} pods updated`
          : `${replicas} pods at revision ${st.updateRevision ?? '?'}`,
      };
    }
    case 'DaemonSet': {
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
