/**
 * The Istio version of an istiod whose image tag does not say (a digest, a custom tag), read from istiod's /version
 * on its monitoring port through pods/proxy, feeds the same prechecks as a tag (multi-root bugs 1.24.4 and 1.25.1,
 * the pre-1.30 byte rule), and the plan says which source it used. Strict fake plus a pods/proxy stub.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BundleData } from '../../src/ca/bundle.js';
import { RefusedError } from '../../src/errors.js';
import { monitoringPort, parseIstiodVersion } from '../../src/istio/istiod-version.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { Resources, type Pod, type Workload } from '../../src/kube/resources.js';
import { planRotation } from '../../src/rotate/plan.js';
import { readClusterState } from '../../src/rotate/state.js';
import { makeCas } from './support/ca-fixtures.js';
import { deployment, FakeKube, ROTATE_READS as READS, podsOf } from './support/fake-kube.js';

const cas = await makeCas(['a', 'b']);
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const enc = (b: BundleData) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.toString('base64')]));

test("istiod's /version answers are read as istiod writes them (BuildInfo.String) and as istioctl's JSON", () => {
  assert.equal(parseIstiodVersion('1.25.1-8d2b3c4e5f60718293a4b5c6d7e8f90112233445-Clean'), '1.25.1');
  assert.equal(parseIstiodVersion('1.28.0-abc-Modified\n'), '1.28.0');
  assert.equal(parseIstiodVersion('1.30.0-rc.1-abc-Clean'), '1.30.0-rc.1');
  assert.equal(parseIstiodVersion('1.31-alpha.eed52ebb66ad-eed52ebb66ad-Clean'), '1.31.0-alpha');
  assert.equal(parseIstiodVersion('{"clientVersion":{"version":"1.24.4","revision":"x"}}'), '1.24.4');
  // What an istiod built without release ldflags answers (our test build): unknown, never a guess.
  assert.equal(parseIstiodVersion('unknown-unknown-unknown'), null);
  assert.equal(parseIstiodVersion('<html>'), null);
  const pod = (ports?: { name: string; containerPort: number }[]): Pod =>
    ({ metadata: { name: 'p' }, spec: { containers: [{ name: 'discovery', ports }] } }) as unknown as Pod;
  assert.equal(monitoringPort(pod()), 15014);
  assert.equal(monitoringPort(pod([{ name: 'http-monitoring', containerPort: 25014 }])), 25014);
});

function istiod(image: string): Workload {
  const d = deployment('istio-system', 'istiod', { labels: { app: 'istiod' } });
  const c = d.spec?.template?.spec?.containers?.[0];
  if (c) {
    c.name = 'discovery';
    (c as { image?: string }).image = image;
    c.env = [{ name: 'ISTIO_MULTIROOT_MESH', value: 'true' }];
  }
  return d;
}

function cluster(image: string, answer: (pod: string, port: number) => Promise<string>) {
  const k = new FakeKube({ allow: READS });
  k.seed(Resources.namespaces, { metadata: { name: 'istio-system' } });
  k.seed(Resources.secrets, { metadata: { name: 'cacerts', namespace: 'istio-system' }, data: enc(A) });
  const d = istiod(image);
  k.seed(Resources.deployments, d);
  const pods = podsOf(d);
  for (const p of pods) p.status = { ...p.status, conditions: [{ type: 'Ready', status: 'True' }] };
  k.seed(Resources.pods, ...pods);
  const asked: string[] = [];
  Object.assign(k, {
    proxyGet: (ns: string, pod: string, port: number, path: string) => {
      asked.push(`${ns}/${pod}:${port}/${path}`);
      return answer(pod, port);
    },
  });
  return { k, asked };
}

const read = (k: FakeKube) =>
  readClusterState(k, B, { istioNamespace: 'istio-system', namespaces: undefined }).finally(() => {
    k.assertNoUnexpectedCalls();
  });
const opts = { resume: false, allowDowntime: false, proxyUpdate: 'auto' as const, concurrency: 5, kubeletSyncMs: 1000 };

test('a digest-only image: the version endpoint says 1.25.1, rotate refuses (exit 2) and says where the version came from', async () => {
  const { k, asked } = cluster('docker.io/istio/pilot@sha256:' + 'a'.repeat(64), async () => '1.25.1-abc-Clean');
  const { input } = await read(k);
  assert.equal(asked.length, 1, 'one Ready istiod pod asked, once');
  assert.match(asked[0], /^istio-system\/istiod-\w+-\w+:15014\/version$/);
  const i = input.mesh.istiods[0];
  assert.deepEqual([i.version, i.versionSource], ['1.25.1', 'version endpoint']);
  assert.ok(
    input.mesh.notes.some((n) =>
      /istiod istiod: Istio 1\.25\.1 from its version endpoint: pods\/proxy istiod-/.test(n),
    ),
  );
  assert.throws(
    () => planRotation([input], opts),
    (e: unknown) =>
      e instanceof RefusedError &&
      /runs Istio 1\.25\.1 \(its version endpoint says\), whose multi-root trust handling is broken/.test(e.message),
  );
});

test('a tag that says the version is used as it is: no pod is asked', async () => {
  const { k, asked } = cluster('docker.io/istio/pilot:1.29.2-distroless', async () => 'never');
  const { input } = await read(k);
  assert.deepEqual(asked, []);
  assert.deepEqual([input.mesh.istiods[0].version, input.mesh.istiods[0].versionSource], ['1.29.2', 'image tag']);
});

test('a custom tag and an endpoint that cannot say: version unknown, the byte rule assumed, and why is said', async () => {
  for (const [answer, why] of [
    [async () => 'unknown-unknown-unknown', /answered "unknown-unknown-unknown"/],
    [
      async () => {
        throw new KubeApiError(403, 'Forbidden', 'pods "x" is forbidden', 'get', 'pods/proxy', 'istio-system');
      },
      /pods\/proxy forbidden/,
    ],
    [
      async () => {
        throw new KubeApiError(
          503,
          'ServiceUnavailable',
          'error trying to reach service: dial tcp 10.0.0.9:15014: i/o timeout',
          'get',
          'pods/proxy',
          'istio-system',
        );
      },
      /dial tcp 10\.0\.0\.9:15014/,
    ],
  ] as const) {
    const { k } = cluster('registry.example/mesh/pilot:prod-2026', answer);
    const { input } = await read(k);
    const i = input.mesh.istiods[0];
    assert.equal(i.version, null);
    const note = input.mesh.notes.find((n) => n.startsWith('istiod istiod: Istio version unknown'));
    assert.ok(note && why.test(note) && /image registry\.example\/mesh\/pilot:prod-2026 does not say/.test(note), note);
    assert.match(note, /pre-1\.30 byte rule for root changes is assumed/);
  }
});
