import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChecks, staleWorkloads } from '../../src/verify/checks.js';
import { deriveStatus } from '../../src/status/run.js';
import { podOwner, type MeshSnapshot } from '../../src/mesh/snapshot.js';
import type { Pod } from '../../src/kube/resources.js';

const NOW = new Date('2026-11-28T12:00:00Z');
const CHANGE = '2026-11-28T10:00:00Z';
const A = 'AA:' + '00:'.repeat(30) + '01';
const B = 'BB:' + '00:'.repeat(30) + '02';

function pod(name: string, started: string, ready = true): Pod {
  return {
    metadata: { name, namespace: 'istio-system', creationTimestamp: started },
    status: { startTime: started, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function cert(subject: string, fp: string, notAfter: string) {
  return {
    subject,
    issuer: subject,
    serial: '01',
    fingerprintSha256: fp,
    key: { type: 'EC' as const, bits: 256, curve: 'P-256', label: 'EC P-256' },
    signatureAlgorithm: 'ecdsa-with-SHA256',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter,
    daysLeft: 0,
    isCA: true,
    pathLen: 0,
    keyUsage: [],
    extKeyUsage: [],
    subjectKeyId: null,
    authorityKeyId: null,
    dnsNames: [],
    selfSigned: false,
  };
}

function snapshot(over: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return {
    context: 'test',
    istioNamespace: 'istio-system',
    ca: {
      namespace: 'istio-system',
      mode: 'plugged',
      externalReason: null,
      cacerts: { metadata: { name: 'cacerts' } },
      selfSigned: null,
      secretsReadable: true,
      istiodDeployments: [],
      multiRoot: false,
    },
    bundle: {
      layout: 'cacerts',
      valid: true,
      multiRoot: false,
      signingCert: cert('CN=Intermediate', 'CC', '2030-01-01T00:00:00.000Z'),
      signingKey: null,
      chain: [],
      roots: [cert('CN=Root B', B, '2036-01-01T00:00:00.000Z')],
      findings: [],
    },
    referenceRoots: [B],
    referenceSource: 'cacerts',
    previousRoots: [A],
    lastChange: {
      at: CHANGE,
      kind: 'root-change',
      by: 'kubectl-istio-ca/0.1.0',
      bundleSha256: 'x',
      source: 'annotation',
    },
    istiodPods: [pod('istiod-1', '2026-11-28T11:00:00Z'), pod('istiod-2', '2026-11-28T11:00:00Z')],
    namespaces: ['app', 'istio-system'],
    rootConfigMaps: new Map([
      ['app', [B]],
      ['istio-system', [B]],
    ]),
    rootPublication: { kind: 'ConfigMap', name: 'istio-ca-root-cert' },
    trustBundle: null,
    sidecarPods: [{ namespace: 'app', name: 'web-1', createdAt: '2026-11-28T11:00:00Z', owner: 'Deployment/web' }],
    skipped: [],
    ...over,
  };
}

const statusOf = (s: MeshSnapshot, id: string) => runChecks(s, NOW).checks.find((c) => c.id === id)?.status;

test('verify passes when every namespace, istiod and sidecar follows the CA', () => {
  const r = runChecks(snapshot(), NOW);
  assert.equal(r.passed, true, JSON.stringify(r.checks, null, 1));
  assert.deepEqual(
    r.checks.map((c) => c.id),
    [
      'ca.secret',
      'ca.expiry',
      'istiod.ready',
      'istiod.restarted',
      'namespaces.roots',
      'namespaces.removed-root',
      'workloads.restarted',
    ],
  );
});

test('verify fails a namespace that still trusts only the removed root, naming it', () => {
  const r = runChecks(
    snapshot({
      rootConfigMaps: new Map([
        ['app', [A]],
        ['istio-system', [B]],
      ]),
    }),
    NOW,
  );
  assert.equal(r.passed, false);
  const removed = r.checks.find((c) => c.id === 'namespaces.removed-root')!;
  assert.equal(removed.status, 'fail');
  assert.deepEqual(removed.items, ['app']);
  assert.ok(removed.hint);
});

test('verify fails a namespace without istio-ca-root-cert', () => {
  const r = runChecks(snapshot({ rootConfigMaps: new Map([['istio-system', [B]]]) }), NOW);
  assert.equal(r.checks.find((c) => c.id === 'namespaces.roots')!.status, 'fail');
  assert.match(r.checks.find((c) => c.id === 'namespaces.roots')!.items!.join(), /app: no istio-ca-root-cert/);
});

test('sidecar pods from before a root change need a restart; after an intermediate-only change they only warn', () => {
  const old = [
    { namespace: 'app', name: 'web-1', createdAt: '2026-11-28T09:00:00Z', owner: 'Deployment/web' },
    { namespace: 'app', name: 'web-2', createdAt: '2026-11-28T09:00:00Z', owner: 'Deployment/web' },
  ];
  const s = snapshot({ sidecarPods: old });
  assert.equal(statusOf(s, 'workloads.restarted'), 'fail');
  assert.deepEqual(runChecks(s, NOW).checks.find((c) => c.id === 'workloads.restarted')!.items, [
    'app/Deployment/web (2 pods)',
  ]);
  assert.deepEqual([...staleWorkloads(s).keys()], ['app/Deployment/web']);
  const inter = snapshot({ sidecarPods: old, lastChange: { ...snapshot().lastChange, kind: 'intermediate-only' } });
  assert.equal(statusOf(inter, 'workloads.restarted'), 'warn');
});

test('istiod pods older than a root change fail; older than an intermediate-only change are fine (hot reload)', () => {
  const old = [pod('istiod-1', '2026-11-28T08:00:00Z')];
  assert.equal(statusOf(snapshot({ istiodPods: old }), 'istiod.restarted'), 'fail');
  assert.equal(
    statusOf(
      snapshot({ istiodPods: old, lastChange: { ...snapshot().lastChange, kind: 'intermediate-only' } }),
      'istiod.restarted',
    ),
    'ok',
  );
  assert.equal(
    statusOf(snapshot({ istiodPods: [pod('istiod-1', '2026-11-28T11:00:00Z', false)] }), 'istiod.ready'),
    'fail',
  );
});

test('expiry: within 30 days warns, expired fails', () => {
  const soon = snapshot();
  soon.bundle!.signingCert = cert('CN=Intermediate', 'CC', '2026-12-10T00:00:00.000Z');
  assert.equal(statusOf(soon, 'ca.expiry'), 'warn');
  const gone = snapshot();
  gone.bundle!.signingCert = cert('CN=Intermediate', 'CC', '2026-11-01T00:00:00.000Z');
  assert.equal(statusOf(gone, 'ca.expiry'), 'fail');
});

test('without secrets the CA check is skipped, not failed', () => {
  const s = snapshot({
    ca: { ...snapshot().ca, mode: 'unknown', secretsReadable: false, cacerts: null },
    bundle: null,
    referenceSource: 'configmap',
  });
  assert.equal(statusOf(s, 'ca.secret'), 'skip');
  assert.equal(runChecks(s, NOW).passed, true);
});

test('status derives sync counts, waiting workloads and a life-left fraction', () => {
  const st = deriveStatus(
    snapshot({
      rootConfigMaps: new Map([
        ['app', [A]],
        ['istio-system', [B]],
      ]),
    }),
    NOW,
  );
  assert.deepEqual(st.namespaces, { inSync: 1, total: 2, outOfSync: ['app'] });
  assert.equal(st.certificates[0].role, 'signing');
  assert.ok(st.certificates[0].lifeLeft > 0 && st.certificates[0].lifeLeft < 1);
  // The key is described as generate and inspect describe it (an object), never as a bare label.
  const key = st.certificates[0].key as unknown;
  assert.equal(typeof key, 'object');
  assert.match(st.certificates[0].key.label, /^(RSA \d+|EC P-\d+)$/);
  assert.equal(typeof st.certificates[0].key.bits, 'number');
});

test('a pod is attributed to its Deployment through the ReplicaSet name and pod-template-hash', () => {
  assert.equal(
    podOwner({
      metadata: {
        name: 'web-5d8f-x',
        labels: { 'pod-template-hash': '5d8f' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-5d8f', controller: true }],
      },
    }),
    'Deployment/web',
  );
  assert.equal(
    podOwner({ metadata: { name: 'db-0', ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] } }),
    'StatefulSet/db',
  );
  assert.equal(podOwner({ metadata: { name: 'lonely' } }), 'Pod/lonely');
});
