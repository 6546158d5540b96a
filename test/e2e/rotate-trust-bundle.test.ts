/**
 * A mesh whose istiod runs with ENABLE_CLUSTER_TRUST_BUNDLE_API=true, against the real istiod and real pilot-agents:
 * istiod publishes its roots as the ClusterTrustBundle istio.io:istiod-ca:root-cert (signerName istio.io/istiod-ca)
 * and writes no istio-ca-root-cert ConfigMap; every pod mounts root-cert.pem from that ClusterTrustBundle (a
 * projected volume, as Istio's injection template does). verify and status read the ClusterTrustBundle and say so;
 * rotate A -> B gates on it (gate cluster-trust-bundle, not ConfigMaps that never come) and on the proxies, and the
 * continuity probe counts 0 failed handshakes. Needs the test cluster's certificates.k8s.io/v1beta1
 * clustertrustbundles (scripts/test-cluster enables the ClusterTrustBundle feature gates).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, waitFor } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { startIstiod, type Istiod } from './support/istiod.js';
import {
  ISTIOD_TRUST_BUNDLE,
  applyRealWorkloads,
  controlPlaneManifest,
  startProbe,
  startSidecarKubelet,
  type MeshProbe,
  type ProbeTotals,
  type SidecarKubelet,
} from './support/mesh.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-ctb-'));
const dir = (n: string) => join(work, n);
let istioNs = '';
let nsA = '';
let nsB = '';
let istiod: Istiod | null = null;
let kubelet: SidecarKubelet | null = null;
let probe: MeshProbe | null = null;
const started = Date.now();

async function gen(name: string): Promise<void> {
  const r = await plugin(['generate', '-d', dir(name), '--kty', 'EC']);
  assert.equal(r.code, 0, r.stderr);
  registerKeys(dir(name));
}

const fingerprints = async (name: string, file: string) =>
  pemFingerprints(await readFile(join(dir(name), file), 'utf8'));

/** Root fingerprints in istiod's ClusterTrustBundle, null when there is none. */
async function trustBundleRoots(): Promise<string[] | null> {
  const r = await kubectl([
    'get',
    'clustertrustbundles.v1beta1.certificates.k8s.io',
    ISTIOD_TRUST_BUNDLE,
    '-o',
    'json',
  ]);
  if (r.code !== 0) return null;
  const b = JSON.parse(r.stdout) as { spec: { signerName: string; trustBundle: string } };
  assert.equal(b.spec.signerName, 'istio.io/istiod-ca');
  return pemFingerprints(b.spec.trustBundle);
}

const describeTotals = (t: ProbeTotals) =>
  `${t.failures} failed of ${t.handshakes} handshakes` +
  (t.firstFailure ? ` over ${t.failingSeconds.toFixed(1)}s, first: ${t.firstFailure.error}` : '');

after(async () => {
  await probe?.stop().catch(() => undefined);
  await kubelet?.stop().catch(() => undefined);
  await istiod?.stop().catch(() => undefined);
  await kubectl([
    'delete',
    'clustertrustbundles.v1beta1.certificates.k8s.io',
    ISTIOD_TRUST_BUNDLE,
    '--ignore-not-found',
  ]);
  for (const ns of [nsA, nsB, istioNs]) if (ns) await deleteNamespace(ns).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
  process.stderr.write(`# rotate-trust-bundle: ${((Date.now() - started) / 1000).toFixed(0)}s in all\n`);
});

test('setup: istiod with ENABLE_CLUSTER_TRUST_BUNDLE_API publishes root A as a ClusterTrustBundle, no ConfigMap; four real agents mount it', async () => {
  // A ClusterTrustBundle left by an earlier run would be taken for istiod's.
  await kubectlOk([
    'delete',
    'clustertrustbundles.v1beta1.certificates.k8s.io',
    ISTIOD_TRUST_BUNDLE,
    '--ignore-not-found',
  ]);
  istioNs = await createNamespace('istio-ctb');
  nsA = await createNamespace('ctb-a', { labels: { 'istio-injection': 'enabled' } });
  nsB = await createNamespace('ctb-b', { labels: { 'istio-injection': 'enabled' } });
  await kubectlOk(['apply', '-f', '-'], {
    input: controlPlaneManifest(istioNs, [nsA, nsB], { clusterTrustBundle: true, multiRoot: true }),
  });
  await gen('a');
  await gen('b');
  assert.equal((await plugin(['replace', '--from-dir', dir('a'), '-i', istioNs, '--yes', '--no-backup'])).code, 0);
  istiod = await startIstiod({ namespace: istioNs, syncDelayMs: 1000 });
  assert.match(istiod.log(), /ENABLE_CLUSTER_TRUST_BUNDLE_API=true\) ===/);
  const rootA = await fingerprints('a', 'root-cert.pem');
  await waitFor(async () => JSON.stringify(await trustBundleRoots()) === JSON.stringify(rootA), 60_000, {
    message: `istiod to write ${ISTIOD_TRUST_BUNDLE} holding root A`,
  });
  kubelet = await startSidecarKubelet({
    istiod,
    namespaces: [nsA, nsB],
    secretTtl: '24h',
    mountDelayMs: 1000,
    clusterTrustBundles: true,
  });
  const ready = await applyRealWorkloads(
    kubelet.podsDir,
    ['alpha', 'beta', 'gamma', 'delta'].map((name, i) => ({
      namespace: i < 2 ? nsA : nsB,
      name,
      clusterTrustBundle: true,
    })),
  );
  assert.equal(ready.length, 4);
  // The agents got root A from the ClusterTrustBundle: istiod wrote no ConfigMap they could have used.
  for (const ns of [nsA, nsB, istioNs]) {
    const cm = await kubectl(['get', 'configmap', 'istio-ca-root-cert', '-n', ns]);
    assert.notEqual(cm.code, 0, `istiod wrote no istio-ca-root-cert in ${ns}`);
  }
  probe = await startProbe(kubelet.podsDir, dir('probe'));
  await waitFor(() => (probe!.totals()?.handshakes ?? 0) > 20, 30_000, { message: 'the probe to handshake' });
  assert.equal(probe.totals()!.failures, 0, describeTotals(probe.totals()!));
});

type Verify = {
  passed: boolean;
  checks: { id: string; status: string; message: string }[];
};

test('verify and status read the ClusterTrustBundle (not ConfigMaps) and say so', async () => {
  const v = await plugin(['verify', '-i', istioNs, '-n', nsA, '-n', nsB, '-o', 'json']);
  const out = JSON.parse(v.stdout) as Verify;
  const trust = out.checks.filter((c) => c.id.startsWith('trust-bundle.') || c.id.startsWith('namespaces.'));
  assert.deepEqual(
    trust.map((c) => [c.id, c.status]),
    [
      ['trust-bundle.roots', 'ok'],
      ['trust-bundle.removed-root', 'ok'],
    ],
    v.stdout,
  );
  assert.match(trust[0].message, /ClusterTrustBundle istio\.io:istiod-ca:root-cert/);
  const s = await plugin(['status', '-i', istioNs, '-o', 'json']);
  const st = JSON.parse(s.stdout) as { rootsPublishedIn: { kind: string; name: string; inSync: boolean | null } };
  assert.deepEqual(st.rootsPublishedIn, { kind: 'ClusterTrustBundle', name: ISTIOD_TRUST_BUNDLE, inSync: true });
});

test('rotate A -> B gates on the ClusterTrustBundle and on every proxy; 0 failed handshakes; verify passes right after', async () => {
  await probe!.reset();
  const r = await plugin([
    'rotate',
    '--from-dir',
    dir('b'),
    '-i',
    istioNs,
    '-n',
    nsA,
    '-n',
    nsB,
    '--kubelet-sync',
    '3s',
    '--gate-timeout',
    '3m',
    '--yes',
    '--backup-dir',
    dir('backups'),
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = JSON.parse(r.stdout) as {
    plan: { notes: string[] };
    phases: { phase: string; clusters: { gates: { name: string; evidence?: string }[] }[] }[];
  };
  assert.ok(
    run.plan.notes.some((n) => /ENABLE_CLUSTER_TRUST_BUNDLE_API/.test(n)),
    `the plan says where roots are published: ${run.plan.notes.join(' | ')}`,
  );
  for (const p of run.phases) {
    const gates = p.clusters.flatMap((c) => c.gates);
    const names = gates.map((g) => g.name);
    assert.ok(
      names.includes('cluster-trust-bundle'),
      `${p.phase} gated on the ClusterTrustBundle: ${names.join(', ')}`,
    );
    assert.ok(!names.includes('namespaces-trust'), `${p.phase} did not wait for ConfigMaps: ${names.join(', ')}`);
    const ctb = gates.find((g) => g.name === 'cluster-trust-bundle')!;
    assert.match(
      ctb.evidence ?? '',
      /ClusterTrustBundle istio\.io:istiod-ca:root-cert \(certificates\.k8s\.io\/v1beta1\)/,
    );
    for (const g of gates.filter((x) => x.name === 'proxies-trust' || x.name === 'proxies-signed-by'))
      assert.match(g.evidence ?? '', /^4 sidecar pod\(s\), 4 read through pods\/exec/, `${g.name}: ${g.evidence}`);
  }
  assert.deepEqual(await trustBundleRoots(), await fingerprints('b', 'root-cert.pem'));
  const t = probe!.totals()!;
  assert.ok(t.handshakes > 50, `the probe ran throughout (${t.handshakes} handshakes)`);
  assert.equal(t.failures, 0, describeTotals(t));
  process.stderr.write(`# rotate with ClusterTrustBundle: ${describeTotals(t)}\n`);
  const v = await plugin(['verify', '-i', istioNs, '-n', nsA, '-n', nsB, '--proxies', '-o', 'json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const out = JSON.parse(v.stdout) as Verify;
  assert.equal(out.checks.find((c) => c.id === 'trust-bundle.roots')?.status, 'ok', v.stdout);
});
