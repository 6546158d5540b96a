/**
 * PROXY_CONFIG_XDS_AGENT=true on real pilot-agents without Envoy: rotate plans the push (no workload restarts) and
 * gates on what the proxies hold. Here no push can be seen: the agent opens its xDS stream to istiod only while a
 * downstream xDS client (Envoy) holds one on its XDS socket (pkg/istio-agent/xds_proxy.go), and a pushed trust
 * bundle only notifies connected SDS clients (security/pkg/nodeagent/cache/secretcache.go UpdateConfigTrustBundle,
 * sds push): with no Envoy nothing regenerates the agent's certificate files. So rotate must not report success:
 * trust-both's proxies-trust gate reads every proxy through pods/exec still trusting only A, rotate stops with exit
 * 124 at trust-both (recorded on cacerts, nothing restarted), and the probe counts 0 failed handshakes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespace, deleteNamespace, kubectlOk, waitFor } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { startIstiod, type Istiod } from './support/istiod.js';
import {
  applyRealWorkloads,
  controlPlaneManifest,
  startProbe,
  startSidecarKubelet,
  type MeshProbe,
  type SidecarKubelet,
} from './support/mesh.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-push-'));
const dir = (n: string) => join(work, n);
const PUSH = { 'proxy.istio.io/config': '{"proxyMetadata":{"PROXY_CONFIG_XDS_AGENT":"true"}}' };
let istioNs = '';
let appNs = '';
let istiod: Istiod | null = null;
let kubelet: SidecarKubelet | null = null;
let probe: MeshProbe | null = null;

after(async () => {
  await probe?.stop().catch(() => undefined);
  await kubelet?.stop().catch(() => undefined);
  await istiod?.stop().catch(() => undefined);
  for (const ns of [appNs, istioNs]) if (ns) await deleteNamespace(ns).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

test('setup: two real agents whose pods set PROXY_CONFIG_XDS_AGENT=true (proxy.istio.io/config), the probe', async () => {
  istioNs = await createNamespace('istio-push');
  appNs = await createNamespace('push-app', { labels: { 'istio-injection': 'enabled' } });
  await kubectlOk(['apply', '-f', '-'], { input: controlPlaneManifest(istioNs, [appNs], { multiRoot: true }) });
  for (const n of ['a', 'b']) {
    const r = await plugin(['generate', '-d', dir(n), '--kty', 'EC']);
    assert.equal(r.code, 0, r.stderr);
    registerKeys(dir(n));
  }
  assert.equal((await plugin(['replace', '--from-dir', dir('a'), '-i', istioNs, '--yes', '--no-backup'])).code, 0);
  istiod = await startIstiod({ namespace: istioNs, syncDelayMs: 1000 });
  kubelet = await startSidecarKubelet({ istiod, namespaces: [appNs], secretTtl: '24h', mountDelayMs: 1000 });
  const ready = await applyRealWorkloads(kubelet.podsDir, [
    { namespace: appNs, name: 'front', annotations: PUSH },
    { namespace: appNs, name: 'back', annotations: PUSH },
  ]);
  assert.equal(ready.length, 2);
  probe = await startProbe(kubelet.podsDir, dir('probe'));
  await waitFor(() => (probe!.totals()?.handshakes ?? 0) > 10, 30_000, { message: 'the probe' });
});

test('rotate plans the push (0 restarts); no push reaches Envoy-less agents: exit 124 at trust-both, 0 failed handshakes', async () => {
  const args = ['rotate', '--from-dir', dir('b'), '-i', istioNs, '-n', appNs, '--kubelet-sync', '3s'];
  const plan = await plugin([...args, '--dry-run', '-o', 'json']);
  assert.equal(plan.code, 0, plan.stderr);
  const p = JSON.parse(plan.stdout) as {
    plan: { restarts: number; phases: { clusters: { delivery: string; restarts: number }[] }[] };
  };
  assert.deepEqual(
    p.plan.phases.map((x) => x.clusters[0].delivery),
    ['push', 'push', 'none'],
  );
  assert.deepEqual(
    p.plan.phases.map((x) => x.clusters[0].restarts),
    [0, 0, 0],
    'the push plan restarts nothing',
  );
  await probe!.reset();
  const r = await plugin([
    ...args,
    '--push-wait',
    '40s',
    '--gate-timeout',
    '2m',
    '--yes',
    '--backup-dir',
    dir('backups'),
  ]);
  assert.equal(r.code, 124, r.stderr + r.stdout);
  assert.match(r.stderr, /gate "proxies-trust".*after phase trust-both timed out/s);
  assert.match(r.stderr, /trusts 1 root\(s\), lacks 1/, 'the proxies were read, holding only root A');
  const phase = await kubectlOk([
    'get',
    'secret',
    'cacerts',
    '-n',
    istioNs,
    '-o',
    'jsonpath={.metadata.annotations.kubectl-istio-ca\\.io/rotation-phase}',
  ]);
  assert.equal(phase, 'trust-both');
  const t = probe!.totals()!;
  assert.ok(t.handshakes > 30, `the probe ran (${t.handshakes})`);
  assert.equal(t.failures, 0, JSON.stringify(t.firstFailure));
  process.stderr.write(
    `# push path on Envoy-less agents: exit 124 at trust-both, ${t.failures} failed of ${t.handshakes}\n`,
  );
});
