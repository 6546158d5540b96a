/**
 * ENABLE_CLUSTER_TRUST_BUNDLE_API: istiod publishes its roots in the ClusterTrustBundle istio.io:istiod-ca:root-cert
 * (signerName istio.io/istiod-ca) and writes no istio-ca-root-cert ConfigMap. rotate reads it from istiod's env,
 * gates on that bundle instead of ConfigMaps, and verify and status check it and say so. Strict fakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BundleData } from '../../src/ca/bundle.js';
import type { KubeClient } from '../../src/kube/client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { WatchedReads } from '../../src/kube/watched-reads.js';
import { Resources, type KubeObject, type ResourceType, type Workload } from '../../src/kube/resources.js';
import {
  clusterTrustBundles,
  goBoolTrue,
  listTrustBundle,
  readTrustBundle,
  rootPublication,
  ISTIOD_TRUST_BUNDLE,
} from '../../src/istio/root-publication.js';
import { makeGate, type GateContext } from '../../src/rotate/gates.js';
import { planRotation } from '../../src/rotate/plan.js';
import { readClusterState } from '../../src/rotate/state.js';
import { takeSnapshot } from '../../src/mesh/snapshot.js';
import { runChecks } from '../../src/verify/checks.js';
import { deriveStatus } from '../../src/status/run.js';
import { makeCas } from './support/ca-fixtures.js';
import { deployment, FakeKube, ROTATE_READS as READS, podsOf } from './support/fake-kube.js';

const cas = await makeCas(['a', 'b']);
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const rootA = cas.fp(A['root-cert.pem']);
const rootB = cas.fp(B['root-cert.pem']);
const enc = (b: BundleData) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.toString('base64')]));
const CTB = clusterTrustBundles('v1beta1');
const NOW = new Date('2026-11-28T10:05:00Z');

const bundle = (...pems: Buffer[]): KubeObject => ({
  metadata: { name: ISTIOD_TRUST_BUNDLE },
  spec: { signerName: 'istio.io/istiod-ca', trustBundle: Buffer.concat(pems).toString() },
});

function istiod(env: Record<string, string>): Workload {
  const d = deployment('istio-system', 'istiod', { labels: { app: 'istiod' } });
  const c = d.spec?.template?.spec?.containers?.[0];
  if (c) {
    c.name = 'discovery';
    (c as { image?: string }).image = 'docker.io/istio/pilot:1.29.2';
    c.env = Object.entries(env).map(([name, value]) => ({ name, value }));
  }
  return d;
}

/** A mesh on root A whose istiod runs with the ClusterTrustBundle API (or not). */
function cluster(env: Record<string, string>, allow: string[], trustBundle: KubeObject | null): FakeKube {
  const k = new FakeKube({ allow, resources: [...Object.values(Resources), CTB], now: () => NOW });
  k.seed(Resources.namespaces, { metadata: { name: 'istio-system' } }, { metadata: { name: 'shop' } });
  k.seed(Resources.secrets, { metadata: { name: 'cacerts', namespace: 'istio-system' }, data: enc(A) });
  k.seed(Resources.configmaps, { metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: '' } });
  k.seed(Resources.deployments, istiod({ ISTIO_MULTIROOT_MESH: 'true', ...env }));
  const web = deployment('shop', 'web', { replicas: 1, templateSidecar: 'annotation' });
  k.seed(Resources.deployments, web);
  k.seed(Resources.pods, ...podsOf(web, { sidecar: 'annotation' }));
  if (trustBundle) k.seed(CTB, trustBundle);
  return k;
}

test('where istiod publishes roots: ENABLE_CLUSTER_TRUST_BUNDLE_API read as Go reads a bool', () => {
  for (const v of ['true', '1', 'T', 'TRUE', 'True', 't']) assert.equal(goBoolTrue(v), true, v);
  for (const v of ['yes', 'on', '', 'false', undefined]) assert.equal(goBoolTrue(v), false, String(v));
  const on = rootPublication([new Map([['ENABLE_CLUSTER_TRUST_BUNDLE_API', 'true']])]);
  assert.deepEqual(on, { kind: 'ClusterTrustBundle', name: ISTIOD_TRUST_BUNDLE, signerName: 'istio.io/istiod-ca' });
  // PILOT_CA_CERT_CONFIGMAP renames the ConfigMap, never the ClusterTrustBundle (a constant in istiod).
  const both = new Map([
    ['ENABLE_CLUSTER_TRUST_BUNDLE_API', '1'],
    ['PILOT_CA_CERT_CONFIGMAP', 'mesh-root'],
  ]);
  assert.equal(rootPublication([both]).name, ISTIOD_TRUST_BUNDLE);
  assert.deepEqual(rootPublication([new Map([['PILOT_CA_CERT_CONFIGMAP', 'mesh-root']])]), {
    kind: 'ConfigMap',
    name: 'mesh-root',
  });
});

test('the ClusterTrustBundle is read from certificates.k8s.io/v1beta1, else v1alpha1 (Kubernetes before 1.33)', async () => {
  const asked: string[] = [];
  const only = (served: string): KubeClient =>
    ({
      context: 'c',
      async get(type: ResourceType, namespace: string | undefined, name: string) {
        assert.equal(namespace, undefined, 'cluster-scoped');
        asked.push(`${type.group}/${type.version}/${type.plural}/${name}`);
        return type.version === served ? bundle(A['root-cert.pem'], B['root-cert.pem']) : null;
      },
    }) as unknown as KubeClient;
  const b = await readTrustBundle(only('v1alpha1'), ISTIOD_TRUST_BUNDLE);
  assert.deepEqual(asked, [
    'certificates.k8s.io/v1beta1/clustertrustbundles/istio.io:istiod-ca:root-cert',
    'certificates.k8s.io/v1alpha1/clustertrustbundles/istio.io:istiod-ca:root-cert',
  ]);
  assert.deepEqual(b, {
    name: ISTIOD_TRUST_BUNDLE,
    apiVersion: 'certificates.k8s.io/v1alpha1',
    signerName: 'istio.io/istiod-ca',
    roots: [rootA, rootB],
  });
  assert.equal(await readTrustBundle(only('none'), ISTIOD_TRUST_BUNDLE), null);
});

test('cluster-trust-bundle gate: waits for B in the bundle, then for A to leave it; says which object and API it read', async () => {
  const kube = cluster({}, ['list clustertrustbundles'], bundle(A['root-cert.pem']));
  const ctx = (exact: boolean, client: KubeClient = kube): GateContext => ({
    client,
    reader: null,
    scope: {
      istioNamespace: 'istio-system',
      configMap: 'istio-ca-root-cert',
      trustBundle: ISTIOD_TRUST_BUNDLE,
      namespaces: null,
      workloadNamespaces: null,
      ungated: new Set(),
    },
    expect: exact
      ? { roots: [rootB], exactRoots: true, signer: null }
      : { roots: [rootA, rootB], exactRoots: false, signer: null },
    since: () => NOW,
    now: () => NOW,
  });
  const both = makeGate('cluster-trust-bundle', ctx(false));
  assert.equal(both.waitsFor, `ClusterTrustBundle ${ISTIOD_TRUST_BUNDLE} holds 2 root(s)`);
  let r = await both.check();
  assert.equal(r.passed, false);
  assert.deepEqual(r.waitingFor, [`ClusterTrustBundle ${ISTIOD_TRUST_BUNDLE}: lacks 1 root(s)`]);
  assert.equal(r.reread, false, 'listed through the context client (a watch in the executor): no timer needed');
  assert.equal(kube.callsWhere({ verb: 'list' })[0]?.list?.fieldSelector, `metadata.name=${ISTIOD_TRUST_BUNDLE}`);
  kube.remove(CTB, undefined, ISTIOD_TRUST_BUNDLE);
  kube.seed(CTB, bundle(A['root-cert.pem'], B['root-cert.pem']));
  r = await both.check();
  assert.equal(r.passed, true);
  assert.match(
    r.evidence ?? '',
    /^ClusterTrustBundle istio\.io:istiod-ca:root-cert \(certificates\.k8s\.io\/v1beta1\) holds 2 root\(s\); istiod runs with ENABLE_CLUSTER_TRUST_BUNDLE_API=true, so no ConfigMap is checked$/,
  );
  const onlyB = makeGate('cluster-trust-bundle', ctx(true));
  assert.deepEqual((await onlyB.check()).waitingFor, [
    `ClusterTrustBundle ${ISTIOD_TRUST_BUNDLE}: still trusts 1 old root(s)`,
  ]);
  kube.assertNoUnexpectedCalls();

  // Served from a watch (as the executor reads): one list and one watch however often it is checked, and a change
  // of the bundle wakes the waiter.
  const watched = cluster({}, ['list clustertrustbundles', 'watch clustertrustbundles'], bundle(A['root-cert.pem']));
  const reads = new WatchedReads(watched, { sleep: async () => undefined });
  const gate = makeGate('cluster-trust-bundle', ctx(false, reads));
  assert.equal((await gate.check()).passed, false);
  const seen = reads.changes();
  assert.equal((await gate.check()).passed, false);
  watched.remove(CTB, undefined, ISTIOD_TRUST_BUNDLE);
  watched.seed(CTB, bundle(A['root-cert.pem'], B['root-cert.pem']));
  await reads.changed(seen);
  assert.equal((await gate.check()).passed, true);
  assert.equal(watched.callsWhere({ verb: 'list' }).length, 1, 'checked three times, listed once');
  assert.equal(watched.callsWhere({ verb: 'watch' }).length, 1);
  await reads.stop();
  watched.assertNoUnexpectedCalls();
});

test('cluster-trust-bundle gate: list forbidden (get allowed) reads by GET and asks for a timer; v1alpha1 when v1beta1 is not served', async () => {
  const forbidden = cluster({}, ['list clustertrustbundles', 'get clustertrustbundles'], bundle(A['root-cert.pem']));
  forbidden.fail({ verb: 'list', resource: 'clustertrustbundles' }, 403);
  const { bundle: b, listed } = await listTrustBundle(forbidden, ISTIOD_TRUST_BUNDLE);
  assert.equal(listed, false);
  assert.deepEqual(b?.roots, [rootA]);
  assert.equal(forbidden.callsWhere({ verb: 'get' }).length, 1);

  // What an API server answers a list of a version it does not serve.
  const notServed = (type: ResourceType) =>
    new KubeApiError(
      404,
      'NotFound',
      'the server could not find the requested resource',
      'list',
      type.plural,
      undefined,
    );
  const asked: string[] = [];
  const alphaOnly = {
    context: 'c',
    async list(type: ResourceType, opts: { fieldSelector?: string }) {
      asked.push(`${type.version} ${opts.fieldSelector}`);
      if (type.version !== 'v1alpha1') throw notServed(type);
      return [bundle(A['root-cert.pem'])];
    },
  } as unknown as KubeClient;
  const none = {
    context: 'c',
    async list(type: ResourceType) {
      throw notServed(type);
    },
    async get() {
      throw new Error('no GET when no version is served');
    },
  } as unknown as KubeClient;
  assert.deepEqual(await listTrustBundle(none, ISTIOD_TRUST_BUNDLE), { bundle: null, listed: false });
  const r = await listTrustBundle(alphaOnly, ISTIOD_TRUST_BUNDLE);
  assert.deepEqual(asked, [
    `v1beta1 metadata.name=${ISTIOD_TRUST_BUNDLE}`,
    `v1alpha1 metadata.name=${ISTIOD_TRUST_BUNDLE}`,
  ]);
  assert.equal(r.listed, true);
  assert.equal(r.bundle?.apiVersion, 'certificates.k8s.io/v1alpha1');
});

test('rotate reads ENABLE_CLUSTER_TRUST_BUNDLE_API from istiod and plans cluster-trust-bundle gates instead of namespaces-trust', async () => {
  const on = cluster({ ENABLE_CLUSTER_TRUST_BUNDLE_API: 'true' }, READS, null);
  const { input, scope } = await readClusterState(on, B, { istioNamespace: 'istio-system', namespaces: undefined });
  on.assertNoUnexpectedCalls();
  assert.equal(scope.trustBundle, ISTIOD_TRUST_BUNDLE);
  assert.equal(input.mesh.trustBundle, ISTIOD_TRUST_BUNDLE);
  assert.ok(
    input.mesh.notes.some((n) =>
      /ENABLE_CLUSTER_TRUST_BUNDLE_API: istiod publishes roots in ClusterTrustBundle/.test(n),
    ),
  );
  const opts = {
    resume: false,
    allowDowntime: false,
    proxyUpdate: 'auto' as const,
    concurrency: 5,
    kubeletSyncMs: 1000,
  };
  const plan = planRotation([input], opts);
  for (const p of plan.phases)
    for (const s of p.steps) {
      assert.ok(s.gates.includes('cluster-trust-bundle'), `${p.phase}: ${s.gates.join(', ')}`);
      assert.ok(!s.gates.includes('namespaces-trust'), `${p.phase}: ${s.gates.join(', ')}`);
    }
  // The same mesh without the setting keeps its ConfigMap gates.
  const off = cluster({}, READS, null);
  const plain = planRotation(
    [(await readClusterState(off, B, { istioNamespace: 'istio-system', namespaces: undefined })).input],
    opts,
  );
  assert.ok(
    plain.phases.every((p) =>
      p.steps.every((s) => s.gates.includes('namespaces-trust') && !s.gates.includes('cluster-trust-bundle')),
    ),
  );
});

test('verify and status check the ClusterTrustBundle, list no ConfigMap, and say where roots are published', async () => {
  const allow = ['get secrets', 'list deployments', 'list pods', 'list namespaces', 'get clustertrustbundles'];
  const snap = (tb: KubeObject | null) => {
    const kube = cluster({ ENABLE_CLUSTER_TRUST_BUNDLE_API: 'true' }, allow, tb);
    return takeSnapshot(kube, { istioNamespace: 'istio-system', now: NOW }).finally(() => {
      kube.assertNoUnexpectedCalls();
    });
  };
  const ok = await snap(bundle(A['root-cert.pem']));
  let checks = runChecks(ok, NOW).checks.filter((c) => c.category === 'trust');
  assert.deepEqual(
    checks.map((c) => [c.id, c.status]),
    [
      ['trust-bundle.roots', 'ok'],
      ['trust-bundle.removed-root', 'ok'],
    ],
  );
  assert.match(
    checks[0].message,
    /^ClusterTrustBundle istio\.io:istiod-ca:root-cert \(certificates\.k8s\.io\/v1beta1\) holds every root of cacerts/,
  );
  assert.deepEqual(deriveStatus(ok, NOW).rootsPublishedIn, {
    kind: 'ClusterTrustBundle',
    name: ISTIOD_TRUST_BUNDLE,
    inSync: true,
  });
  assert.deepEqual(deriveStatus(ok, NOW).namespaces.outOfSync, []);

  const stale = await snap(bundle(B['root-cert.pem']));
  checks = runChecks(stale, NOW).checks.filter((c) => c.category === 'trust');
  assert.deepEqual(
    checks.map((c) => [c.id, c.status]),
    [
      ['trust-bundle.roots', 'fail'],
      ['trust-bundle.removed-root', 'fail'],
    ],
  );
  assert.equal(deriveStatus(stale, NOW).rootsPublishedIn.inSync, false);
  // No bundle at all (read as null from v1beta1 and v1alpha1, as the test above shows).
  const m = runChecks({ ...ok, trustBundle: null }, NOW).checks.find((c) => c.id === 'trust-bundle.roots');
  assert.equal(m?.status, 'fail');
  assert.match(m?.message ?? '', /no ClusterTrustBundle istio\.io:istiod-ca:root-cert/);
  assert.equal(deriveStatus({ ...ok, trustBundle: null }, NOW).rootsPublishedIn.inSync, false);
});
