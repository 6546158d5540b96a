/**
 * Differential: the plugin's protobuf reading against its JSON reading of the same real API server. One client asks
 * for protobuf where it may (metadata-only lists, projected lists, rollout projections of watches and patch answers),
 * the other for JSON only; what they return must be equal: every metadata-only page (managedFields aside), every
 * projected list page (workload and rollout projections of Deployments, StatefulSets, DaemonSets), every watch event of
 * three real rollouts (Deployment, partitioned StatefulSet, DaemonSet) in the same order, the patch answers, and the
 * errors, which the API server then sends as a protobuf Status.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConnection } from '../../src/kube/connect.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { HttpKubeClient } from '../../src/kube/http.js';
import { Resources, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import type { WatchEvent } from '../../src/kube/watch.js';
import { createNamespace, deleteNamespace, e2eEnv, kubectlOk, waitFor } from './support/cluster.js';

const NAMES: Record<string, string> = { deployments: 'web', statefulsets: 'db', daemonsets: 'agent' };
let ns: string;
let pb: HttpKubeClient;
let json: HttpKubeClient;

const workloads = (ns: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}, labels: {app: web}, annotations: {note: "é ü"}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}}
    spec:
      initContainers: [{name: istio-validation, image: "proxy:1"}]
      containers: [{name: app, image: "app:1", env: [{name: A, value: "1"}]}, {name: istio-proxy, image: "proxy:1"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: ${ns}}
spec:
  replicas: 3
  serviceName: db
  ordinals: {start: 1}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "db:1"}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "agent:1"}]}
`;

before(async () => {
  const conn = await resolveConnection(e2eEnv().kubeconfig, 'admin', {});
  pb = new HttpKubeClient(conn);
  json = new HttpKubeClient(conn, undefined, { protobuf: false });
  ns = await createNamespace('protobuf');
  await kubectlOk(['apply', '-f', '-'], { input: workloads(ns) });
  // Lists are compared at one snapshot (the same resourceVersion): start from a namespace whose pods have settled.
  for (const w of ['deployment/web', 'statefulset/db', 'daemonset/agent'])
    await kubectlOk(['rollout', 'status', '-n', ns, w, '--timeout=90s']);
});

/** Another try at one snapshot for both clients: any write in the cluster between two lists moves its revision. */
const TRIES = 20;
const settle = () => new Promise((r) => setTimeout(r, 200));

after(async () => {
  pb?.close();
  json?.close();
  if (ns) await deleteNamespace(ns);
});

/** Both clients' metadata-only lists of the type, equal once two lists in a row saw the same snapshot. */
async function sameList(type: ResourceType, namespace?: string) {
  const opts = { metadataOnly: true, limit: 7, ...(namespace ? { namespace } : {}) };
  for (let attempt = 1; ; attempt++) {
    const a = await json.listVersioned<KubeObject>(type, opts);
    const b = await pb.listVersioned<KubeObject>(type, opts);
    // The API server's JSON carries managedFields; the protobuf reading skips them, the JSON one cuts them.
    if (a.resourceVersion === b.resourceVersion || attempt === TRIES) {
      assert.deepEqual(b.items, a.items, `${type.plural} ${namespace ?? 'cluster-wide'}`);
      return a.items.length;
    }
    await settle();
  }
}

test('metadata-only lists: protobuf pages equal JSON pages, item for item, across pages', async () => {
  const before = pb.protobufAnswers();
  assert.ok((await sameList(Resources.pods, ns)) >= 6, 'the test namespace has its pods');
  assert.ok(pb.protobufAnswers() > before, 'the API server answered in protobuf');
  assert.equal(json.protobufAnswers(), 0);
  assert.ok((await sameList(Resources.namespaces)) > 1);
  await sameList(Resources.deployments);
  await sameList(Resources.configmaps, ns);
});

test('projected lists: workload and rollout pages from protobuf equal the JSON ones, across pages', async () => {
  for (const type of [Resources.deployments, Resources.statefulsets, Resources.daemonsets]) {
    for (const projection of ['workload', 'rollout'] as const) {
      for (const namespace of [ns, undefined]) {
        const opts = { projection, limit: 1, ...(namespace ? { namespace } : {}) };
        const before = pb.protobufAnswers();
        for (let attempt = 1; ; attempt++) {
          const a = await json.listVersioned<KubeObject>(type, opts);
          const b = await pb.listVersioned<KubeObject>(type, opts);
          if (a.resourceVersion !== b.resourceVersion && attempt < TRIES) {
            await settle();
            continue;
          }
          assert.deepEqual(b.items, a.items, `${projection} ${type.plural} ${namespace ?? 'cluster-wide'}`);
          assert.ok(a.items.length >= 1);
          break;
        }
        assert.ok(pb.protobufAnswers() > before, `${type.plural}: the API server answered in protobuf`);
      }
    }
  }
  assert.equal(json.protobufAnswers(), 0);
  const [web] = (await pb.listVersioned<KubeObject>(Resources.deployments, { namespace: ns, projection: 'workload' }))
    .items as { spec?: Record<string, unknown> }[];
  assert.deepEqual(web.spec?.template, {
    metadata: { labels: { app: 'web' }, annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' } },
    spec: { containers: [{ name: 'app' }, { name: 'istio-proxy' }], initContainers: [{ name: 'istio-validation' }] },
  });
  assert.equal(web.spec?.replicas, 2);
  const [rolled] = (await pb.listVersioned<KubeObject>(Resources.deployments, { namespace: ns, projection: 'rollout' }))
    .items as { spec?: Record<string, unknown>; status?: unknown }[];
  assert.equal(rolled.spec?.template, undefined, 'the rollout projection leaves the pod template out');
  assert.ok(rolled.status);
});

test('rollout watches: the protobuf stream gives the JSON stream, event for event, through three rollouts', async () => {
  for (const type of [Resources.deployments, Resources.statefulsets, Resources.daemonsets]) {
    const start = await json.listVersioned<KubeObject>(type, { namespace: ns });
    const seen = { pb: [] as WatchEvent[], json: [] as WatchEvent[] };
    const watch = (c: HttpKubeClient, into: WatchEvent[]) =>
      c.watch(type, { namespace: ns, resourceVersion: start.resourceVersion, projection: 'rollout' }, (e) => {
        into.push(e);
      });
    const before = pb.protobufAnswers();
    const streams = [watch(pb, seen.pb), watch(json, seen.json)];
    const name = NAMES[type.plural];
    await kubectlOk(['rollout', 'restart', '-n', ns, `${type.plural}/${name}`]);
    await kubectlOk(['rollout', 'status', '-n', ns, `${type.plural}/${name}`, '--timeout=90s']);
    // Both streams carry the same events: wait until both have the last change.
    await waitFor(
      async () => {
        const rv = await kubectlOk(['get', type.plural, name, '-n', ns, '-o', 'jsonpath={.metadata.resourceVersion}']);
        return seen.json.length >= 3 &&
          seen.pb.length === seen.json.length &&
          seen.json.at(-1)?.object.metadata.resourceVersion === rv.trim()
          ? true
          : null;
      },
      60_000,
      { message: `${type.plural} rollout events in both streams` },
    );
    for (const s of streams) s.stop();
    await Promise.all(streams.map((s) => s.done));
    assert.equal(pb.protobufAnswers(), before + 1, 'the watch streamed protobuf');
    assert.deepEqual(seen.pb, seen.json, `${type.plural} events`);
    const first = seen.pb[0].object as { spec?: { template?: unknown }; status?: unknown; kind?: string };
    assert.equal(first.kind, type.kind);
    assert.equal(first.spec?.template, undefined, 'the projection leaves the pod template out');
    assert.ok(first.status, 'and keeps the status');
  }
});

test('patch answers: the rollout projection is the same from protobuf and from JSON', async () => {
  const patch = { metadata: { annotations: { 'istio-ca.test/protobuf': 'same' } } };
  for (const type of [Resources.deployments, Resources.statefulsets, Resources.daemonsets]) {
    const name = NAMES[type.plural];
    // A patch that changes nothing answers with the object as stored: both answers are the same object, once no
    // controller wrote it in between (the same resourceVersion).
    await json.patch(type, ns, name, patch, 'merge');
    let a: KubeObject;
    let b: KubeObject;
    for (let attempt = 1; ; attempt++) {
      a = await json.patch<KubeObject>(type, ns, name, patch, 'merge', { projection: 'rollout' });
      b = await pb.patch<KubeObject>(type, ns, name, patch, 'merge', { projection: 'rollout' });
      if (a.metadata.resourceVersion === b.metadata.resourceVersion || attempt === 10) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(b, a, `${type.plural}/${name}`);
    assert.ok(pb.protobufAnswers() > 0 && json.protobufAnswers() === 0);
    assert.equal(b.metadata.annotations?.['istio-ca.test/protobuf'], 'same');
  }
});

test('errors come back the same: a protobuf Status reads as the JSON one', async () => {
  const missing = async (c: HttpKubeClient) =>
    c.patch(Resources.deployments, ns, 'no-such-deployment', { metadata: {} }, 'merge', { projection: 'rollout' }).then(
      () => assert.fail('patched a missing Deployment'),
      (e: unknown) => e,
    );
  const [a, b] = [await missing(json), await missing(pb)];
  assert.ok(b instanceof KubeApiError, String(b));
  assert.ok(a instanceof KubeApiError);
  assert.equal(b.status, 404);
  assert.equal(b.message, a.message);
  const bogus: ResourceType = { group: 'apps', version: 'v1', plural: 'no-such-things', kind: 'NoSuchThing' };
  const [c, d] = await Promise.all(
    [json, pb].map((cl) =>
      cl.listVersioned(bogus, { metadataOnly: true }).then(
        () => null,
        (e: unknown) => e,
      ),
    ),
  );
  assert.ok(d instanceof KubeApiError, String(d));
  assert.equal(d.status, 404);
  assert.equal((d as Error).message, (c as Error).message);
});
