/**
 * Projections: the few fields of an object a caller reads, named once as a schema and used both ways, so the two
 * encodings give the same object. From protobuf they are all that is decoded (the rest, the pod template and
 * managedFields among it, is skipped by length); from JSON the parsed object is cut down to them. A caller that asks
 * for a projection must read nothing else: the strict test fake projects the same way.
 *
 * `rollout`: what rollouts of Deployments, StatefulSets and DaemonSets are judged from (restart/rollout.ts): the
 * metadata, replicas, selector, strategies and ordinals, and the status. `workload`: the same and, of the pod
 * template, what restart chooses workloads by (restart/targets.ts): its labels and annotations and its containers'
 * names. Field numbers are those of k8s.io/api apps/v1 and core/v1 and k8s.io/apimachinery meta/v1 generated.proto.
 */
import { memberKey } from './managed-fields.js';
import { mapEntry, objectMeta, type ProtoReader } from './protobuf.js';
import type { KubeObject } from './resources.js';

export type Projection = 'rollout' | 'workload';

/**
 * A field: its JSON name and type. `int` and `string` and `bool` are left out when zero, empty or false (the JSON
 * omitempty of the fields here); `int?` (a pointer) is kept when zero.
 */
type FieldType = 'string' | 'int' | 'int?' | 'bool' | 'meta' | 'map' | Schema | { list: Schema };
type Schema = Readonly<Record<number, readonly [name: string, type: FieldType]>>;

const SELECTOR: Schema = { 1: ['matchLabels', 'map'] };
const CONDITION: Schema = {
  1: ['type', 'string'],
  2: ['status', 'string'],
  4: ['reason', 'string'],
  5: ['message', 'string'],
};
const STRATEGY: Schema = { 1: ['type', 'string'] };

const ROLLOUT: Readonly<Record<string, Schema>> = {
  Deployment: {
    1: ['metadata', 'meta'],
    2: [
      'spec',
      {
        1: ['replicas', 'int?'],
        2: ['selector', SELECTOR],
        4: ['strategy', STRATEGY],
        5: ['minReadySeconds', 'int'],
        7: ['paused', 'bool'],
        9: ['progressDeadlineSeconds', 'int?'],
      },
    ],
    3: [
      'status',
      {
        1: ['observedGeneration', 'int'],
        2: ['replicas', 'int'],
        3: ['updatedReplicas', 'int'],
        4: ['availableReplicas', 'int'],
        5: ['unavailableReplicas', 'int'],
        6: ['conditions', { list: CONDITION }],
        7: ['readyReplicas', 'int'],
        9: ['terminatingReplicas', 'int?'],
      },
    ],
  },
  StatefulSet: {
    1: ['metadata', 'meta'],
    2: [
      'spec',
      {
        1: ['replicas', 'int?'],
        2: ['selector', SELECTOR],
        5: ['serviceName', 'string'],
        7: ['updateStrategy', { 1: ['type', 'string'], 2: ['rollingUpdate', { 1: ['partition', 'int?'] }] }],
        11: ['ordinals', { 1: ['start', 'int'] }],
      },
    ],
    3: [
      'status',
      {
        1: ['observedGeneration', 'int'],
        2: ['replicas', 'int'],
        3: ['readyReplicas', 'int'],
        4: ['currentReplicas', 'int'],
        5: ['updatedReplicas', 'int'],
        6: ['currentRevision', 'string'],
        7: ['updateRevision', 'string'],
        10: ['conditions', { list: CONDITION }],
        11: ['availableReplicas', 'int'],
      },
    ],
  },
  DaemonSet: {
    1: ['metadata', 'meta'],
    2: ['spec', { 1: ['selector', SELECTOR], 3: ['updateStrategy', STRATEGY] }],
    3: [
      'status',
      {
        1: ['currentNumberScheduled', 'int'],
        2: ['numberMisscheduled', 'int'],
        3: ['desiredNumberScheduled', 'int'],
        4: ['numberReady', 'int'],
        5: ['observedGeneration', 'int'],
        6: ['updatedNumberScheduled', 'int'],
        7: ['numberAvailable', 'int'],
        8: ['numberUnavailable', 'int'],
        10: ['conditions', { list: CONDITION }],
      },
    ],
  },
};

/** Of a PodTemplateSpec (metadata = 1, spec = 2): labels = 11 and annotations = 12 of its ObjectMeta; the name = 1
 * of each of the PodSpec's containers = 2 and initContainers = 20. */
const NAMED: Schema = { 1: ['name', 'string'] };
const TEMPLATE: Schema = {
  1: ['metadata', { 11: ['labels', 'map'], 12: ['annotations', 'map'] }],
  2: ['spec', { 2: ['containers', { list: NAMED }], 20: ['initContainers', { list: NAMED }] }],
};
/** The template's field in each kind's spec. */
const TEMPLATE_FIELD: Readonly<Record<string, number>> = { Deployment: 3, StatefulSet: 3, DaemonSet: 2 };

const WORKLOAD: Readonly<Record<string, Schema>> = Object.fromEntries(
  Object.entries(ROLLOUT).map(([kind, schema]) => {
    const [, spec] = schema[2] as readonly [string, Schema];
    return [kind, { ...schema, 2: ['spec', { ...spec, [TEMPLATE_FIELD[kind]]: ['template', TEMPLATE] }] }];
  }),
);

const SCHEMAS: Readonly<Record<Projection, Readonly<Record<string, Schema>>>> = {
  rollout: ROLLOUT,
  workload: WORKLOAD,
};

/** JSON members cut from the text before parsing when a projection is wanted (they are most of what it drops). */
const PROJECTION_CUTS: Readonly<Record<Projection, readonly string[]>> = { rollout: ['template'], workload: [] };

/** The members cut from a JSON text (as memberKey texts) before it is parsed and projected: managedFields always. */
export function projectionCuts(projection: Projection | undefined): Buffer[] {
  return ['managedFields', ...(projection ? PROJECTION_CUTS[projection] : [])].map(memberKey);
}

/** The schema of `kind` under the projection, or undefined when the projection has none for it. */
export function schemaOf(projection: Projection, kind: string | undefined): Schema | undefined {
  return kind === undefined ? undefined : SCHEMAS[projection][kind];
}

/** A message decoded as the schema names it; fields not in the schema are skipped. */
export function decodeProjected(r: ProtoReader, schema: Schema): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    const field = schema[f];
    if (!field) {
      r.skip(w);
      continue;
    }
    const [name, type] = field;
    if (type === 'string' && w === 2) {
      const s = r.string();
      if (s !== '') o[name] = s;
    } else if ((type === 'int' || type === 'int?' || type === 'bool') && w === 0) {
      const v = r.varint();
      if (type === 'bool') {
        if (v !== 0) o[name] = true;
      } else if (v !== 0 || type === 'int?') o[name] = v;
    } else if (type === 'meta' && w === 2) o[name] = objectMeta(r.message());
    else if (type === 'map' && w === 2) mapEntry(r.message(), (o[name] ??= {}) as Record<string, string>);
    else if (typeof type === 'object' && 'list' in type && w === 2)
      ((o[name] ??= []) as unknown[]).push(decodeProjected(r.message(), type.list));
    else if (typeof type === 'object' && !('list' in type) && w === 2) o[name] = decodeProjected(r.message(), type);
    else r.skip(w);
  }
  return o;
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === null ||
  v === '' ||
  v === false ||
  (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) ||
  (Array.isArray(v) && v.length === 0);

/** A parsed JSON value cut down to the schema, with the same left-out empties as decodeProjected. */
function projectValue(v: Record<string, unknown>, schema: Schema): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [name, type] of Object.values(schema)) {
    const x = v[name];
    if (x === undefined || x === null) continue;
    if (type === 'int') {
      if (x !== 0) o[name] = x;
    } else if (type === 'meta') {
      const { managedFields: _dropped, ...meta } = x as Record<string, unknown>;
      o[name] = meta;
    } else if (typeof type === 'object' && 'list' in type) {
      if (Array.isArray(x) && x.length) o[name] = x.map((e) => projectValue(e as Record<string, unknown>, type.list));
    } else if (typeof type === 'object') o[name] = projectValue(x as Record<string, unknown>, type);
    else if (type === 'int?') o[name] = x;
    else if (type === 'map') {
      if (!isEmpty(x)) o[name] = x;
    } else if (!isEmpty(x)) o[name] = x;
  }
  return o;
}

/**
 * A parsed object (JSON) of `kind` as the projection keeps it: kind and apiVersion, then the schema's fields. An
 * object of a kind the projection has no schema for is returned as it is.
 */
export function project<T extends KubeObject>(o: T, projection: Projection, kind: string): T {
  const schema = schemaOf(projection, kind);
  if (!schema) return o;
  const typed = o.kind === undefined ? {} : { kind: o.kind, apiVersion: o.apiVersion };
  return { ...typed, ...projectValue(o, schema) } as T;
}
