/** The Kubernetes resource types the plugin touches, and their REST paths. */

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const Resources = {
  secrets: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  configmaps: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  namespaces: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' },
  pods: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  statefulsets: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet' },
  daemonsets: { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet' },
} as const satisfies Record<string, ResourceType>;

/** /api/v1/namespaces/NS/secrets/NAME and friends; cluster-wide when namespace is undefined. */
export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns =
    namespace !== undefined && type.plural !== 'namespaces' ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${type.plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  managedFields?: { time?: string; manager?: string; operation?: string }[];
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export interface PodContainer {
  name: string;
  env?: { name: string; value?: string }[];
  args?: string[];
}

export interface Pod extends KubeObject {
  spec?: { containers?: PodContainer[]; initContainers?: PodContainer[]; nodeName?: string };
  status?: {
    phase?: string;
    startTime?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; state?: { running?: { startedAt?: string } } }[];
  };
}

export interface Workload extends KubeObject {
  spec?: {
    replicas?: number;
    template?: {
      metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
      spec?: { containers?: PodContainer[]; initContainers?: PodContainer[] };
    };
    updateStrategy?: { type?: string };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}
