/**
 * rotate's gates wait by watch: what they read is served from informers (one list, then a watch), and a gate is
 * checked again when something it reads changes, not on a timer. Strict fake API server, fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources, type KubeObject } from '../../src/kube/resources.js';
import { WatchedReads } from '../../src/kube/watched-reads.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';
import { runRotate } from '../../src/rotate/run.js';
import { makeCas } from './support/ca-fixtures.js';
import { FakeClock, FakeKube } from './support/fake-kube.js';
import { FakeMesh } from './support/fake-mesh.js';

const cas = await makeCas(['a', 'b']);
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const work = await mkdtemp(join(tmpdir(), 'istio-ca-gate-watch-'));
const fp = (b: Buffer | undefined) => pemFingerprints(b)[0] ?? '';
const tick = () => new Promise((r) => setImmediate(r));

test('a list read twice is one list and one watch; a change wakes the waiter and shows in the next read', async () => {
  const clock = new FakeClock();
  const kube = new FakeKube({ allow: ['list configmaps', 'watch configmaps'], now: clock.now });
  kube.seed(Resources.configmaps, { metadata: { name: 'istio-ca-root-cert', namespace: 'shop' }, data: { x: '1' } });
  const reads = new WatchedReads(kube, { sleep: clock.sleep });
  const opts = { fieldSelector: 'metadata.name=istio-ca-root-cert' };
  assert.equal((await reads.list(Resources.configmaps, opts)).length, 1);
  const seen = reads.changes();
  let woken = false;
  const waiting = reads.changed(seen).then(() => (woken = true));
  await tick();
  assert.equal(woken, false, 'nothing changed yet');
  kube.seed(Resources.configmaps, { metadata: { name: 'istio-ca-root-cert', namespace: 'web' }, data: { x: '1' } });
  kube.seed(Resources.configmaps, { metadata: { name: 'other', namespace: 'web' } });
  await waiting;
  const again = await reads.list<KubeObject>(Resources.configmaps, opts);
  assert.deepEqual(
    again.map((c) => `${c.metadata.namespace}/${c.metadata.name}`),
    ['shop/istio-ca-root-cert', 'web/istio-ca-root-cert'],
    'the field selector holds in the watch too; listed in the API server order',
  );
  assert.equal(kube.callsWhere({ verb: 'list' }).length, 1, 'read twice, listed once');
  assert.equal(kube.callsWhere({ verb: 'watch' }).length, 1);
  assert.equal(reads.polling(), false);
  await reads.stop();
  kube.assertNoUnexpectedCalls();
});

test('metadata-only reads stay metadata-only through the watch', async () => {
  const kube = new FakeKube({ allow: ['list pods', 'watch pods'] });
  const reads = new WatchedReads(kube, { sleep: async () => undefined });
  assert.deepEqual(await reads.list(Resources.pods, { metadataOnly: true }), []);
  kube.seed(Resources.pods, { metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [] } });
  await reads.changed(0);
  const [p] = await reads.list(Resources.pods, { metadataOnly: true });
  assert.equal(p?.kind, 'PartialObjectMetadata');
  assert.equal(p?.spec, undefined);
  assert.equal(kube.callsWhere({ verb: 'watch' })[0]?.watch?.metadataOnly, true);
  await reads.stop();
});

test('list allowed but watch forbidden: reads fall back to a list each time and say they poll', async () => {
  const kube = new FakeKube({ allow: ['list namespaces', 'watch namespaces'] });
  kube.seed(Resources.namespaces, { metadata: { name: 'shop' } });
  kube.fail({ verb: 'watch', resource: 'namespaces' }, 403);
  const reads = new WatchedReads(kube, { sleep: async () => undefined });
  assert.equal((await reads.list(Resources.namespaces)).length, 1);
  await tick();
  await tick();
  kube.seed(Resources.namespaces, { metadata: { name: 'web' } });
  assert.equal((await reads.list(Resources.namespaces)).length, 2, 'read from the API server');
  assert.equal(reads.polling(), true);
  assert.equal(kube.callsWhere({ verb: 'list' }).length, 2);
  await reads.stop();
});

test('a list refused (403) throws as the plain list would, naming the verb', async () => {
  const kube = new FakeKube({ allow: ['list secrets', 'watch secrets'] });
  kube.fail({ verb: 'list', resource: 'secrets' }, 403);
  const reads = new WatchedReads(kube, { sleep: async () => undefined });
  await assert.rejects(reads.list(Resources.secrets, { namespace: 'istio-system' }), /forbidden|Forbidden/);
  await reads.stop();
});

test('rotate waits on a late namespace controller by watch: one list and one watch of the root ConfigMaps, not a list every poll', async () => {
  // istiod publishes the new roots into istio-ca-root-cert 60 s after each reload: namespaces-trust waits 60 s.
  const m = new FakeMesh({ cacerts: A, publishDelayMs: 60_000 });
  m.signerRoots.set(fp(A['ca-cert.pem']), fp(A['root-cert.pem']));
  m.signerRoots.set(fp(B['ca-cert.pem']), fp(B['root-cert.pem']));
  m.maxBroken = 0;
  const r = await runRotate(
    {
      fromDir: join(cas.dir, 'b'),
      namespace: 'istio-system',
      resume: false,
      allowDowntime: false,
      dryRun: false,
      gateTimeoutMs: 600_000,
      kubeletSyncMs: 5_000,
      backupDir: join(work, 'backups'),
      proxyUpdate: 'auto',
      concurrency: 5,
      pushWaitMs: 120_000,
      pollMs: 2_000,
    },
    {
      clusters: [{ client: m.kube, restart: m.restart, reader: m.reader }],
      now: m.clock.now,
      notice: () => {},
      sleep: m.clock.sleep,
    },
  );
  assert.deepEqual(r.finalRoots, [fp(B['root-cert.pem'])]);
  assert.equal(m.maxBroken, 0);
  const trust = r.phases[0]?.clusters[0]?.gates.find((g) => g.name === 'namespaces-trust');
  assert.ok(trust && trust.seconds >= 55, `namespaces-trust waited for the late publish (${trust?.seconds} s)`);
  // By field selector: the gates' lists (runBackup lists every root ConfigMap too, once per phase written).
  const gateLists = m.kube
    .callsWhere({ verb: 'list', resource: 'configmaps' })
    .filter((c) => c.list?.fieldSelector === 'metadata.name=istio-ca-root-cert');
  const backups = 3;
  assert.ok(
    gateLists.length <= backups + 1,
    `${gateLists.length} lists of istio-ca-root-cert in 3 phases of which one waited 60 s (a 2 s poll lists 30 times)`,
  );
  assert.ok(m.kube.callsWhere({ verb: 'watch', resource: 'configmaps' }).length >= 1, 'watched');
  assert.equal(m.kube.liveWatches().length, 0, 'every watch is closed when rotate ends');
  m.kube.assertNoUnexpectedCalls();
});
