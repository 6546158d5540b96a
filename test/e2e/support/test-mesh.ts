/**
 * Helpers for e2e tests on the world `scripts/test-mesh` starts (the real istiod, Istio's real pilot-agent per pod,
 * the mTLS continuity probe): run the script against a private state dir, read the probe, bring up a world with
 * multi-root on, and check that verify -A and verify -A --proxies pass afterwards.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kubectlOk, repoRoot, waitFor } from './cluster.js';
import { plugin } from './plugin.js';

export interface ProbeCount {
  handshakes: number;
  failures: number;
}

export interface TestMesh {
  stateDir: string;
  run(args: string[]): Promise<string>;
  probe(): Promise<ProbeCount>;
}

/** A handle on `scripts/test-mesh` with its state in `stateDir`. */
export function testMesh(stateDir: string): TestMesh {
  const env = { ...process.env, ISTIO_CA_TEST_MESH_DIR: stateDir };
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(join(repoRoot(), 'scripts/test-mesh'), args, { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`scripts/test-mesh ${args.join(' ')}: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      }),
    );
  return { stateDir, run, probe: async () => JSON.parse(await run(['probe'])) as ProbeCount };
}

/**
 * `scripts/test-mesh up` with 4 workloads and SECRET_TTL=24h (renewal cannot help), then ISTIO_MULTIROOT_MESH=true
 * on istiod (the real istiod restarts with it), and waits until the probe handshakes.
 */
export async function upWithMultiRoot(mesh: TestMesh, extra: string[] = []): Promise<void> {
  await mesh.run(['up', '--workloads', '4', '--secret-ttl', '24h', ...extra]);
  const world = JSON.parse(await readFile(join(mesh.stateDir, 'world.json'), 'utf8')) as { istiod: { log: string } };
  await kubectlOk([
    'set',
    'env',
    'deployment/istiod',
    '-n',
    'istio-system',
    '-c',
    'discovery',
    'ISTIO_MULTIROOT_MESH=true',
  ]);
  await waitFor(async () => /ISTIO_MULTIROOT_MESH=true\) ===/.test(await readFile(world.istiod.log, 'utf8')), 60_000, {
    message: 'istiod restarted with multi-root',
  });
  await waitFor(async () => (await mesh.probe()).handshakes > 50, 60_000, { message: 'the probe to run' });
}

/** verify -A and verify -A --proxies pass, nothing skipped, every one of the 4 proxies read. */
export async function verifyPassesEverywhere(): Promise<void> {
  type Verify = {
    passed: boolean;
    summary: { skip: number };
    skipped: string[];
    proxies?: { pod: string; leaf?: unknown; error?: string }[];
  };
  const v = await plugin(['verify', '-A', '-o', 'json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const vr = JSON.parse(v.stdout) as Verify;
  assert.ok(vr.passed && vr.summary.skip === 0 && vr.skipped.length === 0, v.stdout);
  const vp = await plugin(['verify', '-A', '--proxies', '-o', 'json']);
  assert.equal(vp.code, 0, vp.stdout + vp.stderr);
  const vpr = JSON.parse(vp.stdout) as Verify;
  assert.ok(vpr.passed && vpr.summary.skip === 0 && vpr.skipped.length === 0, vp.stdout);
  assert.equal(vpr.proxies?.length, 4, vp.stdout);
  for (const p of vpr.proxies ?? []) assert.ok(p.leaf && !p.error, `${p.pod} read: ${JSON.stringify(p)}`);
}

/** The proxy gates of a rotate -o json run: each must have read all 4 sidecars through pods/exec. */
export function assertProxyGatesReadEveryProxy(stdout: string, expected: string[]): void {
  const run = JSON.parse(stdout) as { phases: { clusters: { gates: { name: string; evidence?: string }[] }[] }[] };
  const proxyGates = run.phases
    .flatMap((p) => p.clusters.flatMap((c) => c.gates))
    .filter((g) => g.name === 'proxies-trust' || g.name === 'proxies-signed-by');
  assert.deepEqual(
    proxyGates.map((g) => g.name),
    expected,
  );
  for (const g of proxyGates) {
    const m = /^(\d+) sidecar pod\(s\), (\d+) read through pods\/exec/.exec(g.evidence ?? '');
    assert.ok(m && Number(m[1]) === 4 && m[2] === m[1], `${g.name} read every proxy through pods/exec: ${g.evidence}`);
    assert.doesNotMatch(g.evidence ?? '', /pod start time/, `${g.name} judged no proxy by pod start time`);
  }
}
