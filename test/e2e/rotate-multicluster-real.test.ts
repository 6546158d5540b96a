/**
 * Two clusters in lockstep on real workloads: a second test-cluster instance beside the suite's, one shared root A
 * with an intermediate per cluster, in each a real istiod, two real pilot-agents (SECRET_TTL=24h: only restarts
 * re-issue certificates) and its own mTLS continuity probe. `rotate --contexts east,west` A -> B: 0 failed
 * handshakes on both, every proxy gate of both clusters read both proxies through pods/exec.
 * Opt-in (ISTIO_CA_E2E_MULTICLUSTER_REAL=1; about 4.5 min at load ~20): rotate-multicluster.test.ts keeps the
 * lockstep order in the default suite, and a cold `npm test` must stay under 30 minutes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eEnv, kubectl, kubectlOk, uniqueName, waitFor } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { mergeKubeconfigs, testClusterAt } from './support/second-cluster.js';
import { startIstiod, type Istiod } from './support/istiod.js';
import {
  applyRealWorkloads,
  controlPlaneManifest,
  startProbe,
  startSidecarKubelet,
  type MeshProbe,
  type ProbeTotals,
  type SidecarKubelet,
} from './support/mesh.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-mc-real-'));
const westState = join(work, 'west-cluster');
const merged = join(work, 'kubeconfig');
const istioNs = uniqueName('istio-mcr');
const appNs = uniqueName('mcr-app');
const started = Date.now();
const enabled = process.env.ISTIO_CA_E2E_MULTICLUSTER_REAL === '1';

interface Cluster {
  name: 'east' | 'west';
  kubeconfig: string;
  istiod?: Istiod;
  kubelet?: SidecarKubelet;
  probe?: MeshProbe;
}
const clusters: Cluster[] = [];

const testCluster = testClusterAt(westState);

const describeTotals = (name: string, t: ProbeTotals) =>
  `${name}: ${t.failures} failed of ${t.handshakes} handshakes` +
  (t.firstFailure ? ` over ${t.failingSeconds.toFixed(1)}s, first: ${t.firstFailure.error}` : '');

after(async () => {
  if (!enabled) return rm(work, { recursive: true, force: true });
  for (const c of clusters) {
    await c.probe?.stop().catch(() => undefined);
    await c.kubelet?.stop().catch(() => undefined);
    await c.istiod?.stop().catch(() => undefined);
    if (c.name === 'east')
      for (const ns of [appNs, istioNs])
        await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  }
  try {
    testCluster(['down', '--purge']);
  } catch {
    /* reported by the test that failed */
  }
  await rm(work, { recursive: true, force: true });
  process.stderr.write(`# rotate-multicluster-real: ${((Date.now() - started) / 1000).toFixed(0)}s in all\n`);
});

test(
  'setup: a second cluster; shared root A, an intermediate each; a real istiod, two real agents and a probe in each',
  { skip: !enabled },
  async () => {
    clusters.push({ name: 'east', kubeconfig: e2eEnv().kubeconfig }, { name: 'west', kubeconfig: testCluster(['up']) });
    await mergeKubeconfigs(clusters, merged, 'east');
    for (const d of ['a', 'b']) {
      const r = await plugin([
        'generate',
        '-d',
        join(work, d),
        '--kty',
        'EC',
        '--cluster',
        'east',
        '--cluster',
        'west',
      ]);
      assert.equal(r.code, 0, r.stderr);
      registerKeys(join(work, d));
    }
    for (const c of clusters) {
      const k = { kubeconfig: c.kubeconfig };
      await kubectlOk(['apply', '-f', '-'], {
        ...k,
        input: controlPlaneManifest(istioNs, [appNs], { multiRoot: true }),
      });
      const r = await plugin(
        ['replace', '--from-dir', join(work, 'a', c.name), '-i', istioNs, '--yes', '--no-backup', '--context', c.name],
        { kubeconfig: merged },
      );
      assert.equal(r.code, 0, r.stderr);
      c.istiod = await startIstiod({ namespace: istioNs, kubeconfig: c.kubeconfig, syncDelayMs: 1000 });
      c.kubelet = await startSidecarKubelet({
        istiod: c.istiod,
        namespaces: [appNs],
        kubeconfig: c.kubeconfig,
        secretTtl: '24h',
        mountDelayMs: 1000,
        stateDir: join(work, `${c.name}-mesh`),
      });
      const ready = await applyRealWorkloads(
        c.kubelet.podsDir,
        [
          { namespace: appNs, name: 'front' },
          { namespace: appNs, name: 'back' },
        ],
        k,
      );
      assert.equal(ready.length, 2);
      c.probe = await startProbe(c.kubelet.podsDir, join(work, `${c.name}-probe`));
    }
    for (const c of clusters)
      await waitFor(() => (c.probe!.totals()?.handshakes ?? 0) > 10, 30_000, { message: `the ${c.name} probe` });
  },
);

test(
  'rotate --contexts east,west A -> B on real agents: 0 failed handshakes on both, every proxy read on both',
  { skip: !enabled },
  async () => {
    for (const c of clusters) await c.probe!.reset();
    const r = await plugin(
      [
        'rotate',
        '--from-dir',
        join(work, 'b'),
        '--contexts',
        'east,west',
        '-i',
        istioNs,
        '-n',
        appNs,
        '--kubelet-sync',
        '3s',
        '--gate-timeout',
        '4m',
        '--yes',
        '--backup-dir',
        join(work, 'backups'),
        '-o',
        'json',
      ],
      { kubeconfig: merged },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as {
      phases: { phase: string; clusters: { context: string; gates: { name: string; evidence?: string }[] }[] }[];
    };
    assert.deepEqual(
      out.phases.map((p) => `${p.phase}:${p.clusters.map((c) => c.context).join('+')}`),
      ['trust-both:east+west', 'switch-signer:east+west', 'drop-old:east+west'],
    );
    for (const p of out.phases)
      for (const c of p.clusters)
        for (const g of c.gates.filter((x) => x.name === 'proxies-trust' || x.name === 'proxies-signed-by'))
          assert.match(g.evidence ?? '', /^2 sidecar pod\(s\), 2 read through pods\/exec/, `${c.context} ${g.name}`);
    const lines: string[] = [];
    for (const c of clusters) {
      const t = c.probe!.totals()!;
      lines.push(describeTotals(c.name, t));
      assert.ok(t.handshakes > 30, `the ${c.name} probe ran throughout (${t.handshakes})`);
      assert.equal(t.failures, 0, describeTotals(c.name, t));
    }
    process.stderr.write(`# two clusters in lockstep on real agents: ${lines.join('; ')}\n`);
  },
);
