/**
 * The proof on real workloads (scripts/test-mesh: the real istiod, Istio's real pilot-agent per pod, the mTLS
 * continuity probe every 100 ms), with SECRET_TTL=24h so certificate renewal cannot help. One world, two rotations:
 * - istiod starts on its self-signed CA (no cacerts); rotate plugs that CA into cacerts (istiod restarted, trust
 *   unchanged), then rotates to B in the three gated phases: 0 failed handshakes; the proxy gates read every sidecar
 *   through pods/exec (proxy truth, none judged by pod start time); verify -A and verify -A --proxies pass right
 *   after. With ISTIO_CA_E2E_REAL_MESH_START=plugged the world starts on a plugged root A instead (A -> B).
 * - rotate B -> C SIGKILLed at five points in sequence (after the trust-both write, while istiod restarts, after the
 *   switch-signer write, while workloads restart, after the drop-old write), each time finished by
 *   `rotate --resume`, which the next point kills again: 0 failed handshakes, verify passes, one backup per write.
 * About 4-7 min; ISTIO_CA_E2E_REAL_MESH=0 skips the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eEnv, kubectlOk, repoRoot, waitFor } from './support/cluster.js';
import { assertNoKeyBytes, getCacerts, plugin, registerKeys } from './support/plugin.js';
import {
  assertProxyGatesReadEveryProxy,
  testMesh,
  upWithMultiRoot,
  verifyPassesEverywhere,
} from './support/test-mesh.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const enabled = process.env.ISTIO_CA_E2E_REAL_MESH !== '0';
const work = await mkdtemp(join(tmpdir(), 'istio-ca-real-'));
const mesh = testMesh(join(work, 'mesh'));
const probe = () => mesh.probe();

const selfSigned = process.env.ISTIO_CA_E2E_REAL_MESH_START !== 'plugged';
const from = selfSigned ? "istiod's self-signed CA" : 'plugged root A';

const secretPem = async (name: string, key: string) =>
  Buffer.from(
    await kubectlOk(['get', 'secret', name, '-n', 'istio-system', '-o', `jsonpath={.data.${key.replace('.', '\\.')}}`]),
    'base64',
  ).toString('utf8');

test(`setup: the real-workload mesh on ${from}, SECRET_TTL=24h, ISTIO_MULTIROOT_MESH`, { skip: !enabled }, async () => {
  await upWithMultiRoot(mesh, selfSigned ? ['--self-signed'] : []);
  if (selfSigned) {
    assert.equal(await getCacerts('istio-system'), null, 'no cacerts: istiod signs with its self-signed CA');
    const s = await plugin(['status', '-o', 'json']);
    assert.equal((JSON.parse(s.stdout) as { caMode: string }).caMode, 'self-signed', s.stdout);
  }
  const r = await plugin(['generate', '-d', join(work, 'b'), '--kty', 'EC']);
  assert.equal(r.code, 0, r.stderr);
  registerKeys(join(work, 'b'));
});

test(
  `rotate ${from} -> B under the probe: 0 failed handshakes, proxy gates on proxy truth; verify -A and ` +
    'verify -A --proxies pass right after',
  { skip: !enabled },
  async () => {
    const before = selfSigned
      ? pemFingerprints(await secretPem('istio-ca-secret', 'ca-cert.pem'))
      : pemFingerprints(await secretPem('cacerts', 'root-cert.pem'));
    await mesh.run(['probe', '--reset']);
    const t0 = Date.now();
    const r = await plugin(
      [
        'rotate',
        '--from-dir',
        join(work, 'b'),
        '--kubelet-sync',
        '5s',
        '--gate-timeout',
        '5m',
        '--yes',
        '--backup-dir',
        join(work, 'backups'),
        '-o',
        'json',
      ],
      { timeoutMs: 600_000 },
    );
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as { rotation: string; phases: { phase: string }[]; finalRoots: string[] };
    assert.equal(out.rotation, selfSigned ? 'self-signed-to-plugged' : 'root-rotation');
    assert.deepEqual(
      out.phases.map((p) => p.phase),
      [...(selfSigned ? ['plug-self-signed'] : []), 'trust-both', 'switch-signer', 'drop-old'],
    );
    assertProxyGatesReadEveryProxy(r.stdout, ['proxies-trust', 'proxies-signed-by']);
    const rootB = pemFingerprints(await readFile(join(work, 'b', 'root-cert.pem'), 'utf8'));
    assert.deepEqual(out.finalRoots, rootB);
    assert.ok(!before.includes(rootB[0]), 'the root changed');
    assert.deepEqual(pemFingerprints(await secretPem('cacerts', 'root-cert.pem')), rootB);
    const totals = await probe();
    assert.ok(totals.handshakes > 100, `the probe ran throughout (${totals.handshakes} handshakes)`);
    assert.equal(totals.failures, 0, `failed handshakes: ${await mesh.run(['failures'])}`);
    await verifyPassesEverywhere();
    process.stderr.write(`# rotate ${from} -> B: ${seconds.toFixed(0)}s, probe ${JSON.stringify(totals)}\n`);
  },
);

const PHASE = 'kubectl-istio-ca.io/rotation-phase';
const phaseNow = async () => (await getCacerts('istio-system'))?.metadata.annotations?.[PHASE] ?? null;

/** Newest kubectl.kubernetes.io/restartedAt on the pod templates of Deployments in `namespaces`, by name. */
async function restartedAt(namespaces: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const ns of namespaces) {
    const list = JSON.parse(await kubectlOk(['get', 'deployments', '-n', ns, '-o', 'json'])) as {
      items: {
        metadata: { name: string };
        spec: { template: { metadata?: { annotations?: Record<string, string> } } };
      }[];
    };
    for (const d of list.items)
      out.set(
        `${ns}/${d.metadata.name}`,
        Date.parse(d.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] ?? '') || 0,
      );
  }
  return out;
}

/** A kill point: named, reached when `reached` (given the run's stderr so far and its start) turns true. */
interface KillPoint {
  name: string;
  reached(stderr: string, startedAt: number): Promise<boolean> | boolean;
}

/**
 * Runs `rotate ARGS` and SIGKILLs it once `point` is reached (polled every 250 ms); returns what it printed and the
 * phase cacerts recorded at the kill. Fails when the run exits before the point.
 */
async function rotateKilledAt(args: string[], point: KillPoint): Promise<{ phase: string | null; seconds: number }> {
  const startedAt = Date.now();
  const child = spawn(
    process.execPath,
    [join(repoRoot(), 'bin/kubectl-istio_ca'), ...args, '--kubeconfig', e2eEnv().kubeconfig],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', NO_COLOR: '1' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let exited: number | null = null;
  const exit = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exited = code ?? (signal ? 128 : 1);
      r();
    }),
  );
  try {
    await waitFor(
      async () => {
        if (exited !== null)
          throw new Error(`rotate exited ${exited} before the kill point "${point.name}":\n${stderr}${stdout}`);
        return point.reached(stderr, startedAt);
      },
      300_000,
      { message: `kill point "${point.name}"`, intervalMs: 250 },
    );
  } catch (e) {
    if (exited === null) child.kill('SIGKILL');
    await exit;
    throw e;
  }
  child.kill('SIGKILL');
  await exit;
  assertNoKeyBytes(stdout);
  assertNoKeyBytes(stderr);
  return { phase: await phaseNow(), seconds: (Date.now() - startedAt) / 1000 };
}

const printed =
  (re: RegExp): KillPoint['reached'] =>
  (stderr) =>
    re.test(stderr);
const WORKLOADS = ['real-a', 'real-b'];

test(
  'rotate B -> C SIGKILLed in every phase (after each write, during the restarts) and finished by rotate --resume ' +
    'each time: 0 failed handshakes; verify -A and verify -A --proxies pass right after',
  { skip: !enabled },
  async () => {
    const r0 = await plugin(['generate', '-d', join(work, 'c'), '--kty', 'EC']);
    assert.equal(r0.code, 0, r0.stderr);
    registerKeys(join(work, 'c'));
    await mesh.run(['probe', '--reset']);
    const args = (resume: boolean) => [
      'rotate',
      '--from-dir',
      join(work, 'c'),
      '--kubelet-sync',
      '5s',
      '--gate-timeout',
      '5m',
      '--yes',
      '--backup-dir',
      join(work, 'backups-c'),
      ...(resume ? ['--resume'] : []),
    ];
    // istiod is restarted first (control plane before workloads): killed once its rollout began.
    const istiodRestarted: KillPoint['reached'] = async (stderr, t0) =>
      /restarting istiod, gateways and sidecar workloads/.test(stderr) &&
      ((await restartedAt(['istio-system'])).get('istio-system/istiod') ?? 0) >= t0 - 1000;
    // Workloads restarted: killed once some workload's rollout began, before the gate saw them all.
    const workloadsRestarting: KillPoint['reached'] = async (stderr, t0) =>
      /restarting istiod, gateways and sidecar workloads/.test(stderr) &&
      [...(await restartedAt(WORKLOADS)).values()].some((t) => t >= t0 - 1000);
    const points: { point: KillPoint; phase: string }[] = [
      { point: { name: 'trust-both written', reached: printed(/cacerts trust-both written/) }, phase: 'trust-both' },
      { point: { name: 'trust-both: istiod restarting', reached: istiodRestarted }, phase: 'trust-both' },
      {
        point: { name: 'switch-signer written', reached: printed(/cacerts switch-signer written/) },
        phase: 'switch-signer',
      },
      { point: { name: 'switch-signer: workloads restarting', reached: workloadsRestarting }, phase: 'switch-signer' },
      { point: { name: 'drop-old written', reached: printed(/cacerts drop-old written/) }, phase: 'drop-old' },
    ];
    const kills: string[] = [];
    for (const [i, { point, phase }] of points.entries()) {
      const k = await rotateKilledAt(args(i > 0), point);
      kills.push(`${point.name}: killed after ${k.seconds.toFixed(1)}s at recorded phase ${k.phase}`);
      assert.equal(k.phase, phase, `killed at "${point.name}": ${kills.join('; ')}`);
    }
    const r = await plugin([...args(true), '-o', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await phaseNow(), 'complete');
    // A resume after the rotation completed (a kill after the last record) finishes with nothing to do.
    const again = await plugin([...args(true), '-o', 'json']);
    assert.equal(again.code, 0, `resume after completion: ${again.stderr}${again.stdout}`);
    const totals = await probe();
    assert.ok(totals.handshakes > 100, `the probe ran throughout (${totals.handshakes} handshakes)`);
    assert.equal(totals.failures, 0, `failed handshakes (${kills.join('; ')}): ${await mesh.run(['failures'])}`);
    await verifyPassesEverywhere();
    // Every write was backed up first, each into its own complete folder.
    const backups = await readdir(join(work, 'backups-c'));
    const complete = backups.filter((b) => existsSync(join(work, 'backups-c', b, 'manifest.json')));
    assert.equal(complete.length, 3, `one backup per phase write: ${backups.join(', ')}`);
    process.stderr.write(`kill points: ${kills.join('; ')}; probe ${JSON.stringify(totals)}\n`);
  },
);

test('teardown', { skip: !enabled }, async () => {
  await mesh.run(['down', '--keep-cluster']).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});
