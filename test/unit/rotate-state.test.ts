/**
 * What rotate reads from a cluster, for meshes as they run: revisions, discoverySelectors, a renamed root
 * ConfigMap, ambient's ztunnel, StatefulSets with a partition or OnDelete, bare pods and Jobs, the push setting,
 * and controllers that own cacerts. Strict fake: any request rotate should not make fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BundleData } from '../../src/ca/bundle.js';
import { managingController } from '../../src/istio/ownership.js';
import { meshConfigFacts, podXdsAgent, selects } from '../../src/istio/mesh-config.js';
import { Resources, type KubeObject, type Pod, type Workload } from '../../src/kube/resources.js';
import { readClusterState } from '../../src/rotate/state.js';
import { makeCas } from './support/ca-fixtures.js';
import { daemonSet, deployment, FakeKube, ROTATE_READS as READS, podsOf, statefulSet } from './support/fake-kube.js';

const cas = await makeCas(['a', 'b']);
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const enc = (b: BundleData) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.toString('base64')]));
function istiod(name: string, env: Record<string, string>, rev?: string): Workload {
  const d = deployment('istio-system', name, { labels: { app: 'istiod', ...(rev ? { 'istio.io/rev': rev } : {}) } });
  const c = d.spec?.template?.spec?.containers?.[0];
  if (c) {
    c.name = 'discovery';
    (c as { image?: string }).image = 'docker.io/istio/pilot:1.29.2';
    c.env = Object.entries(env).map(([n, value]) => ({ name: n, value }));
  }
  return d;
}

function cluster(o: { mesh?: string; cacerts?: KubeObject['metadata']; extra?: (k: FakeKube) => void } = {}): FakeKube {
  const k = new FakeKube({ allow: READS });
  k.seed(
    Resources.namespaces,
    { metadata: { name: 'istio-system' } },
    { metadata: { name: 'shop', labels: { mesh: 'on' } } },
    { metadata: { name: 'legacy' } },
  );
  k.seed(Resources.secrets, {
    metadata: { name: 'cacerts', namespace: 'istio-system', ...o.cacerts },
    data: enc(A),
  });
  k.seed(Resources.configmaps, {
    metadata: { name: 'istio', namespace: 'istio-system' },
    data: { mesh: o.mesh ?? '' },
  });
  k.seed(Resources.deployments, istiod('istiod', { ISTIO_MULTIROOT_MESH: 'true' }));
  const web = deployment('shop', 'web', { replicas: 2, templateSidecar: 'annotation' });
  k.seed(Resources.deployments, web);
  k.seed(Resources.pods, ...podsOf(web, { sidecar: 'annotation' }));
  o.extra?.(k);
  return k;
}

const read = (k: FakeKube, namespaces?: string[]) =>
  readClusterState(k, B, { istioNamespace: 'istio-system', namespaces }).finally(() => {
    k.assertNoUnexpectedCalls();
  });

test('a plain mesh: counts for the plan, no notes, no attention, gates over every namespace', async () => {
  const { input, scope } = await read(cluster());
  assert.deepEqual(input.mesh.restart, { istiod: 1, gateways: 0, workloads: 1, pods: 2 });
  assert.deepEqual(input.mesh.push, { enabled: 0, total: 2 });
  assert.deepEqual(input.mesh.istiods, [
    {
      name: 'istiod',
      revision: null,
      multiRoot: true,
      version: '1.29.2',
      versionSource: 'image tag',
      image: 'docker.io/istio/pilot:1.29.2',
    },
  ]);
  assert.deepEqual(input.mesh.attention, []);
  assert.equal(scope.namespaces, null);
  assert.equal(scope.configMap, 'istio-ca-root-cert');
  assert.equal(input.layout, 'cacerts');
  assert.equal(input.recorded, null);
});

test('PROXY_CONFIG_XDS_AGENT from the mesh config, overridden per pod by proxy.istio.io/config', async () => {
  const mesh = 'defaultConfig:\n  proxyMetadata:\n    PROXY_CONFIG_XDS_AGENT: "true"\n';
  assert.deepEqual((await read(cluster({ mesh }))).input.mesh.push, { enabled: 2, total: 2 });
  const k = cluster({
    extra: (k) => {
      const w = deployment('shop', 'api', { templateSidecar: 'annotation' });
      k.seed(Resources.deployments, w);
      const [p] = podsOf(w, { sidecar: 'annotation' });
      p.metadata.annotations = {
        ...p.metadata.annotations,
        'proxy.istio.io/config': '{"proxyMetadata":{"PROXY_CONFIG_XDS_AGENT":"true"}}',
      };
      k.seed(Resources.pods, p);
    },
  });
  assert.deepEqual((await read(k)).input.mesh.push, { enabled: 1, total: 3 });
  assert.equal(podXdsAgent({ 'proxy.istio.io/config': 'proxyMetadata:\n  PROXY_CONFIG_XDS_AGENT: "false"\n' }), false);
  assert.equal(meshConfigFacts('not: [valid').xdsAgent, null);
});

test('discoverySelectors: gates look only at the namespaces istiod selects (and its own), and the plan says so', async () => {
  const mesh = 'discoverySelectors:\n- matchLabels:\n    mesh: "on"\n';
  const { input, scope } = await read(cluster({ mesh }));
  assert.deepEqual(scope.namespaces, ['istio-system', 'shop']);
  assert.match(input.mesh.notes.join('\n'), /discoverySelectors: gates look at the 2 namespaces istiod selects/);
  assert.equal(selects({ matchExpressions: [{ key: 'mesh', operator: 'In', values: ['on'] }] }, { mesh: 'on' }), true);
  assert.equal(selects({ matchExpressions: [{ key: 'mesh', operator: 'DoesNotExist' }] }, { mesh: 'on' }), false);
  assert.equal(selects({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] }, {}), true);
});

test('PILOT_CA_CERT_CONFIGMAP renames the ConfigMap the namespace gate reads', async () => {
  const k = cluster({
    extra: (k) => {
      k.remove(Resources.deployments, 'istio-system', 'istiod');
      k.seed(
        Resources.deployments,
        istiod('istiod', { ISTIO_MULTIROOT_MESH: 'true', PILOT_CA_CERT_CONFIGMAP: 'mesh-root' }),
      );
    },
  });
  const { input, scope } = await read(k);
  assert.equal(scope.configMap, 'mesh-root');
  assert.match(input.mesh.notes.join('\n'), /publishes roots as mesh-root/);
});

test("revisions: every istiod Deployment is read (multi-root, version) with its revision's mesh config", async () => {
  const k = cluster({
    extra: (k) => {
      k.seed(Resources.deployments, istiod('istiod-canary', { ISTIO_MULTIROOT_MESH: 'false' }, 'canary'));
      k.seed(Resources.configmaps, {
        metadata: { name: 'istio-canary', namespace: 'istio-system' },
        data: { mesh: '' },
      });
    },
  });
  const { input } = await read(k);
  assert.deepEqual(
    input.mesh.istiods.map((i) => `${i.name}:${i.revision}:${i.multiRoot}`),
    ['istiod:null:true', 'istiod-canary:canary:false'],
  );
  assert.equal(input.mesh.restart.istiod, 2);
  assert.ok(
    k.callsWhere({ verb: 'get', resource: 'configmaps', name: 'istio-canary' }).length === 1,
    'the canary mesh config was read',
  );
});

test('ztunnel is never a sidecar workload; partitioned and OnDelete StatefulSets, bare pods and Jobs need attention', async () => {
  const k = cluster({
    extra: (k) => {
      const zt = daemonSet('istio-system', 'ztunnel', { replicas: 2, templateSidecar: 'container' });
      k.seed(Resources.daemonsets, zt);
      k.seed(Resources.pods, ...podsOf(zt));
      const db = statefulSet('shop', 'db', { replicas: 3, templateSidecar: 'annotation' });
      (db.spec as { updateStrategy: unknown }).updateStrategy = {
        type: 'RollingUpdate',
        rollingUpdate: { partition: 2 },
      };
      k.seed(Resources.statefulsets, db);
      k.seed(Resources.pods, ...podsOf(db, { sidecar: 'annotation' }));
      const cache = statefulSet('shop', 'cache', { templateSidecar: 'annotation', updateStrategy: 'OnDelete' });
      k.seed(Resources.statefulsets, cache);
      k.seed(Resources.pods, ...podsOf(cache, { sidecar: 'annotation' }));
      const bare: Pod = {
        metadata: { name: 'debug', namespace: 'shop', annotations: { 'sidecar.istio.io/status': '{}' } },
      };
      const job: Pod = {
        metadata: {
          name: 'migrate-x1',
          namespace: 'shop',
          annotations: { 'sidecar.istio.io/status': '{}' },
          ownerReferences: [{ kind: 'Job', name: 'migrate', controller: true }],
        },
      };
      k.seed(Resources.pods, bare, job);
    },
  });
  const { input, scope } = await read(k);
  const attention = input.mesh.attention.join('\n');
  assert.match(attention, /istio-system\/DaemonSet\/ztunnel: ztunnel is never restarted by rotate/);
  assert.match(attention, /shop\/StatefulSet\/db: partition 2: pods below it keep their certificates/);
  assert.match(attention, /shop\/StatefulSet\/cache: updateStrategy OnDelete/);
  assert.match(attention, /shop\/debug \(none\): no workload to roll/);
  assert.match(attention, /shop\/migrate-x1 \(Job\/migrate\): no workload to roll/);
  assert.deepEqual([...scope.ungated].sort(), ['shop/StatefulSet/cache', 'shop/StatefulSet/db']);
  assert.equal(input.mesh.restart.workloads, 1, 'only web rolls');
});

test('cacerts owned by a controller that would revert rotate: named with the mark that says so', () => {
  const meta = (m: Partial<KubeObject['metadata']>): KubeObject => ({ metadata: { name: 'cacerts', ...m } });
  const cases: [KubeObject, RegExp | null][] = [
    [meta({ labels: { 'app.kubernetes.io/managed-by': 'Helm' } }), /^Helm \(label app.kubernetes.io\/managed-by\)$/],
    [meta({ annotations: { 'meta.helm.sh/release-name': 'istio' } }), /^Helm/],
    [meta({ annotations: { 'argocd.argoproj.io/tracking-id': 'x' } }), /^Argo CD/],
    [meta({ labels: { 'kustomize.toolkit.fluxcd.io/name': 'x' } }), /^Flux/],
    [meta({ labels: { 'helm.toolkit.fluxcd.io/name': 'x' } }), /^Flux/],
    [
      meta({ ownerReferences: [{ kind: 'ExternalSecret', name: 'ca' }] }),
      /^external-secrets \(owner ExternalSecret\/ca\)/,
    ],
    [meta({ labels: { 'reconcile.external-secrets.io/created-by': 'x' } }), /^external-secrets/],
    [meta({ ownerReferences: [{ kind: 'SealedSecret', name: 'ca' }] }), /^sealed-secrets/],
    [meta({ annotations: { 'cert-manager.io/certificate-name': 'ca' } }), /^cert-manager/],
    [meta({ labels: { app: 'istiod', 'app.kubernetes.io/instance': 'istio' } }), null],
  ];
  for (const [obj, want] of cases) {
    const got = managingController(obj);
    if (want) assert.match(got ?? '', want);
    else assert.equal(got, null);
  }
});

test('a Helm-owned cacerts reaches the plan as its owner (the planner refuses it)', async () => {
  const { input } = await read(
    cluster({ cacerts: { name: 'cacerts', labels: { 'app.kubernetes.io/managed-by': 'Helm' } } }),
  );
  assert.match(input.mesh.cacertsOwner ?? '', /^Helm/);
});

test('-n scopes the pods the gates wait for', async () => {
  const { scope } = await read(cluster(), ['shop']);
  assert.deepEqual(scope.workloadNamespaces, ['shop']);
});
