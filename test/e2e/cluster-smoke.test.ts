/**
 * Smoke test of the real test cluster (scripts/test-cluster): the control plane schedules and rolls out pods on
 * kwok nodes as a real cluster does, service-account tokens work, and the `readonly` context is read-only.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  apiGet,
  applyFixtureMesh,
  createNamespace,
  deleteNamespace,
  e2eEnv,
  FIXTURE_NAMESPACES,
  kubectl,
  kubectlJson,
  kubectlOk,
  uniqueName,
  waitFor,
} from './support/cluster.js';

interface Pod {
  metadata: { name: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { name: string }[] };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
}

const isReady = (p: Pod) =>
  p.status.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

async function pods(ns: string, selector: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', selector])).items;
}

describe('test cluster', () => {
  const namespaces: string[] = [];
  after(async () => {
    for (const ns of namespaces) await deleteNamespace(ns);
  });

  test('runs a real API server over TLS with Ready kwok nodes', async () => {
    const env = e2eEnv();
    assert.ok(env.kubeconfig && env.kubectl);
    const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(['version']);
    assert.match(version.serverVersion.gitVersion, /^v1\.\d+\.\d+$/);
    const nodes = await kubectlJson<{
      items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
    }>(['get', 'nodes', '-l', 'type=kwok']);
    assert.ok(nodes.items.length >= 1, 'at least one kwok node');
    for (const n of nodes.items) {
      assert.ok(
        n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        `node ${n.metadata.name} Ready`,
      );
    }
    const ctx = (await kubectlOk(['config', 'current-context'])).trim();
    assert.equal(ctx, 'admin');
  });

  test('a 2-replica Deployment rolls out, and a restartedAt patch rolls new pods', async () => {
    const ns = await createNamespace('smoke');
    namespaces.push(ns);
    await kubectlOk(['create', 'deployment', 'web', '--image=docker.io/library/nginx:1.27', '--replicas=2', '-n', ns]);
    await kubectlOk(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);

    const first = await pods(ns, 'app=web');
    assert.equal(first.length, 2);
    for (const p of first) {
      assert.ok(isReady(p), `pod ${p.metadata.name} Running and Ready`);
      assert.match(p.spec.nodeName ?? '', /^kwok-node-/);
    }
    const oldNames = new Set(first.map((p) => p.metadata.name));

    const restartedAt = new Date().toISOString();
    const patch = {
      spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt } } } },
    };
    await kubectlOk(['patch', 'deployment', 'web', '-n', ns, '--type=merge', '-p', JSON.stringify(patch)]);
    await kubectlOk(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);

    const deploy = await kubectlJson<{
      metadata: { annotations: Record<string, string> };
      status: Record<string, number>;
    }>(['get', 'deployment', 'web', '-n', ns]);
    assert.equal(deploy.metadata.annotations['deployment.kubernetes.io/revision'], '2');
    assert.equal(deploy.status.updatedReplicas, 2);
    assert.equal(deploy.status.readyReplicas, 2);

    // The old pods are deleted (kwok plays the kubelet's part) and two new ones run with the annotation.
    const fresh = await waitFor(
      async () => {
        const now = await pods(ns, 'app=web');
        return now.length === 2 && now.every((p) => !oldNames.has(p.metadata.name) && isReady(p)) ? now : undefined;
      },
      60_000,
      { message: 'two new Ready pods replacing the old ones' },
    );
    for (const p of fresh) assert.equal(p.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], restartedAt);
  });

  test('service-account tokens are issued', async () => {
    const ns = await createNamespace('smoke-sa');
    namespaces.push(ns);
    const token = (await kubectlOk(['create', 'token', 'default', '-n', ns, '--audience', 'istio-ca'])).trim();
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    assert.equal(payload.sub, `system:serviceaccount:${ns}:default`);
    assert.deepEqual(payload.aud, ['istio-ca']);
  });

  test('the readonly context gets 403 on secrets and 200 on configmaps', async () => {
    const ns = await createNamespace('smoke-ro');
    namespaces.push(ns);
    await kubectlOk(['create', 'secret', 'generic', 's', '-n', ns, '--from-literal=k=v']);
    await kubectlOk(['create', 'configmap', 'c', '-n', ns, '--from-literal=k=v']);

    const secrets = await apiGet(`/api/v1/namespaces/${ns}/secrets`, { context: 'readonly' });
    assert.equal(secrets.status, 403, secrets.body);
    const secret = await apiGet(`/api/v1/namespaces/${ns}/secrets/s`, { context: 'readonly' });
    assert.equal(secret.status, 403, secret.body);
    const configmaps = await apiGet(`/api/v1/namespaces/${ns}/configmaps`, { context: 'readonly' });
    assert.equal(configmaps.status, 200, configmaps.body);
    assert.ok(JSON.parse(configmaps.body).items.some((c: { metadata: { name: string } }) => c.metadata.name === 'c'));
    // admin may read secrets
    assert.equal((await apiGet(`/api/v1/namespaces/${ns}/secrets/s`, { context: 'admin' })).status, 200);

    // kubectl says the same
    const r = await kubectl(['get', 'secrets', '-n', ns], { context: 'readonly' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Forbidden/);
    await kubectlOk(['get', 'configmaps,pods,deployments,nodes,namespaces', '-A'], { context: 'readonly' });

    const can = async (...args: string[]) =>
      (await kubectl(['auth', 'can-i', ...args, '-n', ns], { context: 'readonly' })).stdout.trim();
    assert.equal(await can('list', 'configmaps'), 'yes');
    assert.equal(await can('watch', 'deployments.apps'), 'yes');
    assert.equal(await can('get', 'secrets'), 'no');
    // `auth can-i VERB TYPE/NAME`: a subresource goes in --subresource
    assert.equal(await can('create', 'pods', '--subresource=exec'), 'no');
    assert.equal(await can('get', 'pods', '--subresource=exec'), 'no');
    assert.equal(await can('create', 'pods', '--subresource=portforward'), 'no');
    assert.equal(await can('get', 'pods', '--subresource=log'), 'yes');
    assert.equal(await can('create', 'configmaps'), 'no');
    assert.equal(await can('delete', 'pods'), 'no');
  });

  test('the fixture mesh applies and rolls out', async () => {
    // Renamed namespaces keep this test out of the way of tests that use the fixture under its own names.
    const mesh = await applyFixtureMesh({
      rename: Object.fromEntries(Object.values(FIXTURE_NAMESPACES).map((n) => [n, uniqueName(`smoke-${n}`)])),
    });
    namespaces.push(mesh.istioNamespace, mesh.injectNamespace, mesh.revNamespace, mesh.plainNamespace);
    assert.notEqual(mesh.istioNamespace, 'istio-system');
    const istiod = await kubectlJson<{ spec: { replicas: number }; status: { readyReplicas: number } }>([
      'get',
      'deployment',
      'istiod',
      '-n',
      mesh.istioNamespace,
    ]);
    assert.equal(istiod.spec.replicas, 2);
    assert.equal(istiod.status.readyReplicas, 2);
    assert.equal((await pods(mesh.istioNamespace, 'app=istiod')).filter(isReady).length, 2);
    const gw = await pods(mesh.istioNamespace, 'istio=ingressgateway');
    assert.ok(gw.length >= 1 && gw.every(isReady));

    for (const ns of [mesh.injectNamespace, mesh.revNamespace]) {
      const all = (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', ns])).items;
      assert.ok(all.length > 0, `pods in ${ns}`);
      for (const p of all) {
        assert.ok(
          p.spec.containers.some((c) => c.name === 'istio-proxy'),
          `${ns}/${p.metadata.name} has istio-proxy`,
        );
        assert.ok(p.metadata.annotations?.['sidecar.istio.io/status'], `${ns}/${p.metadata.name} sidecar status`);
      }
    }
    const plain = (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', mesh.plainNamespace])).items;
    assert.ok(plain.length > 0 && plain.every((p) => !p.spec.containers.some((c) => c.name === 'istio-proxy')));
    const nsInject = await kubectlJson<{ metadata: { labels: Record<string, string> } }>([
      'get',
      'namespace',
      mesh.injectNamespace,
    ]);
    assert.equal(nsInject.metadata.labels['istio-injection'], 'enabled');
    const nsRev = await kubectlJson<{ metadata: { labels: Record<string, string> } }>([
      'get',
      'namespace',
      mesh.revNamespace,
    ]);
    assert.equal(nsRev.metadata.labels['istio.io/rev'], 'default');
    const secrets = await kubectl(['get', 'secret', 'cacerts', '-n', mesh.istioNamespace]);
    assert.notEqual(secrets.code, 0, 'the fixture has no cacerts secret');
  });
});
