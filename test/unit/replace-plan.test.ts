import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planChange } from '../../src/replace/plan.js';
import type { BundleData } from '../../src/ca/bundle.js';
import { cli } from './support/run-cli.js';

const dir = await mkdtemp(join(tmpdir(), 'istio-ca-plan-'));
for (const [d, extra] of [
  ['a', []],
  ['b', []],
  ['a2', ['--root-cert', join(dir, 'a/root-cert.pem'), '--root-key', join(dir, 'a/root-key.pem')]],
] as const) {
  const r = await cli(['generate', '-d', join(dir, d), '--kty', 'EC', ...extra]);
  assert.equal(r.code, 0, r.stderr);
}
async function bundle(d: string, rootOverride?: string): Promise<BundleData> {
  const out: BundleData = {};
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'])
    out[f] = await readFile(join(dir, d, f));
  if (rootOverride !== undefined) out['root-cert.pem'] = Buffer.from(rootOverride);
  return out;
}
const rootA = await readFile(join(dir, 'a/root-cert.pem'), 'utf8');
const rootB = await readFile(join(dir, 'b/root-cert.pem'), 'utf8');

test('plans: each kind of change is told apart', async () => {
  const a = await bundle('a');
  assert.equal(planChange(null, a, null, null).kind, 'new-secret');
  assert.equal(planChange(a, await bundle('a'), null, null).kind, 'unchanged');
  assert.equal(planChange(a, await bundle('a2'), null, null).kind, 'intermediate-only');
  const both = planChange(a, await bundle('a', rootA + rootB), null, true);
  assert.equal(both.kind, 'root-added');
  assert.equal(both.addedRoots.length, 1);
  assert.equal(both.breaksTrust, false);
  assert.equal(
    planChange(await bundle('a', rootA + rootB), await bundle('b', rootA + rootB + rootB), null, true).kind,
    'root-bundle-rewritten',
    'phase 2 of a rotation: same roots, new bytes, new signer',
  );
  assert.equal(
    planChange(await bundle('a', rootA + rootB), await bundle('a', rootB + rootA), null, true).kind,
    'root-bundle-rewritten',
  );
  const swap = planChange(a, await bundle('b'), null, null);
  assert.equal(swap.kind, 'root-change');
  assert.equal(swap.breaksTrust, true);
  assert.equal(swap.removedRoots.length, 1);
  const drop = planChange(await bundle('b', rootA + rootB), await bundle('b'), null, true);
  assert.equal(drop.kind, 'root-removed', 'dropping the old root after rotation: the signer chains to a kept root');
  assert.equal(drop.breaksTrust, true, 'leaves still issued under the removed root break');
});

test('plans: a signer under a root proxies do not trust yet is a root change, even when the bundle adds that root', async () => {
  const a = await bundle('a');
  const sneaky = planChange(a, await bundle('b', rootA + rootB), null, true);
  assert.equal(sneaky.kind, 'root-change', 'intermediate B, roots A+B: istiod would at once issue leaves under B');
  assert.equal(sneaky.breaksTrust, true);
  assert.equal(sneaky.removedRoots.length, 0);
  assert.match(sneaky.notes.join(' '), /chains to a root proxies do not trust yet/);
  const trustBoth = planChange(a, await bundle('a', rootA + rootB), null, true);
  assert.equal(trustBoth.kind, 'root-added', 'signer A under roots A+B is what trust-both writes: safe');
});

test('replace refuses a signer under an untrusted root without --allow-root-change and points to rotate', async () => {
  const { FakeKube } = await import('./support/fake-kube.js');
  const { Resources } = await import('../../src/kube/resources.js');
  const { runReplace } = await import('../../src/replace/run.js');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const a = await bundle('a');
  const kube = new FakeKube({ allow: ['get secrets', 'list deployments'] });
  kube.seed(Resources.secrets, {
    metadata: { name: 'cacerts', namespace: 'istio-system' },
    data: Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.toString('base64')])),
  });
  const next = join(dir, 'b-under-ab');
  await mkdir(next, { recursive: true });
  const b = await bundle('b', rootA + rootB);
  for (const [k, v] of Object.entries(b)) await writeFile(join(next, k), v);
  await assert.rejects(
    runReplace(
      {
        fromDir: next,
        namespace: 'istio-system',
        dryRun: 'none',
        backupDir: join(dir, 'backups'),
        noBackup: true,
        allowRootChange: false,
        yes: true,
      },
      { client: kube, now: () => new Date(), notice: () => undefined, confirm: async () => true },
    ),
    (e: Error & { exitCode?: number; hint?: string }) =>
      e.exitCode === 2 && /do not trust yet/.test(e.message) && /kubectl istio-ca rotate/.test(e.hint ?? ''),
  );
  assert.equal(kube.writes().length, 0, 'nothing written');
  kube.assertNoUnexpectedCalls();
});

test('plans: self-signed to plugged, keeping or breaking the self-signed root', async () => {
  const self = Buffer.from(rootA);
  const keep = planChange(null, await bundle('a'), self, null);
  assert.equal(keep.kind, 'self-signed-to-plugged');
  assert.equal(keep.breaksTrust, false);
  const breaks = planChange(null, await bundle('b'), self, null);
  assert.equal(breaks.breaksTrust, true);
  assert.match(breaks.notes.join(' '), /plug the current self-signed certificate first/);
});

test('plans: a root change without multi-root says istiod will reject it on reload', async () => {
  const p = planChange(await bundle('a'), await bundle('a', rootA + rootB), null, false);
  assert.match(p.notes.join(' '), /Multi root is disabled/);
});

test.after(() => rm(dir, { recursive: true, force: true }));
