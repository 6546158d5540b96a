/**
 * The Istio version of an istiod whose image does not say it (a digest), from the real istiod's /version on its
 * monitoring port, reached the way the plugin reaches it in a cluster: the API server's pods/proxy to the pod's
 * port 15014. The istiod here is built stamped as Istio 1.25.1 (-ldflags -X, as Istio's release build does), a
 * release with the multi-root bug: rotate refuses (exit 2) and says the version came from the endpoint. While the
 * pod cannot be reached, the version stays unknown and the plan says why. The test cluster's API server proxies pod
 * traffic to support/pod-network.ts, which serves the istiod pod's port 15014 from the real istiod's listener.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamespace, deleteNamespace, kubectlOk, waitFor } from './support/cluster.js';
import { plugin, registerKeys } from './support/plugin.js';
import { startIstiod, type Istiod } from './support/istiod.js';
import { controlPlaneManifest } from './support/mesh.js';
import { startPodNetwork, type PodNetwork } from './support/pod-network.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-version-'));
const dir = (n: string) => join(work, n);
const DIGEST = 'registry.example/mesh/pilot@sha256:' + '7'.repeat(64);
let istioNs = '';
let istiod: Istiod | null = null;
let net: PodNetwork | null = null;
let podName = '';

after(async () => {
  await net?.close().catch(() => undefined);
  await istiod?.stop().catch(() => undefined);
  if (istioNs) await deleteNamespace(istioNs).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

async function gen(name: string): Promise<void> {
  const r = await plugin(['generate', '-d', dir(name), '--kty', 'EC']);
  assert.equal(r.code, 0, r.stderr);
  registerKeys(dir(name));
}

type Plan = { plan: { notes: string[] } };
const dryRun = () =>
  plugin(['rotate', '--from-dir', dir('b'), '-i', istioNs, '--dry-run', '-o', 'json', '--kubelet-sync', '1s']);

test('setup: an istiod Deployment whose image is a digest, running the real istiod built as Istio 1.25.1', async () => {
  istioNs = await createNamespace('istio-ver');
  await kubectlOk(['apply', '-f', '-'], {
    input: controlPlaneManifest(istioNs, [], { image: DIGEST, multiRoot: true }),
  });
  await gen('a');
  await gen('b');
  assert.equal((await plugin(['replace', '--from-dir', dir('a'), '-i', istioNs, '--yes', '--no-backup'])).code, 0);
  istiod = await startIstiod({ namespace: istioNs, version: '1.25.1' });
  // What the real istiod answers on its monitoring listener (pkg/version BuildInfo.String()).
  const answer = await (await fetch(`http://${istiod.monitoringAddress}/version`)).text();
  assert.equal(answer, '1.25.1-test-build-Clean');
  podName = await waitFor(
    async () =>
      (
        await kubectlOk(['get', 'pods', '-n', istioNs, '-l', 'app=istiod', '-o', 'jsonpath={.items[0].metadata.name}'])
      ).trim() || null,
    60_000,
    { message: 'the istiod pod' },
  );
});

test('the pod cannot be reached: version unknown, the plan says why and assumes the pre-1.30 byte rule', async () => {
  const r = await dryRun();
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const notes = (JSON.parse(r.stdout) as Plan).plan.notes;
  const note = notes.find((n) => /istiod istiod: Istio version unknown/.test(n));
  assert.ok(note, notes.join(' | '));
  assert.match(
    note,
    /image registry\.example\/mesh\/pilot@sha256:7+ does not say; pods\/proxy istiod-[\w-]+:15014\/version: /,
  );
  assert.match(note, /pre-1\.30 byte rule for root changes is assumed/);
});

test('through pods/proxy the real istiod says 1.25.1: rotate refuses (exit 2), naming the version endpoint', async () => {
  net = await startPodNetwork();
  net.route(istioNs, podName, 15014, Number(istiod!.monitoringAddress.split(':')[1]));
  const r = await dryRun();
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(
    r.stderr,
    /istiod istiod runs Istio 1\.25\.1 \(its version endpoint says\), whose multi-root trust handling is broken/,
  );
  assert.deepEqual(net.forwarded, [`GET ${istioNs}/${podName}:15014/version`], 'the answer came from the real istiod');
});
