/**
 * -i/--istio-namespace reaches bundle validation in replace and rotate: the CA must sign istiod.<-i>.svc, so a root
 * whose name constraints permit only istiod.mesh.svc is right for -i mesh and wrong for istio-system.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundleDir } from '../../src/ca/bundle.js';
import { loadValidBundle, runReplace } from '../../src/replace/run.js';
import { runRotate } from '../../src/rotate/run.js';
import { cli } from './support/run-cli.js';
import { FakeMesh } from './support/fake-mesh.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-ns-'));
test.after(() => rm(work, { recursive: true, force: true }));

/** A root that may sign only for istiod.mesh.svc and spiffe://cluster.local, and two intermediates under it. */
async function constrainedBundles(): Promise<{ first: string; second: string }> {
  const cnf = join(work, 'root.cnf');
  await writeFile(
    cnf,
    '[req]\ndistinguished_name=dn\n[dn]\n[r]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' +
      'nameConstraints=critical,permitted;DNS:istiod.mesh.svc,permitted;URI:cluster.local\nsubjectKeyIdentifier=hash\n',
  );
  const key = join(work, 'root-key.pem');
  const cert = join(work, 'root-cert.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  execFileSync('openssl', [
    'req', '-x509', '-new', '-key', key, '-subj', '/CN=Mesh only', '-config', cnf, '-extensions', 'r',
    '-days', '3650', '-out', cert,
  ]); // prettier-ignore
  const dirs = { first: join(work, 'first'), second: join(work, 'second') };
  for (const dir of Object.values(dirs)) {
    const r = await cli(['generate', '-i', 'mesh', '--kty', 'EC', '--root-cert', cert, '--root-key', key, '-d', dir]);
    assert.equal(r.code, 0, r.stderr);
  }
  return dirs;
}

const bundles = await constrainedBundles();

test('a bundle is validated for the -i namespace: valid for istiod.mesh.svc, refused for istio-system', async () => {
  const now = new Date();
  const ok = await loadValidBundle(bundles.second, now, 'mesh');
  assert.equal(ok.report.valid, true);
  await assert.rejects(
    loadValidBundle(bundles.second, now, 'istio-system'),
    (e: Error & { exitCode?: number }) =>
      e.exitCode === 2 && /NAME_CONSTRAINTS_VIOLATED/.test(e.message) && /istiod\.istio-system\.svc/.test(e.message),
  );
});

test('replace -i mesh validates the bundle for istiod.mesh.svc (it used istio-system whatever -i said)', async () => {
  const m = new FakeMesh({ cacerts: await readBundleDir(bundles.first), istioNamespace: 'mesh' });
  const r = await runReplace(
    {
      fromDir: bundles.second,
      namespace: 'mesh',
      dryRun: 'client',
      backupDir: join(work, 'backups'),
      noBackup: true,
      allowRootChange: false,
      yes: true,
    },
    { client: m.kube, now: m.clock.now, notice: () => undefined, confirm: async () => true },
  );
  assert.equal(r.namespace, 'mesh');
  assert.equal(r.plan.kind, 'intermediate-only');
  assert.equal(r.action, 'dry-run');
});

test('rotate -i mesh validates the new bundle for istiod.mesh.svc', async () => {
  const m = new FakeMesh({ cacerts: await readBundleDir(bundles.first), istioNamespace: 'mesh' });
  const r = await runRotate(
    {
      fromDir: bundles.second,
      namespace: 'mesh',
      resume: false,
      allowDowntime: false,
      dryRun: true,
      gateTimeoutMs: 60_000,
      kubeletSyncMs: 1_000,
      backupDir: join(work, 'rotate-backups'),
      proxyUpdate: 'auto',
      concurrency: 5,
      pushWaitMs: 60_000,
    },
    {
      clusters: [{ client: m.kube, restart: m.restart, reader: m.reader }],
      now: m.clock.now,
      notice: () => undefined,
      sleep: m.clock.sleep,
    },
  );
  assert.equal(r.kind, 'intermediate-only');
  assert.equal(r.dryRun, true);
});
