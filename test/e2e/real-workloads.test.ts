/**
 * Real workloads: Istio's real pilot-agent (no Envoy) per pod, certificates from the real istiod, `kubectl exec`
 * into their istio-proxy containers, and the mTLS continuity probe counting broken handshakes while the CA changes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, waitFor } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { startIstiod, type Istiod } from './support/istiod.js';
import {
  applyRealWorkloads,
  controlPlaneManifest,
  readyWorkloads,
  rssKiB,
  startProbe,
  startSidecarKubelet,
  type MeshProbe,
  type ProbeTotals,
  type ReadyWorkload,
  type SidecarKubelet,
} from './support/mesh.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-real-'));
const dir = (n: string) => join(work, n);
let istioNs = '';
let nsA = '';
let nsB = '';
let istiod: Istiod | null = null;
let kubelet: SidecarKubelet | null = null;
let probe: MeshProbe | null = null;
const started = Date.now();

async function gen(name: string, extra: string[] = []): Promise<void> {
  const r = await plugin(['generate', '-d', dir(name), '--kty', 'EC', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  registerKeys(dir(name));
}

const pemBlocks = (text: string) =>
  text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
const mine = () => readyWorkloads(kubelet!.podsDir).filter((w) => w.namespace === nsA || w.namespace === nsB);
const leafOf = async (w: ReadyWorkload) => pemBlocks(await readFile(join(w.certDir, 'cert-chain.pem'), 'utf8'))[0]!;
const issuerOf = async (w: ReadyWorkload) =>
  pemFingerprints(pemBlocks(await readFile(join(w.certDir, 'cert-chain.pem'), 'utf8'))[1])[0];

/** Restarts deployments as `kubectl rollout restart` does and waits for the rollouts (readiness = the agent's). */
async function restart(ns: string, names: string[]): Promise<void> {
  await kubectlOk(['rollout', 'restart', '-n', ns, ...names.map((n) => `deployment/${n}`)]);
  for (const n of names) await kubectlOk(['rollout', 'status', '-n', ns, `deployment/${n}`, '--timeout', '120s']);
}

/** Waits until every workload has exactly one ready agent and none of `oldUids` is among them. */
async function settled(oldUids: Set<string> = new Set()): Promise<ReadyWorkload[]> {
  return waitFor(
    () => {
      const ws = mine();
      return ws.length === 4 && ws.every((w) => !oldUids.has(w.uid)) ? ws : null;
    },
    120_000,
    { message: 'four ready agents on new pods' },
  );
}

const describeTotals = (t: ProbeTotals) =>
  `${t.failures} failed of ${t.handshakes} handshakes` +
  (t.firstFailure ? ` over ${t.failingSeconds.toFixed(1)}s, first: ${t.firstFailure.error}` : '');

after(async () => {
  await probe?.stop().catch(() => undefined);
  await kubelet?.stop().catch(() => undefined);
  await istiod?.stop().catch(() => undefined);
  for (const ns of [nsA, nsB, istioNs]) if (ns) await deleteNamespace(ns).catch(() => undefined);
  process.stderr.write(`# real-workloads: ${((Date.now() - started) / 1000).toFixed(0)}s in all\n`);
});

test('setup: cacerts = A, the real istiod, four real workloads in two injected namespaces, the probe', async () => {
  istioNs = await createNamespace('istio-real');
  nsA = await createNamespace('real-a', { labels: { 'istio-injection': 'enabled' } });
  nsB = await createNamespace('real-b', { labels: { 'istio-injection': 'enabled' } });
  await kubectlOk(['apply', '-f', '-'], { input: controlPlaneManifest(istioNs, [nsA, nsB]) });
  await gen('a');
  await gen('a2', ['--root-cert', join(dir('a'), 'root-cert.pem'), '--root-key', join(dir('a'), 'root-key.pem')]);
  await gen('b');
  await gen('c');
  assert.equal((await plugin(['replace', '--from-dir', dir('a'), '-i', istioNs, '--yes', '--no-backup'])).code, 0);
  istiod = await startIstiod({ namespace: istioNs, syncDelayMs: 1000 });
  kubelet = await startSidecarKubelet({ istiod, namespaces: [nsA, nsB], secretTtl: '24h', mountDelayMs: 1000 });
  const ready = await applyRealWorkloads(kubelet.podsDir, [
    { namespace: nsA, name: 'alpha' },
    { namespace: nsA, name: 'beta' },
    { namespace: nsB, name: 'gamma' },
    { namespace: nsB, name: 'delta' },
  ]);
  assert.equal(ready.length, 4);
  probe = await startProbe(kubelet.podsDir, dir('probe'));
  await waitFor(() => (probe!.totals()?.handshakes ?? 0) > 20, 20_000, { message: 'the probe to handshake' });
  const t = probe.totals()!;
  assert.equal(t.failures, 0, describeTotals(t));
  assert.equal(t.workloads, 4);
  const rss = ready.map((w) => rssKiB(w.pid));
  process.stderr.write(
    `# agent RSS (MiB): ${rss.map((k) => (k / 1024).toFixed(0)).join(', ')}; probe ${t.handshakesPerSecond.toFixed(0)} handshakes/s over 4 workloads\n`,
  );
});

test("each agent holds a leaf from istiod that chains to cacerts' root (openssl verify), with its pod's SPIFFE ID", async () => {
  const root = join(dir('a'), 'root-cert.pem');
  for (const w of mine()) {
    const chain = await readFile(join(w.certDir, 'cert-chain.pem'), 'utf8');
    const blocks = pemBlocks(chain);
    const leaf = join(work, `${w.pod}-leaf.pem`);
    const untrusted = join(work, `${w.pod}-untrusted.pem`);
    await writeFile(leaf, blocks[0]!);
    await writeFile(untrusted, blocks.slice(1).join(''));
    const out = execFileSync('openssl', ['verify', '-CAfile', root, '-untrusted', untrusted, leaf], {
      encoding: 'utf8',
    });
    assert.match(out, /: OK/);
    const san = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', leaf], {
      encoding: 'utf8',
    });
    assert.match(san, new RegExp(`URI:spiffe://cluster\\.local/ns/${w.namespace}/sa/${w.serviceAccount}\\b`));
    // The agent's trust bundle is the CSR response's root bundle: root A.
    assert.deepEqual(
      pemFingerprints(await readFile(join(w.certDir, 'root-cert.pem'), 'utf8')),
      pemFingerprints(await readFile(root, 'utf8')),
    );
  }
});

test('kubectl rollout restart gives the new pod a new leaf; the old pod and its agent are gone', async () => {
  const before = mine().find((w) => w.serviceAccount === 'alpha')!;
  const oldLeaf = await leafOf(before);
  await restart(nsA, ['alpha']);
  const after_ = await waitFor(() => mine().find((w) => w.serviceAccount === 'alpha' && w.uid !== before.uid), 60_000, {
    message: 'a ready agent in the new alpha pod',
  });
  assert.notEqual(await leafOf(after_), oldLeaf);
  await waitFor(() => rssKiB(before.pid) === 0, 20_000, { message: "the old pod's agent to exit" });
  await settled(new Set([before.uid]));
  assert.equal(probe!.totals()!.failures, 0, describeTotals(probe!.totals()!));
});

test('kubectl exec into a real pod runs in its directory; verify --proxies reads every agent, names pods on the old intermediate', async () => {
  const w = mine()[0];
  const dump = await kubectlOk([
    'exec',
    '-n',
    w.namespace,
    w.pod,
    '-c',
    'istio-proxy',
    '--',
    'pilot-agent',
    'request',
    'GET',
    'config_dump?resource=dynamic_active_secrets',
  ]);
  assert.match(dump, /SecretsConfigDump\.DynamicSecret/);
  // The dump's workload chain is the very file this pod's agent wrote: the exec ran in the pod's directory.
  const secrets = (
    JSON.parse(dump) as {
      configs: { name: string; secret: { tls_certificate: { certificate_chain: { inline_bytes: string } } } }[];
    }
  ).configs;
  const chainB64 = secrets.find((c) => c.name === 'default')!.secret.tls_certificate.certificate_chain.inline_bytes;
  assert.equal(
    Buffer.from(chainB64, 'base64').toString('utf8'),
    await readFile(join(w.certDir, 'cert-chain.pem'), 'utf8'),
  );
  assert.doesNotMatch(dump, /PRIVATE KEY/);
  // Intermediate-only: same root, new signer A2. istiod hot-reloads it; running agents keep their A leaves.
  await probe!.reset();
  const r = await plugin(['replace', '--from-dir', dir('a2'), '-i', istioNs, '--yes', '--no-backup']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(() => /detected the newly added intermediate CA/.test(istiod!.log()), 30_000, {
    message: 'istiod to hot-reload intermediate A2',
  });
  const stale = await plugin(['verify', '-i', istioNs, '-n', nsA, '-n', nsB, '--proxies', '-o', 'json']);
  assert.equal(stale.code, 1);
  const staleOut = JSON.parse(stale.stdout);
  const signer = staleOut.checks.find((c: { id: string }) => c.id === 'proxies.signer');
  assert.equal(signer.status, 'fail');
  // Every real pod reported: its leaf (SPIFFE ID, issuer = intermediate A, expiry) and the roots it trusts (A).
  const rootA = pemFingerprints(await readFile(join(dir('a'), 'root-cert.pem'), 'utf8'))[0];
  const signerA = pemFingerprints(await readFile(join(dir('a'), 'ca-cert.pem'), 'utf8'))[0];
  for (const x of mine()) {
    const report = staleOut.proxies.find((p: { pod: string }) => p.pod === x.pod);
    assert.ok(report, `${x.pod} reported`);
    assert.equal(report.leaf.spiffeId, `spiffe://cluster.local/ns/${x.namespace}/sa/${x.serviceAccount}`);
    assert.equal(report.leaf.issuerFingerprint, signerA);
    assert.match(report.leaf.issuer, /Intermediate CA/);
    assert.ok(Date.parse(report.leaf.notAfter) > Date.now() + 23 * 3600_000, 'SECRET_TTL 24h');
    assert.deepEqual(
      report.roots.map((r: { fingerprint: string }) => r.fingerprint),
      [rootA],
    );
  }
  for (const x of mine())
    assert.ok(signer.items.includes(`${x.namespace}/${x.pod}`), `${x.pod} named: ${signer.items}`);

  // One workload restarted: only the others are still named.
  const gamma = mine().find((x) => x.serviceAccount === 'gamma')!;
  await restart(nsB, ['gamma']);
  await settled(new Set([gamma.uid]));
  const a2 = pemFingerprints(await readFile(join(dir('a2'), 'ca-cert.pem'), 'utf8'))[0];
  const newGamma = mine().find((x) => x.serviceAccount === 'gamma')!;
  assert.equal(await issuerOf(newGamma), a2, 'the new gamma leaf is issued by A2');
  const partial = JSON.parse(
    (await plugin(['verify', '-i', istioNs, '-n', nsA, '-n', nsB, '--proxies', '-o', 'json'])).stdout,
  );
  const items: string[] = partial.checks.find((c: { id: string }) => c.id === 'proxies.signer').items;
  assert.ok(!items.includes(`${nsB}/${newGamma.pod}`));
  assert.equal(items.length, 3, items.join(', '));

  // Everything restarted: verify passes, and the intermediate-only change broke no handshake.
  const olds = new Set(mine().map((x) => x.uid));
  await restart(nsA, ['alpha', 'beta']);
  await restart(nsB, ['delta']);
  olds.delete(newGamma.uid);
  await settled(olds);
  const done = await plugin(['verify', '-i', istioNs, '-n', nsA, '-n', nsB, '--proxies']);
  assert.equal(done.code, 0, done.stdout + done.stderr);
  const t = probe!.totals()!;
  assert.ok(t.handshakes > 100, `the probe ran: ${t.handshakes}`);
  assert.equal(t.failures, 0, `intermediate-only replace: ${describeTotals(t)}`);
  process.stderr.write(`# intermediate-only replace + restarts: ${describeTotals(t)}\n`);
});

test('the blog recipe (delete cacerts, create one with a new root, restart istiod, then namespaces) breaks mTLS: the probe counts it', async () => {
  await probe!.reset();
  const olds = new Set(mine().map((x) => x.uid));
  await kubectlOk(['delete', 'secret', 'cacerts', '-n', istioNs]);
  await kubectlOk([
    'create',
    'secret',
    'generic',
    'cacerts',
    '-n',
    istioNs,
    ...['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem'].map((f) => `--from-file=${join(dir('b'), f)}`),
  ]);
  await kubectlOk(['rollout', 'restart', 'deployment', '-n', istioNs]);
  await kubectlOk(['rollout', 'status', 'deployment/istiod', '-n', istioNs, '--timeout', '120s']);
  await waitFor(() => istiod!.restarts() >= 1, 30_000, { message: 'the real istiod to restart' });
  for (const ns of [nsA, nsB]) {
    await kubectlOk(['rollout', 'restart', 'deployment', '-n', ns]);
    for (const d of ns === nsA ? ['alpha', 'beta'] : ['gamma', 'delta'])
      await kubectlOk(['rollout', 'status', '-n', ns, `deployment/${d}`, '--timeout', '120s']);
  }
  await settled(olds);
  await new Promise((r) => setTimeout(r, 1500));
  const t = probe!.totals()!;
  process.stderr.write(`# blog recipe: ${describeTotals(t)}\n`);
  assert.ok(
    t.failures > 0,
    `the recipe must break handshakes between old-root and new-root pods: ${describeTotals(t)}`,
  );
  assert.match(t.firstFailure!.error, /unknown authority|certificate/);
  // Once every pod is on B, handshakes succeed again.
  const settledAt = t.handshakes;
  await waitFor(() => probe!.totals()!.handshakes > settledAt + 40, 20_000, { message: 'more handshakes' });
  assert.equal(probe!.totals()!.failures, t.failures, 'no failure after every pod moved to root B');
});

test("today's rotate B -> C with SECRET_TTL 24h: the probe's count is recorded (the starting figure for proxy-gated rotation)", async () => {
  await kubectlOk(['set', 'env', 'deployment/istiod', '-n', istioNs, '-c', 'discovery', 'ISTIO_MULTIROOT_MESH=true']);
  await waitFor(() => /ISTIO_MULTIROOT_MESH=true/.test(istiod!.log()), 60_000, {
    message: 'istiod restarted with multi-root',
  });
  await settled();
  await probe!.reset();
  const r = await plugin([
    'rotate',
    '--from-dir',
    dir('c'),
    '-i',
    istioNs,
    '-n',
    nsA,
    '-n',
    nsB,
    '--kubelet-sync',
    '2s',
    '--gate-timeout',
    '3m',
    '--yes',
    '--backup-dir',
    join(work, 'backups'),
  ]);
  const t = probe!.totals()!;
  process.stderr.write(`# rotate B -> C (exit ${r.code}): ${describeTotals(t)}\n`);
  await writeFile(join(work, 'rotate-failures.jsonl'), JSON.stringify(probe!.failures()));
  // Recorded, not asserted: proxy-gated rotation (the next issue) must bring this to 0.
  assert.ok(t.handshakes > 0);
  assert.ok(r.code === 0 || r.code === 1 || r.code === 124, r.stderr);
});

test('sanity: no agent of this mesh is left once its pods are gone', async () => {
  const pids = mine().map((w) => w.pid);
  await kubectlOk(['delete', 'deployment', '--all', '-n', nsA, '--wait=true']);
  await waitFor(() => mine().every((w) => w.namespace !== nsA), 60_000, { message: `no ready agent in ${nsA}` });
  const gone = await kubectl(['get', 'exec.kwok.x-k8s.io', '-n', nsA, '-o', 'name']);
  assert.equal(gone.code, 0);
  await waitFor(() => pids.filter((p) => rssKiB(p) > 0).length <= 2, 30_000, { message: `${nsA}'s agents to exit` });
});
