/**
 * The rotation executor against a simulated mesh (strict fake API server, istiod's reload and namespace controller,
 * sidecars holding what they were issued): restarts or the push bring proxies to each phase's expectation, gates
 * judge proxy truth (or pod start time where exec is forbidden) and say which, and verify passes when rotate is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleData } from '../../src/ca/bundle.js';
import { runBackup } from '../../src/backup/run.js';
import { Annotations } from '../../src/istio/names.js';
import { bundleDigest, bundleFromSecret, pemFingerprints } from '../../src/istio/secret-bundle.js';
import { Resources, type Secret } from '../../src/kube/resources.js';
import { takeSnapshot } from '../../src/mesh/snapshot.js';
import { runRotate, type RotateOptions, type RotateResult } from '../../src/rotate/run.js';
import { trustBothRoots, switchSignerRoots, withRoots } from '../../src/rotate/phases.js';
import { runChecks } from '../../src/verify/checks.js';
import { makeCas } from './support/ca-fixtures.js';
import { rotateFields, toDocument } from '../../src/output/documents.js';
import { checkDocument } from './support/documents.js';
import { FakeMesh, type FakeMeshOptions } from './support/fake-mesh.js';

const cas = await makeCas(['a', 'b', 'a2'], { intermediateOf: { a2: 'a' } });
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const work = await mkdtemp(join(tmpdir(), 'istio-ca-exec-'));
const fp = (b: Buffer | undefined) => pemFingerprints(b)[0] ?? '';
const rootA = fp(A['root-cert.pem']);
const rootB = fp(B['root-cert.pem']);
const signerA = fp(A['ca-cert.pem']);
const signerB = fp(B['ca-cert.pem']);

function mesh(o: Partial<FakeMeshOptions> = {}): FakeMesh {
  const m = new FakeMesh({ cacerts: A, ...o });
  m.signerRoots.set(signerA, rootA);
  m.signerRoots.set(signerB, rootB);
  m.signerRoots.set(fp((A2Holder.a2 ?? A)['ca-cert.pem']), rootA);
  m.maxBroken = 0;
  return m;
}
const A2Holder: { a2?: BundleData } = { a2: await cas.bundle('a2') };

let runs = 0;
async function rotate(m: FakeMesh, o: Partial<RotateOptions> = {}, lines: string[] = []): Promise<RotateResult> {
  const r = await runRotate(
    {
      fromDir: join(cas.dir, 'b'),
      namespace: 'istio-system',
      resume: false,
      allowDowntime: false,
      dryRun: false,
      gateTimeoutMs: 600_000,
      kubeletSyncMs: 75_000,
      backupDir: join(work, `backups-${++runs}`),
      proxyUpdate: 'auto',
      concurrency: 5,
      pushWaitMs: 120_000,
      ...o,
    },
    {
      clusters: [{ client: m.kube, restart: m.restart, reader: m.reader }],
      now: m.clock.now,
      notice: (l) => lines.push(l),
      sleep: m.clock.sleep,
    },
  );
  checkDocument(toDocument('RotateResult', rotateFields(r)));
  return r;
}

const cacerts = (m: FakeMesh) => m.kube.object<Secret>(Resources.secrets, 'istio-system', 'cacerts');
async function verifyPasses(m: FakeMesh): Promise<boolean> {
  const s = await takeSnapshot(m.kube, { istioNamespace: 'istio-system', now: m.clock.now() });
  const r = runChecks(s, m.clock.now());
  assert.ok(
    r.passed,
    r.checks
      .filter((c) => c.status === 'fail')
      .map((c) => `${c.id}: ${c.message}`)
      .join('\n'),
  );
  return r.passed;
}
const gatesOf = (r: RotateResult, phase: string) =>
  r.phases.find((p) => p.phase === phase)?.clusters[0]?.gates.map((g) => `${g.name}: ${g.evidence}`) ?? [];

test('the mesh model breaks handshakes under the old sequence (restart only after switch-signer)', () => {
  const m = mesh();
  const both = trustBothRoots(A['root-cert.pem'], B['root-cert.pem']);
  m.writeCacerts(withRoots(A, both));
  m.writeCacerts(withRoots(B, switchSignerRoots(both, B['root-cert.pem'])));
  assert.equal(m.maxBroken, 0, 'nothing restarted yet: every leaf is still A');
  m.restartSidecars();
  assert.ok(m.maxBroken > 0, 'restarted pods present B leaves to pods that trust only A');
});

test('root rotation without the push: restarts after trust-both and after switch-signer, gates on proxy truth, 0 broken handshakes, verify passes', async () => {
  const m = mesh();
  const lines: string[] = [];
  const r = await rotate(m, {}, lines);
  assert.equal(r.kind, 'root-rotation');
  assert.deepEqual(m.restarts, ['all', 'all']);
  assert.equal(m.maxBroken, 0, 'no proxy pair ever failed a handshake');
  assert.deepEqual(r.finalRoots, [rootB]);
  assert.deepEqual(
    r.phases.map((p) => `${p.phase}:${p.clusters[0]?.action}:${p.clusters[0]?.delivery}:${p.clusters[0]?.restarted}`),
    ['trust-both:applied:restart:3', 'switch-signer:applied:restart:3', 'drop-old:applied:none:0'],
  );
  assert.match(gatesOf(r, 'trust-both').join('\n'), /proxies-trust: 4 sidecar pod\(s\), 4 read through pods\/exec/);
  assert.match(
    gatesOf(r, 'switch-signer').join('\n'),
    /proxies-signed-by: .*istiod signs with the new intermediate: shop\/web\d-g\d-\d's leaf chains to it/,
  );
  assert.match(gatesOf(r, 'drop-old').join('\n'), /verify-passes: verify: \d+ ok, \d+ warning\(s\), 0 failed/);
  for (const p of m.proxies.values()) assert.equal(p.chain[1], signerB);
  const ann = cacerts(m)?.metadata.annotations ?? {};
  assert.equal(ann[Annotations.rotationPhase], 'complete');
  assert.equal(ann[Annotations.changeKind], 'root-removed');
  assert.ok(ann[Annotations.signerChangedAt]);
  assert.ok(await verifyPasses(m), 'verify -A agrees that the rotation is done');
});

test('exec forbidden: the proxy gates judge by pod start time and say so', async () => {
  const m = mesh({ exec: 'forbidden' });
  const r = await rotate(m);
  assert.deepEqual(m.restarts, ['all', 'all']);
  assert.match(gatesOf(r, 'trust-both').join('\n'), /4 judged by pod start time \(pods\/exec forbidden\)/);
  assert.match(gatesOf(r, 'switch-signer').join('\n'), /istiod signer not read from a leaf/);
  assert.equal(m.maxBroken, 0);
  assert.ok(await verifyPasses(m));
});

test('with PROXY_CONFIG_XDS_AGENT on every proxy: no restarts, the push is verified on every proxy, verify passes', async () => {
  const m = mesh({ push: true });
  const r = await rotate(m);
  assert.deepEqual(m.restarts, []);
  assert.deepEqual(
    r.plan.phases.map((p) => p.clusters[0]?.delivery),
    ['push', 'push', 'none'],
  );
  assert.equal(m.maxBroken, 0);
  assert.ok(cacerts(m)?.metadata.annotations?.[Annotations.leavesVerifiedAt], 'rotate recorded what it read');
  assert.ok(await verifyPasses(m), 'pods predate the switch, but rotate read their new leaves');
});

test('push configured but proxies cannot be read: rotate restarts them instead and says so', async () => {
  const m = mesh({ push: true, exec: 'error', pushReaches: false });
  const lines: string[] = [];
  const r = await rotate(m, { pushWaitMs: 10_000 }, lines);
  assert.deepEqual(m.restarts, ['all', 'all']);
  assert.equal(r.phases[0]?.clusters[0]?.delivery, 'restart');
  assert.match(lines.join('\n'), /could not be read to verify the push: restarting workloads instead/);
  assert.equal(m.maxBroken, 0);
});

test('a push that never arrives on readable proxies times out (124) naming the gate, the phase and the pods', async () => {
  const m = mesh({ push: true, pushReaches: false });
  await assert.rejects(rotate(m, { pushWaitMs: 10_000 }), (e: Error & { exitCode?: number }) => {
    assert.equal(e.exitCode, 124);
    assert.match(e.message, /gate "proxies-trust" \(every sidecar trusts all 2 root\(s\)\) after phase trust-both/);
    assert.match(e.message, /shop\/web0-g\d-0: trusts 1 root\(s\), lacks 1/);
    return true;
  });
  assert.equal(cacerts(m)?.metadata.annotations?.[Annotations.rotationPhase], 'trust-both', 'recorded for --resume');
});

test('resume after switch-signer whose proxies already hold B leaves: no restart again, drop-old, verify passes', async () => {
  // The mesh as an interrupted run left it: switch-signer written and delivered, the phase recorded on cacerts.
  const m2 = mesh();
  const both = trustBothRoots(A['root-cert.pem'], B['root-cert.pem']);
  m2.writeCacerts(withRoots(A, both));
  m2.restartSidecars();
  m2.writeCacerts(withRoots(B, switchSignerRoots(both, B['root-cert.pem'])));
  m2.restartSidecars();
  const sec = cacerts(m2)!;
  const digest = bundleDigest(B);
  m2.kube.remove(Resources.secrets, 'istio-system', 'cacerts');
  m2.kube.seed(Resources.secrets, {
    ...sec,
    metadata: {
      ...sec.metadata,
      annotations: {
        [Annotations.rotationPhase]: 'switch-signer',
        [Annotations.rotationTarget]: digest,
        [Annotations.rotationKind]: 'root-rotation',
        [Annotations.replacedAt]: m2.clock.now().toISOString(),
        [Annotations.signerChangedAt]: new Date(m2.clock.now().getTime() - 5000).toISOString(),
      },
    },
  });
  const before = m2.restarts.length;
  const r = await rotate(m2, { resume: true });
  assert.equal(m2.restarts.length, before, 'the resumed switch-signer gate passed on proxy truth: no restart');
  assert.deepEqual(
    r.phases.map((p) => `${p.phase}:${p.clusters[0]?.action}`),
    ['trust-both:already-applied', 'switch-signer:resumed', 'drop-old:applied'],
  );
  assert.deepEqual(r.finalRoots, [rootB]);
  assert.equal(m2.maxBroken, 0);
  assert.ok(await verifyPasses(m2));
});

test('dry run: the plan (kind, phases, bundles by fingerprint, restarts, estimate), nothing written, no key anywhere', async () => {
  const m = mesh();
  const r = await rotate(m, { dryRun: true });
  assert.equal(m.kube.writes().length, 0);
  assert.equal(r.plan.restarts, 6);
  assert.ok(r.plan.estimate.seconds > 0);
  assert.deepEqual(
    r.plan.phases.map((p) => p.clusters[0]?.gates.map((g) => g.name).join(',')),
    [
      'istiod-ready,namespaces-trust,proxies-trust',
      'istiod-ready,namespaces-trust,proxies-signed-by',
      'istiod-ready,namespaces-trust,verify-passes',
    ],
  );
  const json = JSON.stringify(r);
  assert.doesNotMatch(json, /PRIVATE KEY/);
  for (const key of [A['ca-key.pem'], B['ca-key.pem']]) {
    assert.ok(!json.includes(key.toString('base64').slice(0, 40)));
    assert.ok(!json.includes(key.toString('utf8').split('\n')[1] ?? 'x'));
  }
});

test('a cacerts in the tls.crt/tls.key/ca.crt layout is rotated in that layout, without a crash', async () => {
  const tls: BundleData = {
    'tls.crt': A['cert-chain.pem'],
    'tls.key': A['ca-key.pem'],
    'ca.crt': A['root-cert.pem'],
  };
  const m = mesh({ cacerts: tls });
  const r = await rotate(m);
  assert.deepEqual(r.finalRoots, [rootB]);
  const data = bundleFromSecret(cacerts(m)!);
  assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.equal(fp(data['tls.crt']), signerB);
  assert.equal(m.maxBroken, 0);
});

test('two backups of one context in the same second get distinct folders', async () => {
  const m = mesh();
  const dir = join(work, 'same-second');
  const now = new Date('2026-11-28T10:00:00.100Z');
  const one = await runBackup(m.kube, { outDir: dir, namespace: 'istio-system' }, now);
  const two = await runBackup(m.kube, { outDir: dir, namespace: 'istio-system' }, new Date(now.getTime() + 500));
  assert.notEqual(one.path, two.path);
  assert.equal((await readdir(dir)).length, 2);
});

test('rotate --from-dir accepts a per-cluster folder and a tls-layout bundle', async () => {
  const dir = join(work, 'tls-next');
  await mkdir(join(dir, 'fake'), { recursive: true });
  await writeFile(join(dir, 'fake', 'tls.crt'), B['cert-chain.pem']);
  await writeFile(join(dir, 'fake', 'tls.key'), B['ca-key.pem']);
  await writeFile(join(dir, 'fake', 'ca.crt'), B['root-cert.pem']);
  const r = await rotate(mesh(), { fromDir: dir, dryRun: true });
  assert.equal(r.kind, 'root-rotation');
});

test.after(() => rm(work, { recursive: true, force: true }));
