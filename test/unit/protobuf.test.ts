/**
 * The API server's protobuf, read for metadata-only lists, rollout projections of watch events and patch answers,
 * and Status errors. Messages are built here field by field (the wire format, with generated.proto's numbers);
 * test/e2e/protobuf.test.ts compares both encodings as the real API server sends them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { KubeApiError } from '../../src/kube/errors.js';
import { HttpKubeClient } from '../../src/kube/http.js';
import { localConnection } from './support/local-server.js';
import { Resources } from '../../src/kube/resources.js';
import {
  decodeMetadataList,
  decodeProjectedObject,
  decodeStatus,
  MetadataListDecoder,
  projectedListDecoder,
  ProtoError,
  WatchFrameDecoder,
} from '../../src/kube/protobuf.js';
import { project } from '../../src/kube/projection.js';
import { WatchLineDecoder } from '../../src/kube/watch.js';

// --- a writer of the wire format -------------------------------------------------------------------------------
const varint = (n: number): Buffer => {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
};
type Field = Buffer;
const int = (f: number, n: number): Field => Buffer.concat([varint(f * 8), varint(n)]);
const bytes = (f: number, b: Buffer): Field => Buffer.concat([varint(f * 8 + 2), varint(b.length), b]);
const str = (f: number, s: string): Field => bytes(f, Buffer.from(s));
const msg = (f: number, ...fields: Field[]): Field => bytes(f, Buffer.concat(fields));
const entry = (f: number, k: string, v: string): Field => msg(f, str(1, k), str(2, v));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from('k8s\0', 'latin1'),
    msg(1, str(1, apiVersion), str(2, kind)),
    bytes(2, raw),
    str(3, ''),
    str(4, ''),
  ]);

const T0 = Date.UTC(2026, 10, 30, 1, 2, 3) / 1000;
/** A pod's ObjectMeta with every field, managedFields (17) among them, and an unknown field (99). */
const podMeta = (name: string): Buffer =>
  Buffer.concat([
    str(1, name),
    str(2, 'app-7d9-'),
    str(3, 'shop'),
    str(4, ''),
    str(5, `uid-${name}`),
    str(6, '4711'),
    int(7, 0),
    msg(8, int(1, T0)),
    msg(9, int(1, T0 + 60), int(2, 5)),
    int(10, 30),
    entry(11, 'app', 'shop'),
    entry(11, 'pod-template-hash', '7d9'),
    entry(12, 'sidecar.istio.io/status', '{"containers":["istio-proxy"],"é":"ü"}'),
    msg(13, str(5, 'apps/v1'), str(1, 'ReplicaSet'), str(3, 'app-7d9'), str(4, 'rs-uid'), int(6, 1), int(7, 1)),
    str(14, 'example.com/keep'),
    msg(17, str(1, 'kubelet'), str(2, 'Update'), msg(6, str(1, 'f:status'))),
    str(99, 'a field from a newer API server'),
  ]);
const podJson = (name: string) => ({
  kind: 'PartialObjectMetadata',
  apiVersion: 'meta.k8s.io/v1',
  metadata: {
    name,
    generateName: 'app-7d9-',
    namespace: 'shop',
    uid: `uid-${name}`,
    resourceVersion: '4711',
    creationTimestamp: '2026-11-30T01:02:03Z',
    deletionTimestamp: '2026-11-30T01:03:03Z',
    deletionGracePeriodSeconds: 30,
    labels: { app: 'shop', 'pod-template-hash': '7d9' },
    annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"],"é":"ü"}' },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'app-7d9',
        uid: 'rs-uid',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    finalizers: ['example.com/keep'],
  },
});

const metadataList = (names: string[]) =>
  envelope(
    'meta.k8s.io/v1',
    'PartialObjectMetadataList',
    Buffer.concat([
      msg(1, str(1, ''), str(2, '4712'), str(3, 'next-page'), int(4, 17)),
      ...names.map((n) => msg(2, msg(1, podMeta(n)))),
    ]),
  );

test('a metadata-only list page decodes as its JSON form, managedFields and unknown fields skipped', () => {
  const page = decodeMetadataList(metadataList(['a', 'b']));
  assert.deepEqual(page, {
    metadata: { resourceVersion: '4712', continue: 'next-page', remainingItemCount: 17 },
    items: [podJson('a'), podJson('b')],
  });
});

test('a list page decodes the same whatever its chunks, down to one byte each', () => {
  const body = metadataList(['a', 'bb', 'ccc']);
  const whole = decodeMetadataList(body);
  for (let size = 1; size <= body.length; size++) {
    const d = new MetadataListDecoder();
    for (let at = 0; at < body.length; at += size) d.push(body.subarray(at, at + size));
    assert.deepEqual(d.end(), whole, `chunks of ${size}`);
  }
});

test('a truncated, unwrapped or other list is refused, not half read', () => {
  const body = metadataList(['a']);
  for (const cut of [1, 5, body.length - 1]) {
    const d = new MetadataListDecoder();
    d.push(body.subarray(0, cut));
    assert.throws(() => d.end(), ProtoError, `cut at ${cut}`);
  }
  assert.throws(() => decodeMetadataList(Buffer.from('{"kind":"PartialObjectMetadataList"}')), /envelope/);
  assert.throws(() => decodeMetadataList(envelope('v1', 'PodList', Buffer.alloc(0))), /PodList/);
});

// --- projections -------------------------------------------------------------------------------------------
const deploymentMeta = Buffer.concat([str(1, 'web'), str(3, 'shop'), str(5, 'd-uid'), str(6, '900'), int(7, 3)]);
/** A Deployment with a pod template (3) and a rollingUpdate block (4.2), which the projection drops. */
const deployment = (observed: number, updated: number) =>
  Buffer.concat([
    msg(1, deploymentMeta),
    msg(
      2,
      int(1, 2),
      msg(2, entry(1, 'app', 'web')),
      msg(3, msg(1, str(1, 'ignored')), msg(2, msg(2, str(1, 'istio-proxy')))),
      msg(4, str(1, 'RollingUpdate'), msg(2, msg(1, int(1, 0), int(2, 1)))),
      int(5, 0),
      int(7, 0),
      int(9, 600),
    ),
    msg(
      3,
      int(1, observed),
      int(2, 2),
      int(3, updated),
      int(4, 2),
      int(5, 0),
      msg(
        6,
        str(1, 'Progressing'),
        str(2, 'True'),
        str(4, 'NewReplicaSetAvailable'),
        str(5, 'done'),
        msg(6, int(1, T0)),
      ),
      int(7, 2),
    ),
  ]);
const deploymentJson = (observed: number, updated: number) => ({
  kind: 'Deployment',
  apiVersion: 'apps/v1',
  metadata: { name: 'web', namespace: 'shop', uid: 'd-uid', resourceVersion: '900', generation: 3 },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { name: 'ignored' }, spec: { containers: [{ name: 'istio-proxy' }] } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
  },
  status: {
    observedGeneration: observed,
    replicas: 2,
    updatedReplicas: updated,
    readyReplicas: 2,
    availableReplicas: 2,
    conditions: [
      {
        type: 'Progressing',
        status: 'True',
        lastUpdateTime: '2026-11-30T01:02:03Z',
        reason: 'NewReplicaSetAvailable',
        message: 'done',
      },
    ],
  },
});

test('a Deployment in protobuf decodes as the rollout projection of its JSON, without its template', () => {
  const o = decodeProjectedObject(envelope('apps/v1', 'Deployment', deployment(3, 2)), 'rollout');
  assert.deepEqual(o, project(deploymentJson(3, 2) as never, 'rollout', 'Deployment'));
  assert.equal((o as { spec: Record<string, unknown> }).spec.template, undefined);
  assert.deepEqual((o as { spec: Record<string, unknown> }).spec.strategy, { type: 'RollingUpdate' });
});

test('a DeploymentList page decodes item by item as the workload projection: template labels, annotations, names', () => {
  // The template (spec = 3) as restart reads it: its metadata's labels (11) and annotations (12), its containers' (2)
  // and initContainers' (20) names; the template's name (1) and a container's image (2) are dropped.
  const template = msg(
    3,
    msg(1, str(1, 'ignored'), entry(11, 'app', 'web'), entry(12, 'sidecar.istio.io/status', '{}')),
    msg(2, msg(2, str(1, 'app'), str(2, 'app:1')), msg(2, str(1, 'istio-proxy')), msg(20, str(1, 'init'))),
  );
  const item = (name: string) =>
    Buffer.concat([
      msg(1, str(1, name), str(3, 'shop')),
      msg(2, int(1, 2), msg(2, entry(1, 'app', name)), template, int(9, 600)),
      msg(3, int(1, 3), int(3, 2)),
    ]);
  const body = envelope(
    'apps/v1',
    'DeploymentList',
    Buffer.concat([msg(1, str(2, '77'), str(3, 'more')), msg(2, item('a')), msg(2, item('b'))]),
  );
  const want = (name: string) => ({
    metadata: { name, namespace: 'shop' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: { 'sidecar.istio.io/status': '{}' } },
        spec: { containers: [{ name: 'app' }, { name: 'istio-proxy' }], initContainers: [{ name: 'init' }] },
      },
      progressDeadlineSeconds: 600,
    },
    status: { observedGeneration: 3, updatedReplicas: 2 },
  });
  const page = { metadata: { resourceVersion: '77', continue: 'more' }, items: [want('a'), want('b')] };
  for (const size of [1, 3, 7, body.length]) {
    const d = projectedListDecoder('workload', 'Deployment');
    for (let at = 0; at < body.length; at += size) d.push(body.subarray(at, at + size));
    assert.deepEqual(d.end(), page, `chunks of ${size}`);
  }
  // The same page as JSON, projected, is the same object (a full template cut down).
  const json = want('a') as { spec: { template: { metadata: Record<string, unknown>; spec: unknown } } };
  const full = {
    ...json,
    spec: {
      ...json.spec,
      template: {
        metadata: { ...json.spec.template.metadata, name: 'ignored', creationTimestamp: null },
        spec: {
          containers: [{ name: 'app', image: 'app:1' }, { name: 'istio-proxy' }],
          initContainers: [{ name: 'init' }],
        },
      },
    },
  };
  assert.deepEqual(project(full as never, 'workload', 'Deployment'), want('a'));
  const other = projectedListDecoder('workload', 'Deployment');
  other.push(envelope('apps/v1', 'StatefulSetList', Buffer.alloc(0)));
  assert.throws(() => other.end(), /expected a DeploymentList, got StatefulSetList/);
});

test('StatefulSet and DaemonSet keep what rollout status reads: partition, ordinals, revisions, scheduling', () => {
  const sts = Buffer.concat([
    msg(1, str(1, 'db'), int(7, 4)),
    msg(
      2,
      int(1, 3),
      msg(3, str(1, 'template')),
      str(5, 'db'),
      msg(7, str(1, 'RollingUpdate'), msg(2, int(1, 0))),
      msg(11, int(1, 1)),
    ),
    msg(3, int(1, 4), int(2, 3), int(3, 3), int(4, 1), int(5, 2), str(6, 'db-1'), str(7, 'db-2'), int(11, 3)),
  ]);
  assert.deepEqual(decodeProjectedObject(envelope('apps/v1', 'StatefulSet', sts), 'rollout'), {
    kind: 'StatefulSet',
    apiVersion: 'apps/v1',
    metadata: { name: 'db', generation: 4 },
    spec: {
      replicas: 3,
      serviceName: 'db',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      ordinals: { start: 1 },
    },
    status: {
      observedGeneration: 4,
      replicas: 3,
      readyReplicas: 3,
      currentReplicas: 1,
      updatedReplicas: 2,
      currentRevision: 'db-1',
      updateRevision: 'db-2',
      availableReplicas: 3,
    },
  });
  const ds = Buffer.concat([
    msg(1, str(1, 'node-agent')),
    msg(2, msg(2, str(1, 'template')), msg(3, str(1, 'OnDelete'))),
    msg(3, int(1, 2), int(3, 2), int(4, 1), int(5, 7), int(6, 1), int(7, 1), int(8, 1)),
  ]);
  assert.deepEqual(decodeProjectedObject(envelope('apps/v1', 'DaemonSet', ds), 'rollout'), {
    kind: 'DaemonSet',
    apiVersion: 'apps/v1',
    metadata: { name: 'node-agent' },
    spec: { updateStrategy: { type: 'OnDelete' } },
    status: {
      currentNumberScheduled: 2,
      desiredNumberScheduled: 2,
      numberReady: 1,
      observedGeneration: 7,
      updatedNumberScheduled: 1,
      numberAvailable: 1,
      numberUnavailable: 1,
    },
  });
  assert.throws(
    () => decodeProjectedObject(envelope('v1', 'Pod', Buffer.alloc(0)), 'rollout'),
    /no rollout projection of a Pod/,
  );
});

// --- watch streams -----------------------------------------------------------------------------------------
const frame = (type: string, object: Buffer) => {
  const ev = Buffer.concat([str(1, type), msg(2, bytes(1, object))]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(ev.length);
  return Buffer.concat([len, ev]);
};
const status410 = envelope(
  'v1',
  'Status',
  Buffer.concat([
    msg(1),
    str(2, 'Failure'),
    str(3, 'too old resource version: 1 (900)'),
    str(4, 'Expired'),
    int(6, 410),
  ]),
);
/** status410 as the API server writes it in JSON. */
const STATUS_410_JSON = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'too old resource version: 1 (900)',
  reason: 'Expired',
  code: 410,
};

test('protobuf watch frames give the events the JSON stream gives, for every split of the stream', () => {
  const stream = Buffer.concat([
    frame('ADDED', envelope('apps/v1', 'Deployment', deployment(2, 0))),
    frame('MODIFIED', envelope('apps/v1', 'Deployment', deployment(3, 2))),
    frame('BOOKMARK', envelope('apps/v1', 'Deployment', msg(1, str(6, '950')))),
    frame('ERROR', status410),
  ]);
  const json = [
    { type: 'ADDED', object: deploymentJson(2, 0) },
    { type: 'MODIFIED', object: deploymentJson(3, 2) },
    { type: 'BOOKMARK', object: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { resourceVersion: '950' } } },
    {
      type: 'ERROR',
      object: STATUS_410_JSON,
    },
  ]
    .map((e) => JSON.stringify(e))
    .join('\n');
  const expected = new WatchLineDecoder('rollout', 'Deployment').push(`${json}\n`);
  assert.equal(expected.length, 4);
  for (let size = 1; size <= stream.length; size += size < 40 ? 1 : 97) {
    const d = new WatchFrameDecoder('rollout');
    const events = [];
    for (let at = 0; at < stream.length; at += size) events.push(...d.push(stream.subarray(at, at + size)));
    events.push(...d.end());
    assert.deepEqual(events, expected, `chunks of ${size}`);
  }
  const d = new WatchFrameDecoder('rollout');
  d.push(stream.subarray(0, 10));
  assert.throws(() => d.end(), /ends inside an event/);
});

test('a Status error in protobuf reads as the JSON Status the error path expects', () => {
  assert.deepEqual(decodeStatus(status410), STATUS_410_JSON);
});

test('a watch asked for in protobuf and refused with a protobuf Status (410 Gone) rejects with that Status', async () => {
  const srv = createServer((req, res) => {
    assert.match(req.headers.accept ?? '', /^application\/vnd\.kubernetes\.protobuf;stream=watch/);
    res.writeHead(410, { 'Content-Type': 'application/vnd.kubernetes.protobuf' });
    res.end(status410);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = new HttpKubeClient(localConnection(srv));
  try {
    const w = client.watch(Resources.deployments, { resourceVersion: '1', projection: 'rollout' }, () => undefined);
    await assert.rejects(w.done, (e: unknown) => {
      assert.ok(e instanceof KubeApiError, String(e));
      assert.equal(e.status, 410);
      assert.equal(e.reason, 'Expired');
      assert.match(e.message, /too old resource version/);
      return true;
    });
  } finally {
    client.close();
    srv.close();
  }
});
