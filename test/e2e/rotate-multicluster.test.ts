/**
 * Two clusters that share a root (a second test-cluster instance beside the suite's), each with its own intermediate
 * and its own real istiod, rotated A -> B in lockstep with `rotate --contexts east,west`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyFixtureMesh, e2eEnv, kubectlOk, uniqueName, waitFor, type FixtureMesh } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { mergeKubeconfigs, testClusterAt } from './support/second-cluster.js';
import { ISTIOD_REJECTIONS, startIstiod, type Istiod } from './support/istiod.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-multi-'));
const westState = join(work, 'west-cluster');
const merged = join(work, 'kubeconfig');
const istioNs = uniqueName('istio-mc');
const clusters: { name: 'east' | 'west'; kubeconfig: string; mesh?: FixtureMesh; istiod?: Istiod }[] = [];
const PHASE_INDEX: Record<string, number> = { 'trust-both': 1, 'switch-signer': 2, 'drop-old': 3, complete: 3 };

const testCluster = testClusterAt(westState);

async function roots(kubeconfig: string, ns: string): Promise<string[]> {
  const pem = await kubectlOk(
    ['get', 'configmap', 'istio-ca-root-cert', '-n', ns, '-o', 'jsonpath={.data.root-cert\\.pem}'],
    { kubeconfig },
  ).catch(() => '');
  return [...new Set(pemFingerprints(pem))];
}

async function allTrustOnly(expected: string[]): Promise<boolean> {
  for (const c of clusters) {
    for (const ns of [c.mesh!.istioNamespace, c.mesh!.injectNamespace, c.mesh!.revNamespace]) {
      const have = await roots(c.kubeconfig, ns);
      if (have.length !== expected.length || !expected.every((f) => have.includes(f))) return false;
    }
  }
  return true;
}

async function phaseOf(c: (typeof clusters)[number]): Promise<number> {
  const out = await kubectlOk(
    [
      'get',
      'secret',
      'cacerts',
      '-n',
      istioNs,
      '-o',
      'jsonpath={.metadata.annotations.kubectl-istio-ca\\.io/rotation-phase}',
    ],
    { kubeconfig: c.kubeconfig },
  );
  return PHASE_INDEX[out.trim()] ?? 0;
}

test('setup: a second cluster, one shared root A with an intermediate per cluster, a real istiod in each', async () => {
  clusters.push({ name: 'east', kubeconfig: e2eEnv().kubeconfig }, { name: 'west', kubeconfig: testCluster(['up']) });
  await mergeKubeconfigs(clusters, merged, 'east');
  for (const d of ['a', 'b']) {
    const r = await plugin(['generate', '-d', join(work, d), '--kty', 'EC', '--cluster', 'east', '--cluster', 'west']);
    assert.equal(r.code, 0, r.stderr);
    registerKeys(join(work, d));
  }
  for (const c of clusters) {
    c.mesh = await applyFixtureMesh({
      kubeconfig: c.kubeconfig,
      rename: {
        'istio-system': istioNs,
        'mesh-inject': uniqueName('inject-mc'),
        'mesh-rev': uniqueName('rev-mc'),
        'mesh-plain': uniqueName('plain-mc'),
      },
    });
    const r = await plugin(
      ['replace', '--from-dir', join(work, 'a', c.name), '-i', istioNs, '--yes', '--no-backup', '--context', c.name],
      { kubeconfig: merged },
    );
    assert.equal(r.code, 0, r.stderr);
    await kubectlOk(
      ['set', 'env', 'deployment/istiod', '-n', istioNs, '-c', 'discovery', 'ISTIO_MULTIROOT_MESH=true'],
      { kubeconfig: c.kubeconfig },
    );
    c.istiod = await startIstiod({ namespace: istioNs, kubeconfig: c.kubeconfig, syncDelayMs: 1000 });
  }
  const rootA = pemFingerprints(await readFile(join(work, 'a', 'root-cert.pem'), 'utf8'));
  await waitFor(() => allTrustOnly(rootA), 120_000, { message: 'both istiods to publish root A' });
});

test('rotate --contexts east,west: every cluster finishes a phase before any starts the next, and both end on root B', async () => {
  let maxSkew = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const [e, w] = await Promise.all(clusters.map(phaseOf));
      maxSkew = Math.max(maxSkew, Math.abs(e - w));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const r = await plugin(
    [
      'rotate',
      '--from-dir',
      join(work, 'b'),
      '--contexts',
      'east,west',
      '-i',
      istioNs,
      '--kubelet-sync',
      '3s',
      '--gate-timeout',
      '3m',
      '--yes',
      '--backup-dir',
      join(work, 'backups'),
      // Restart only this test's workloads (the east cluster is shared with the other suites).
      ...clusters.flatMap((c) => ['-n', c.mesh!.injectNamespace, '-n', c.mesh!.revNamespace]),
      '-o',
      'json',
    ],
    { kubeconfig: merged },
  );
  watching = false;
  await watcher;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.contexts, ['east', 'west']);
  assert.deepEqual(
    out.phases.map(
      (p: { phase: string; clusters: { context: string }[] }) =>
        `${p.phase}:${p.clusters.map((c) => c.context).join('+')}`,
    ),
    ['trust-both:east+west', 'switch-signer:east+west', 'drop-old:east+west'],
  );
  assert.ok(maxSkew <= 1, `the clusters were ${maxSkew} phases apart`);
  const rootB = pemFingerprints(await readFile(join(work, 'b', 'root-cert.pem'), 'utf8'));
  assert.deepEqual(out.finalRoots, rootB);
  await waitFor(() => allTrustOnly(rootB), 120_000, { message: 'both clusters to trust only root B' });
  for (const c of clusters) {
    const log = c.istiod!.log();
    for (const re of ISTIOD_REJECTIONS) assert.doesNotMatch(log, re, `${c.name}: istiod rejected a bundle`);
    const signer = pemFingerprints(await readFile(join(work, 'b', c.name, 'ca-cert.pem'), 'utf8'))[0];
    const s = JSON.parse(
      (await plugin(['status', '-i', istioNs, '--context', c.name, '-o', 'json'], { kubeconfig: merged })).stdout,
    );
    assert.equal(
      s.certificates.find((x: { role: string }) => x.role === 'signing').fingerprintSha256,
      signer,
      `${c.name} signs with its own new intermediate`,
    );
  }
});

test('teardown', async () => {
  for (const c of clusters) await c.istiod?.stop();
  await kubectlOk([
    'delete',
    'namespace',
    istioNs,
    clusters[0].mesh!.injectNamespace,
    clusters[0].mesh!.revNamespace,
    clusters[0].mesh!.plainNamespace,
    '--wait=false',
  ]).catch(() => undefined);
  testCluster(['down', '--purge']);
  await rm(work, { recursive: true, force: true });
});
