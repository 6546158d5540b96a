/**
 * The one small client interface the plugin's logic uses; a real HTTP implementation and a strict fake implement
 * it.
 */
import type { Projection } from './projection.js';
import type { KubeObject, ResourceType } from './resources.js';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Ask for PartialObjectMetadata only (metadata of each item). */
  metadataOnly?: boolean;
  /** Page size; lists are always paged. */
  limit?: number;
  /**
   * Only the projection's fields of each item are read (projection.ts): the client may ask for protobuf and decode
   * just those, or project each parsed item.
   */
  projection?: Projection;
}

export interface WriteOptions {
  /** Server-side dry run: validated and admitted, not persisted. */
  dryRun?: boolean;
  /**
   * Only the projection's fields of the answer are read (projection.ts): the client may ask for protobuf and decode
   * just those, or cut the rest from JSON.
   */
  projection?: Projection;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export interface KubeClient {
  readonly context: string;
  get<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | null>;
  list<T extends KubeObject>(type: ResourceType, opts?: ListOptions): Promise<T[]>;
  create<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts?: WriteOptions,
  ): Promise<T>;
  /** PUT: fails with 409 Conflict when body.metadata.resourceVersion is stale. */
  update<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: T,
    opts?: WriteOptions,
  ): Promise<T>;
  patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    opts?: WriteOptions,
  ): Promise<T>;
  /** Requests sent so far (for benchmarks and progress). */
  requestCount(): number;
  /** GET `path` on a pod's `port` through the API server (pods/proxy); the answer as text. Absent on fakes. */
  proxyGet?(namespace: string, pod: string, port: number, path: string, timeoutMs: number): Promise<string>;
}
