/**
 * Root rotation proven against a real istiod (test/istiod): its file watcher accepts or rejects each cacerts
 * update exactly as in a cluster, and its namespace controller writes every istio-ca-root-cert ConfigMap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyFixtureMesh,
  deleteFixtureMesh,
  e2eEnv,
  kubectlOk,
  repoRoot,
  uniqueName,
  waitFor,
  type FixtureMesh,
} from './support/cluster.js';
import { getCacerts, plugin, registerKeys } from './support/plugin.js';
import { ISTIOD_REJECTIONS, startIstiod, type Istiod } from './support/istiod.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-rotate-'));
let mesh: FixtureMesh;
let istiod: Istiod | null = null;
const dir = (n: string) => join(work, n);
const fast = ['--kubelet-sync', '3s', '--gate-timeout', '3m', '--yes', '--backup-dir', join(work, 'backups')];
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

async function gen(name: string, extra: string[] = []): Promise<void> {
  const r = await plugin(['generate', '-d', dir(name), '--kty', 'EC', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  registerKeys(dir(name));
}
const rootsOf = async (name: string) => pemFingerprints(await readFile(join(dir(name), 'root-cert.pem'), 'utf8'));

async function configMapRoots(ns: string): Promise<string[]> {
  const out = await kubectlOk([
    'get',
    'configmap',
    'istio-ca-root-cert',
    '-n',
    ns,
    '-o',
    'jsonpath={.data.root-cert\\.pem}',
  ]);
  return [...new Set(pemFingerprints(out))];
}
const meshNamespaces = () => [mesh.istioNamespace, mesh.injectNamespace, mesh.revNamespace, mesh.plainNamespace];

async function waitForRoots(expected: string[]): Promise<void> {
  await waitFor(
    async () => {
      for (const ns of meshNamespaces()) {
        const have: string[] = await configMapRoots(ns).catch(() => []);
        if (have.length !== expected.length || !expected.every((f) => have.includes(f))) return false;
      }
      return true;
    },
    120_000,
    { message: `istiod to publish ${expected.length} root(s) to every namespace` },
  );
}

async function setMultiRoot(on: boolean): Promise<void> {
  await kubectlOk([
    'set',
    'env',
    'deployment/istiod',
    '-n',
    mesh.istioNamespace,
    '-c',
    'discovery',
    `ISTIO_MULTIROOT_MESH=${on}`,
  ]);
}

function assertNoRejections(): void {
  const log = istiod!.log();
  for (const re of ISTIOD_REJECTIONS)
    assert.doesNotMatch(
      log,
      re,
      `istiod rejected a bundle:\n${log
        .split('\n')
        .filter((l) => re.test(l))
        .join('\n')}`,
    );
}

const rotateArgs = (from: string, extra: string[] = []) => [
  'rotate',
  '--from-dir',
  dir(from),
  '-i',
  mesh.istioNamespace,
  '-n',
  mesh.injectNamespace,
  '-n',
  mesh.revNamespace,
  ...fast,
  ...extra,
];

test('setup: fixture mesh, cacerts = A, the real istiod started on it', async () => {
  mesh = await applyFixtureMesh({
    rename: {
      'istio-system': uniqueName('istio-rot'),
      'mesh-inject': uniqueName('inject-rot'),
      'mesh-rev': uniqueName('rev-rot'),
      'mesh-plain': uniqueName('plain-rot'),
    },
  });
  await gen('a');
  await gen('b');
  await gen('a2', ['--root-cert', join(dir('a'), 'root-cert.pem'), '--root-key', join(dir('a'), 'root-key.pem')]);
  assert.equal(
    (await plugin(['replace', '--from-dir', dir('a'), '-i', mesh.istioNamespace, '--yes', '--no-backup'])).code,
    0,
  );
  await setMultiRoot(false);
  istiod = await startIstiod({ namespace: mesh.istioNamespace, syncDelayMs: 1000 });
  assert.match(istiod.log(), /Use local CA certificate|Added cacerts files watcher/);
  await waitForRoots(await rootsOf('a'));
});

test('an intermediate-only rotation: one update, istiod hot-reloads it, nothing restarts', async () => {
  const before = istiod!.restarts();
  const r = await plugin(rotateArgs('a2', ['-o', 'json']));
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(json(r).rotation, 'intermediate-only');
  assert.equal(
    (await getCacerts(mesh.istioNamespace))!.data['ca-cert.pem'],
    Buffer.from(await readFile(join(dir('a2'), 'ca-cert.pem'))).toString('base64'),
  );
  await waitFor(() => /detected the newly added intermediate CA/.test(istiod!.log()), 30_000, {
    message: 'istiod to hot-reload the intermediate',
  });
  assert.equal(istiod!.restarts(), before, 'no istiod restart');
  assertNoRejections();
  await waitForRoots(await rootsOf('a'));
});

test('a root rotation is refused while istiod runs without ISTIO_MULTIROOT_MESH, with how to enable it', async () => {
  const before = await kubectlOk(['get', 'secret', 'cacerts', '-n', mesh.istioNamespace, '-o', 'json']);
  const r = await plugin(rotateArgs('b'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ISTIO_MULTIROOT_MESH=true/);
  assert.match(r.stderr, /--allow-downtime/);
  assert.equal(await kubectlOk(['get', 'secret', 'cacerts', '-n', mesh.istioNamespace, '-o', 'json']), before);
});

test("a root rotation A -> B with multi-root: istiod never rejects a bundle and every ConfigMap always trusts the signer's root", async () => {
  await setMultiRoot(true);
  await waitFor(() => /ISTIO_MULTIROOT_MESH=true/.test(istiod!.log()), 60_000, {
    message: 'istiod restarted with multi-root',
  });
  const rootA = (await rootsOf('a'))[0];
  const rootB = (await rootsOf('b'))[0];
  const signerRoot = new Map<string, string>([
    [pemFingerprints(await readFile(join(dir('a2'), 'ca-cert.pem'), 'utf8'))[0], rootA],
    [pemFingerprints(await readFile(join(dir('b'), 'ca-cert.pem'), 'utf8'))[0], rootB],
  ]);
  const violations: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const mounted = await readFile(join(istiod!.rootCaDir, 'ca-cert.pem'), 'utf8');
        const root = signerRoot.get(pemFingerprints(mounted)[0]);
        for (const ns of meshNamespaces()) {
          const have = await configMapRoots(ns);
          if (root && !have.includes(root)) violations.push(`${ns} lacks the root of istiod's current intermediate`);
        }
      } catch {
        /* between kubelet swaps */
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  const r = await plugin(rotateArgs('b', ['-o', 'json']));
  watching = false;
  await watcher;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r);
  assert.equal(out.rotation, 'root-rotation');
  assert.deepEqual(
    out.phases.map((p: { phase: string }) => p.phase),
    ['trust-both', 'switch-signer', 'drop-old'],
  );
  assert.deepEqual(out.finalRoots, [rootB]);
  await waitForRoots([rootB]);
  assertNoRejections();
  assert.deepEqual(violations, []);
  const s = await plugin(['status', '-i', mesh.istioNamespace, '-o', 'json']);
  assert.deepEqual(
    json(s)
      .certificates.filter((c: { role: string }) => c.role === 'root')
      .map((c: { fingerprintSha256: string }) => c.fingerprintSha256),
    [rootB],
  );
});

for (const phase of ['trust-both', 'switch-signer'] as const) {
  test(`a rotation interrupted after ${phase} is finished by rotate --resume`, async () => {
    assert.ok(await getCacerts(mesh.istioNamespace), 'cacerts exists before the rotation');
    const next = `n-${phase}`;
    await gen(next);
    const child = spawn(
      process.execPath,
      [join(repoRoot(), 'bin/kubectl-istio_ca'), ...rotateArgs(next), '--kubeconfig', e2eEnv().kubeconfig],
      { stdio: 'ignore', env: { ...process.env, KUBECONFIG: '' } },
    );
    await waitFor(
      async () =>
        (await getCacerts(mesh.istioNamespace))?.metadata.annotations?.['kubectl-istio-ca.io/rotation-phase'] === phase,
      120_000,
      { message: `phase ${phase}` },
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const again = await plugin(rotateArgs(next));
    assert.equal(again.code, 2, 'a fresh rotate refuses while one is in progress');
    assert.match(again.stderr, /rotate --resume/);
    const r = await plugin(rotateArgs(next, ['--resume', '-o', 'json']));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(
      (await getCacerts(mesh.istioNamespace))!.metadata.annotations?.['kubectl-istio-ca.io/rotation-phase'],
      'complete',
    );
    await waitForRoots(await rootsOf(next));
    assertNoRejections();
  });
}

test("from istiod's self-signed CA: plug it into cacerts first, restart istiod, then rotate to B without a rejection", async () => {
  await istiod?.stop();
  istiod = null;
  await deleteFixtureMesh(mesh);
  mesh = await applyFixtureMesh({
    rename: {
      'istio-system': uniqueName('istio-self'),
      'mesh-inject': uniqueName('inject-self'),
      'mesh-rev': uniqueName('rev-self'),
      'mesh-plain': uniqueName('plain-self'),
    },
  });
  await setMultiRoot(true);
  istiod = await startIstiod({ namespace: mesh.istioNamespace, syncDelayMs: 1000 });
  const selfSigned = await waitFor(
    async () => {
      const out = await kubectlOk([
        'get',
        'secret',
        'istio-ca-secret',
        '-n',
        mesh.istioNamespace,
        '-o',
        'jsonpath={.data.ca-cert\\.pem}',
      ]).catch(() => '');
      return out ? pemFingerprints(Buffer.from(out, 'base64').toString('utf8')) : null;
    },
    60_000,
    { message: 'istiod to create its self-signed istio-ca-secret' },
  );
  await waitForRoots(selfSigned);
  const s0 = await plugin(['status', '-i', mesh.istioNamespace, '-o', 'json']);
  assert.equal(json(s0).caMode, 'self-signed');
  const r = await plugin(rotateArgs('b', ['-o', 'json']));
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r);
  assert.equal(out.rotation, 'self-signed-to-plugged');
  assert.deepEqual(
    out.phases.map((p: { phase: string }) => p.phase),
    ['plug-self-signed', 'trust-both', 'switch-signer', 'drop-old'],
  );
  assert.ok(istiod.restarts() >= 1, 'istiod restarted to switch from istio-ca-secret to cacerts');
  assert.match(istiod.log(), /Use local CA certificate/);
  await waitForRoots(await rootsOf('b'));
  assertNoRejections();
});

test('teardown', async () => {
  await istiod?.stop();
  await deleteFixtureMesh(mesh);
  await rm(work, { recursive: true, force: true });
});
