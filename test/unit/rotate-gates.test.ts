/** Gates as small named objects: what each waits for, what it still misses, and how it judged. Strict fake. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources, type KubeObject } from '../../src/kube/resources.js';
import { makeGate, type GateContext, type GateScope } from '../../src/rotate/gates.js';
import type { ProxyReader } from '../../src/proxies/read.js';
import { makeCas } from './support/ca-fixtures.js';
import { deployment, FakeKube, podsOf } from './support/fake-kube.js';

const cas = await makeCas(['a', 'b']);
const A = (await cas.bundle('a'))['root-cert.pem'];
const B = (await cas.bundle('b'))['root-cert.pem'];
const rootA = cas.fp(A);
const rootB = cas.fp(B);

const scope = (o: Partial<GateScope> = {}): GateScope => ({
  istioNamespace: 'istio-system',
  configMap: 'istio-ca-root-cert',
  namespaces: null,
  workloadNamespaces: null,
  ungated: new Set(),
  ...o,
});
function ctx(kube: FakeKube, o: Partial<GateContext> = {}): GateContext {
  return {
    client: kube,
    reader: null,
    scope: scope(),
    expect: { roots: [rootA, rootB], exactRoots: false, signer: null },
    since: () => new Date('2026-11-28T10:00:00Z'),
    now: () => new Date('2026-11-28T10:05:00Z'),
    ...o,
  };
}
const cm = (ns: string, pem: Buffer, name = 'istio-ca-root-cert'): KubeObject => ({
  metadata: { name, namespace: ns },
  data: { 'root-cert.pem': pem.toString() },
});

test('namespaces-trust waits for every namespace, in the renamed ConfigMap, only where istiod selects', async () => {
  const kube = new FakeKube({ allow: ['list namespaces', 'list configmaps'] });
  kube.seed(
    Resources.namespaces,
    { metadata: { name: 'istio-system' } },
    { metadata: { name: 'shop' } },
    { metadata: { name: 'unselected' } },
    { metadata: { name: 'kube-public' } },
  );
  const both = Buffer.concat([A, B]);
  kube.seed(Resources.configmaps, cm('istio-system', both, 'mesh-root'), cm('shop', A, 'mesh-root'));
  const gate = makeGate(
    'namespaces-trust',
    ctx(kube, { scope: scope({ configMap: 'mesh-root', namespaces: ['istio-system', 'shop'] }) }),
  );
  assert.equal(gate.name, 'namespaces-trust');
  assert.equal(gate.waitsFor, "every selected namespace's mesh-root holds 2 root(s)");
  let r = await gate.check();
  assert.equal(r.passed, false);
  assert.deepEqual(r.waitingFor, ['shop: lacks 1 root(s)'], 'unselected and kube-public are not waited for');
  assert.match(r.evidence ?? '', /mesh-root in 2 namespaces istiod selects \(discoverySelectors\)/);
  kube.remove(Resources.configmaps, 'shop', 'mesh-root');
  kube.seed(Resources.configmaps, cm('shop', both, 'mesh-root'));
  r = await gate.check();
  assert.equal(r.passed, true);
  const exact = makeGate(
    'namespaces-trust',
    ctx(kube, {
      scope: scope({ configMap: 'mesh-root', namespaces: ['istio-system', 'shop'] }),
      expect: { roots: [rootB], exactRoots: true, signer: null },
    }),
  );
  assert.deepEqual((await exact.check()).waitingFor, [
    'istio-system: still trusts 1 old root(s)',
    'shop: still trusts 1 old root(s)',
  ]);
  kube.assertNoUnexpectedCalls();
});

test('proxies-trust reads each sidecar once it passes; unreadable ones are judged by creation time, and it says so', async () => {
  const kube = new FakeKube({ allow: ['list pods'], now: () => new Date('2026-11-28T09:00:00Z') });
  const web = deployment('shop', 'web', { replicas: 3, templateSidecar: 'annotation' });
  const pods = podsOf(web, { sidecar: 'annotation' });
  kube.seed(Resources.pods, ...pods);
  const reads: string[] = [];
  const holds = new Map<string, string[]>([
    [pods[0].metadata.name, [rootA, rootB]],
    [pods[1].metadata.name, [rootA]],
  ]);
  const reader: ProxyReader = {
    async read(namespace, pod) {
      reads.push(pod);
      const roots = holds.get(pod);
      return roots
        ? { namespace, pod, ok: true, certs: { roots, chain: ['leaf', 'x'] } }
        : { namespace, pod, ok: false, forbidden: true, error: 'forbidden' };
    },
  };
  const gate = makeGate('proxies-trust', ctx(kube, { reader }));
  assert.equal(gate.waitsFor, 'every sidecar trusts all 2 root(s)');
  let r = await gate.check();
  assert.equal(r.passed, false);
  assert.deepEqual(r.waitingFor.sort(), [
    `shop/${pods[1].metadata.name}: trusts 1 root(s), lacks 1`,
    `shop/${pods[2].metadata.name}: could not be read and started before the phase took effect`,
  ]);
  assert.match(
    r.evidence ?? '',
    /3 sidecar pod\(s\), 2 read through pods\/exec, 1 judged by pod start time \(pods\/exec forbidden\)/,
  );
  holds.set(pods[1].metadata.name, [rootA, rootB]);
  reads.length = 0;
  r = await gate.check();
  assert.ok(!reads.includes(pods[0].metadata.name), 'a proxy that passed is not read again');
  assert.equal(r.passed, false, 'the unreadable pod predates the phase');
  kube.assertNoUnexpectedCalls();
});

test('proxies-signed-by: a leaf chaining to the new intermediate is the proof that istiod signs with it', async () => {
  const kube = new FakeKube({ allow: ['list pods'], now: () => new Date('2026-11-28T10:01:00Z') });
  const web = deployment('shop', 'web', { replicas: 2, templateSidecar: 'annotation' });
  const pods = podsOf(web, { sidecar: 'annotation' });
  kube.seed(Resources.pods, ...pods);
  const reader: ProxyReader = {
    async read(namespace, pod) {
      return { namespace, pod, ok: true, certs: { roots: [rootA, rootB], chain: ['leaf', 'signer-B'] } };
    },
  };
  const gate = makeGate(
    'proxies-signed-by',
    ctx(kube, { reader, expect: { roots: [rootA, rootB], exactRoots: false, signer: 'signer-B' } }),
  );
  const r = await gate.check();
  assert.equal(r.passed, true);
  assert.equal(r.allRead, true);
  assert.match(r.evidence ?? '', /istiod signs with the new intermediate: shop\/web-\w+-\w+'s leaf chains to it/);
  // Checked again while other gates wait: nothing is read again, and the evidence still says what was read and proved.
  const again = await gate.check();
  assert.equal(again.passed, true);
  assert.match(
    again.evidence ?? '',
    /^2 sidecar pod\(s\), 2 read through pods\/exec, istiod signs with the new intermediate: shop\/web-\w+-\w+'s leaf/,
  );
});
