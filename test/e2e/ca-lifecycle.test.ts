/**
 * The recipe, done with the plugin on the real test cluster: generate, backup, replace, restart, verify, status;
 * refusals that leave the cluster byte-identical; rollback from a backup; the readonly context.
 * istiod's namespace controller is not running in this suite, so the test writes istio-ca-root-cert as it would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyFixtureMesh, deleteFixtureMesh, kubectlOk, uniqueName, type FixtureMesh } from './support/cluster.js';
import { bundleData, getCacerts, plugin, registerKeys, writeRootConfigMaps } from './support/plugin.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-e2e-'));
let mesh: FixtureMesh;
const dirA = join(work, 'a');
const dirB = join(work, 'b');
const backups = join(work, 'backups');

const appNamespaces = () => [mesh.injectNamespace, mesh.revNamespace, mesh.plainNamespace];
const allNamespaces = () => [mesh.istioNamespace, ...appNamespaces()];
const scope = () => ['-i', mesh.istioNamespace, ...allNamespaces().flatMap((n) => ['-n', n])];
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

async function restartMesh(): Promise<void> {
  const r = await plugin([
    'restart',
    '-i',
    mesh.istioNamespace,
    '-n',
    mesh.injectNamespace,
    '-n',
    mesh.revNamespace,
    '--timeout',
    '3m',
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

test('setup: fixture mesh in namespaces of its own, bundles A and B', async () => {
  mesh = await applyFixtureMesh({
    rename: {
      'istio-system': uniqueName('istio'),
      'mesh-inject': uniqueName('inject'),
      'mesh-rev': uniqueName('rev'),
      'mesh-plain': uniqueName('plain'),
    },
  });
  for (const d of [dirA, dirB]) {
    const r = await plugin(['generate', '-d', d, '--kty', 'EC']);
    assert.equal(r.code, 0, r.stderr);
    registerKeys(d);
  }
});

test('verify fails while the mesh has no CA secret, and says how to plug one', async () => {
  const r = await plugin(['verify', ...scope()]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /× no cacerts secret/);
  assert.match(r.stdout, /hint: plug a CA/);
});

test('replace refuses an invalid bundle with exit 2 and creates nothing', async () => {
  const bad = join(work, 'bad');
  await cp(dirA, bad, { recursive: true });
  await cp(join(dirB, 'ca-key.pem'), join(bad, 'ca-key.pem'));
  const r = await plugin(['replace', '--from-dir', bad, '-i', mesh.istioNamespace, '--yes', '--backup-dir', backups]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /KEY_MISMATCH/);
  assert.match(r.stderr, /cacerts was not changed/);
  assert.equal(await getCacerts(mesh.istioNamespace), null);
  await assert.rejects(stat(backups), 'no backup for a refused bundle');
});

test('replace --dry-run=server goes through the API server and changes nothing, even with --yes', async () => {
  const r = await plugin([
    'replace',
    '--from-dir',
    dirA,
    '-i',
    mesh.istioNamespace,
    '--dry-run=server',
    '--yes',
    '-o',
    'json',
    '--backup-dir',
    backups,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(json(r).action, 'dry-run');
  assert.equal(json(r).dryRun, 'server');
  assert.equal(json(r).plan.kind, 'new-secret');
  assert.equal(await getCacerts(mesh.istioNamespace), null);
});

test('replace --dry-run (client) shows the plan and sends nothing; an unknown value is refused', async () => {
  const r = await plugin(['replace', '-f', dirA, '-i', mesh.istioNamespace, '--dry-run', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(json(r).dryRun, 'client');
  assert.equal(json(r).plan.kind, 'new-secret');
  const bad = await plugin(['replace', '-f', dirA, '-i', mesh.istioNamespace, '--dry-run=yes', '--yes']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(await getCacerts(mesh.istioNamespace), null);
  await assert.rejects(stat(backups), 'no backup in a dry run');
});

test('replace without --yes in a non-interactive shell is refused', async () => {
  const r = await plugin(['replace', '--from-dir', dirA, '-i', mesh.istioNamespace, '--backup-dir', backups]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /pass --yes/);
  assert.equal(await getCacerts(mesh.istioNamespace), null);
});

test('replace creates cacerts from bundle A after a backup, and records the change', async () => {
  const r = await plugin([
    'replace',
    '--from-dir',
    dirA,
    '-i',
    mesh.istioNamespace,
    '--yes',
    '--backup-dir',
    backups,
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = json(r);
  assert.equal(out.action, 'created');
  assert.equal(out.plan.kind, 'new-secret');
  assert.ok(out.backup && out.backup.startsWith(backups));
  const secret = (await getCacerts(mesh.istioNamespace))!;
  assert.deepEqual(secret.data, await bundleData(dirA));
  assert.ok(secret.metadata.annotations?.['kubectl-istio-ca.io/replaced-at']);
  assert.equal(secret.metadata.annotations?.['kubectl-istio-ca.io/change-kind'], 'new-secret');
});

test('after istiod publishes root A and the mesh restarts, verify passes and status shows the plugged CA', async () => {
  await writeRootConfigMaps(allNamespaces(), await readFile(join(dirA, 'root-cert.pem'), 'utf8'));
  await restartMesh();
  const r = await plugin(['verify', ...scope()]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /√ cacerts present and valid/);
  assert.match(r.stdout, /√ all 4 namespaces trust every root of cacerts/);
  assert.match(r.stdout, /√ verify passed/);
  const j = await plugin(['verify', ...scope(), '-o', 'json']);
  assert.equal(json(j).passed, true);
  assert.ok(
    json(j).checks.every((c: { status: string }) => c.status === 'ok'),
    j.stdout,
  );
  const s = await plugin(['status', '-i', mesh.istioNamespace, '-o', 'json']);
  assert.equal(s.code, 0, s.stderr);
  const st = json(s);
  assert.equal(st.caMode, 'plugged');
  assert.deepEqual(
    st.certificates.map((c: { role: string }) => c.role),
    ['signing', 'root'],
  );
  assert.equal(st.istiodPods.length, 2);
  assert.ok(st.istiodPods.every((p: { ready: boolean }) => p.ready));
  // status looks at the whole cluster; other tests' meshes may share it, so look at this mesh's namespaces.
  const ours = st.workloadsAwaitingRestart.items.filter((w: string) => allNamespaces().includes(w.split('/')[0]));
  assert.deepEqual(ours, []);
  const human = await plugin(['status', '-i', mesh.istioNamespace]);
  assert.match(human.stdout, /CA in use\s+plugged-in CA \(secret cacerts\)/);
  const fail = await plugin(['status', '-i', mesh.istioNamespace, '--fail-within', '4000d']);
  assert.equal(fail.code, 1, 'the intermediate expires within 4000 days');
});

test('backup writes restorable YAML, the decoded bundle and checksums, folder 0700 and files 0600', async () => {
  const r = await plugin(['backup', '-i', mesh.istioNamespace, '--out-dir', backups, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const path = json(r).path as string;
  assert.equal((await stat(path)).mode & 0o777, 0o700);
  const manifest = JSON.parse(await readFile(join(path, 'manifest.json'), 'utf8'));
  assert.ok(manifest.files.length >= 6);
  for (const f of manifest.files) {
    assert.equal((await stat(join(path, f.path))).mode & 0o777, 0o600, f.path);
    const { createHash } = await import('node:crypto');
    assert.equal(
      createHash('sha256')
        .update(await readFile(join(path, f.path)))
        .digest('hex'),
      f.sha256,
      f.path,
    );
  }
  for (const ns of allNamespaces()) assert.ok((await readdir(join(path, 'configmaps'))).includes(`${ns}.yaml`), ns);
  const restoreNs = uniqueName('restore');
  await kubectlOk(['create', 'namespace', restoreNs]);
  try {
    const yaml = (await readFile(join(path, 'secret-cacerts.yaml'), 'utf8')).replace(
      `namespace: ${mesh.istioNamespace}`,
      `namespace: ${restoreNs}`,
    );
    await writeFile(join(work, 'restore.yaml'), yaml);
    await kubectlOk(['apply', '-f', join(work, 'restore.yaml')]);
    assert.deepEqual((await getCacerts(restoreNs))!.data, await bundleData(dirA));
  } finally {
    await kubectlOk(['delete', 'namespace', restoreNs, '--wait=false']);
  }
  const check = await plugin(['inspect', path, '-o', 'json']);
  assert.equal(check.code, 0, 'replace --from-dir accepts the backup folder: it validates');
});

let rootChangeBackup = '';
test('a new root without --allow-root-change is refused, explained, and leaves cacerts byte-identical', async () => {
  const before = await kubectlOk(['get', 'secret', 'cacerts', '-n', mesh.istioNamespace, '-o', 'json']);
  const r = await plugin(['replace', '--from-dir', dirB, '-i', mesh.istioNamespace, '--yes', '--backup-dir', backups]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /removes the root the mesh trusts today/);
  assert.match(r.stderr, /kubectl istio-ca rotate/);
  assert.equal(await kubectlOk(['get', 'secret', 'cacerts', '-n', mesh.istioNamespace, '-o', 'json']), before);
});

test('a root change with --allow-root-change: backup first, verify fails until ConfigMaps and workloads follow', async () => {
  const r = await plugin([
    'replace',
    '--from-dir',
    dirB,
    '-i',
    mesh.istioNamespace,
    '--yes',
    '--allow-root-change',
    '--backup-dir',
    backups,
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = json(r);
  assert.equal(out.plan.kind, 'root-change');
  assert.equal(out.plan.removedRoots.length, 1);
  rootChangeBackup = out.backup;
  assert.deepEqual((await getCacerts(mesh.istioNamespace))!.data, await bundleData(dirB));
  const v = await plugin(['verify', ...scope(), '-o', 'json']);
  assert.equal(v.code, 1);
  const failed = json(v)
    .checks.filter((c: { status: string }) => c.status === 'fail')
    .map((c: { id: string }) => c.id)
    .sort();
  assert.deepEqual(failed, ['istiod.restarted', 'namespaces.removed-root', 'namespaces.roots', 'workloads.restarted']);
  const human = await plugin(['verify', ...scope()]);
  assert.match(human.stdout, /× 4 namespace\(s\) still trust only a root that is no longer in the CA bundle/);
  assert.match(human.stdout, /hint: kubectl istio-ca restart --workloads-only/);
  await writeRootConfigMaps(allNamespaces(), await readFile(join(dirB, 'root-cert.pem'), 'utf8'));
  await restartMesh();
  const after = await plugin(['verify', ...scope()]);
  assert.equal(after.code, 0, after.stdout);
});

test('rollback: replace --from-dir a backup folder restores the previous bundle', async () => {
  const r = await plugin([
    'replace',
    '--from-dir',
    rootChangeBackup,
    '-i',
    mesh.istioNamespace,
    '--yes',
    '--allow-root-change',
    '--backup-dir',
    backups,
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await getCacerts(mesh.istioNamespace))!.data, await bundleData(dirA));
});

test('an intermediate-only change needs no flag and no restart', async () => {
  const dirC = join(work, 'c');
  const g = await plugin([
    'generate',
    '-d',
    dirC,
    '--kty',
    'EC',
    '--root-cert',
    join(dirA, 'root-cert.pem'),
    '--root-key',
    join(dirA, 'root-key.pem'),
  ]);
  assert.equal(g.code, 0, g.stderr);
  registerKeys(dirC);
  const r = await plugin([
    'replace',
    '--from-dir',
    dirC,
    '-i',
    mesh.istioNamespace,
    '--yes',
    '--backup-dir',
    backups,
    '-o',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(json(r).plan.kind, 'intermediate-only');
  assert.ok(
    json(r).nextSteps.every((s: string) => !s.startsWith('kubectl istio-ca restart')),
    json(r).nextSteps.join('; '),
  );
});

test('the readonly context: status and verify work without secrets and say what they skipped; writes are forbidden by name', async () => {
  const s = await plugin(['status', '-i', mesh.istioNamespace, '--context', 'readonly', '-o', 'json']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(json(s).caMode, 'unknown');
  assert.ok(json(s).skipped.some((x: string) => /secrets/.test(x)));
  const v = await plugin(['verify', ...scope(), '--context', 'readonly']);
  assert.match(v.stdout, /- cannot read secrets/);
  const b = await plugin(['backup', '-i', mesh.istioNamespace, '--out-dir', backups, '--context', 'readonly']);
  assert.equal(b.code, 1);
  assert.match(
    b.stderr,
    new RegExp(`forbidden: context readonly may not get secrets in namespace ${mesh.istioNamespace}`),
  );
  const r = await plugin([
    'replace',
    '--from-dir',
    dirA,
    '-i',
    mesh.istioNamespace,
    '--yes',
    '--context',
    'readonly',
    '--backup-dir',
    backups,
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /may not get secrets/);
});

test('teardown', async () => {
  await deleteFixtureMesh(mesh);
  await rm(work, { recursive: true, force: true });
});
