/**
 * restart with the real binary on the real test cluster: the fixture mesh in namespaces of its own, restarted
 * control plane first; every sidecar workload's pods replaced; the namespace without injection untouched;
 * --dry-run and the readonly context change nothing; a stuck rollout times out (124) and a progress deadline
 * fails (1) without stopping the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyFixtureMesh,
  createNamespace,
  deleteFixtureMesh,
  deleteNamespace,
  kubectl,
  kubectlJson,
  kubectlOk,
  uniqueName,
  waitFor,
  type FixtureMesh,
} from './support/cluster.js';
import type { RestartResult } from '../../src/restart/run.js';
import { plugin } from './support/plugin.js';

const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
let mesh: FixtureMesh;
const extraNamespaces: string[] = [];
/** The -o json output of restart: the RestartResult the command returns. */
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as RestartResult;

interface Obj {
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
  };
  spec?: { template?: { metadata?: { annotations?: Record<string, string> } } };
}
interface Item {
  namespace: string;
  kind: string;
  name: string;
  role: string;
  status: string;
  message: string;
  hint: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

const scope = () => [
  '-i',
  mesh.istioNamespace,
  '-n',
  mesh.injectNamespace,
  '-n',
  mesh.revNamespace,
  '-n',
  mesh.plainNamespace,
];
const meshNamespaces = () => [mesh.istioNamespace, mesh.injectNamespace, mesh.revNamespace, mesh.plainNamespace];
const sidecarWorkloads = () =>
  mesh.workloads
    .filter((w) => w.sidecar && w.namespace !== mesh.istioNamespace)
    .map((w) => `${w.namespace}/${w.kind}/${w.name}`)
    .sort();
const ids = (items: Item[]) => items.map((i) => `${i.namespace}/${i.kind}/${i.name}`);

async function workloadObjects(): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const ns of meshNamespaces())
    out.push(...(await kubectlJson<{ items: Obj[] }>(['get', 'deployments,statefulsets,daemonsets', '-n', ns])).items);
  return out;
}
async function podsIn(ns: string): Promise<Obj[]> {
  return (await kubectlJson<{ items: Obj[] }>(['get', 'pods', '-n', ns])).items;
}
const versions = (objs: Obj[]) =>
  Object.fromEntries(
    objs.map((o) => [`${o.metadata.namespace}/${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]),
  );

/** The workload a pod belongs to, as `ns/Kind/name`. */
function ownerOf(p: Obj): string {
  const ref = p.metadata.ownerReferences?.[0];
  if (!ref) return `${p.metadata.namespace}/Pod/${p.metadata.name}`;
  const hash = p.metadata.labels?.['pod-template-hash'];
  if (ref.kind === 'ReplicaSet' && hash)
    return `${p.metadata.namespace}/Deployment/${ref.name.slice(0, -hash.length - 1)}`;
  return `${p.metadata.namespace}/${ref.kind}/${ref.name}`;
}

test('setup: the fixture mesh in namespaces of its own', async () => {
  mesh = await applyFixtureMesh({
    rename: {
      'istio-system': uniqueName('istio-rs'),
      'mesh-inject': uniqueName('inject-rs'),
      'mesh-rev': uniqueName('rev-rs'),
      'mesh-plain': uniqueName('plain-rs'),
    },
  });
});

test('--dry-run=server (as kubectl users write it) lists what would restart, passes the API server, changes nothing', async () => {
  const before = versions(await workloadObjects());
  const r = await plugin(['restart', ...scope(), '--dry-run=server', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r);
  assert.equal(out.dryRun, 'server');
  assert.deepEqual(ids(out.controlPlane), [
    `${mesh.istioNamespace}/Deployment/istiod`,
    `${mesh.istioNamespace}/Deployment/istio-ingressgateway`,
  ]);
  assert.deepEqual(ids(out.workloads).sort(), sidecarWorkloads());
  assert.ok(
    [...out.controlPlane, ...out.workloads].every((i: Item) => i.status === 'dry-run'),
    r.stdout,
  );
  assert.deepEqual(versions(await workloadObjects()), before, 'no resourceVersion changed');
});

test('--dry-run (client) and --dry-run=client list the same workloads, send no patch and change nothing', async () => {
  const before = versions(await workloadObjects());
  for (const flag of [['--dry-run'], ['--dry-run=client']]) {
    const r = await plugin(['restart', ...scope(), ...flag, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = json(r);
    assert.equal(out.dryRun, 'client');
    assert.deepEqual(ids(out.workloads).sort(), sidecarWorkloads());
    assert.ok([...out.controlPlane, ...out.workloads].every((i: Item) => i.status === 'dry-run'));
  }
  assert.deepEqual(versions(await workloadObjects()), before, 'no resourceVersion changed');
});

test('--dry-run values: accepted and refused exactly where kubectl accepts and refuses them; never a write', async () => {
  const before = versions(await workloadObjects());
  for (const value of ['client', 'server', 'true', 'bogus', 'Server', 'serverr']) {
    const k = await kubectl([
      'annotate',
      'namespace',
      mesh.plainNamespace,
      'istio-ca.test/dry-run-probe=1',
      `--dry-run=${value}`,
    ]);
    const p = await plugin(['restart', ...scope(), `--dry-run=${value}`, '-o', 'json']);
    const kubectlAccepts = k.code === 0;
    assert.equal(p.code === 0, kubectlAccepts, `--dry-run=${value}: kubectl exit ${k.code}, plugin exit ${p.code}`);
    if (!kubectlAccepts) assert.equal(p.code, 2, p.stderr);
  }
  assert.deepEqual(versions(await workloadObjects()), before, 'no resourceVersion changed');
});

test('a cluster-wide --dry-run=server finds the mesh among everything else and leaves the plain namespace out', async () => {
  const r = await plugin(['restart', '-i', mesh.istioNamespace, '--dry-run=server', '-o', 'json']);
  const out = json(r);
  const found = ids(out.workloads);
  for (const w of sidecarWorkloads()) assert.ok(found.includes(w), `${w} in ${found.join(', ')}`);
  assert.ok(!found.some((w) => w.startsWith(`${mesh.plainNamespace}/`)));
  assert.ok(
    out.summary.apiRequests < out.summary.total + 12,
    `discovery took few requests: ${JSON.stringify(out.summary)}`,
  );
});

test('the readonly context is told which verb, resource and namespace it lacks; nothing changes (exit 1)', async () => {
  const before = versions(await workloadObjects());
  const r = await plugin(['restart', ...scope()], { context: 'readonly' });
  assert.equal(r.code, 1, r.stderr + r.stdout);
  const message = `forbidden: context readonly may not patch deployments in namespace ${mesh.istioNamespace}`;
  assert.ok(r.stdout.includes(message), r.stdout);
  assert.ok(r.stderr.includes(message), 'the progress line says it too');
  assert.match(
    r.stdout,
    new RegExp(
      `hint for deployment/istiod -n ${mesh.istioNamespace}: grant "patch" on deployments in namespace ${mesh.istioNamespace}`,
    ),
  );
  assert.match(r.stdout, /skipped\s+.*istiod did not roll out/);

  const wl = await plugin(['restart', '--workloads-only', ...scope(), '-o', 'json'], { context: 'readonly' });
  assert.equal(wl.code, 1);
  const failed = json(wl).workloads as Item[];
  assert.equal(failed.length, sidecarWorkloads().length, 'every workload was tried and reported');
  assert.ok(failed.every((i) => i.status === 'failed'));
  assert.ok(
    failed.some(
      (i) =>
        i.message === `forbidden: context readonly may not patch statefulsets in namespace ${mesh.injectNamespace}`,
    ),
    JSON.stringify(failed, null, 1),
  );
  assert.ok(
    failed.some(
      (i) => i.message === `forbidden: context readonly may not patch daemonsets in namespace ${mesh.injectNamespace}`,
    ),
  );
  assert.deepEqual(versions(await workloadObjects()), before);
});

test('restart rolls istiod first, then the gateway, then every sidecar workload; their pods are replaced', async () => {
  const podsBefore = new Map<string, Obj[]>();
  for (const ns of meshNamespaces()) podsBefore.set(ns, await podsIn(ns));
  const plainBefore = versions((await workloadObjects()).filter((o) => o.metadata.namespace === mesh.plainNamespace));

  const r = await plugin(['restart', ...scope(), '--timeout', '3m', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r);
  const [istiod, gateway] = out.controlPlane as Item[];
  assert.equal(istiod.name, 'istiod');
  assert.equal(gateway.name, 'istio-ingressgateway');
  assert.ok(
    [...out.controlPlane, ...out.workloads].every((i: Item) => i.status === 'restarted'),
    r.stdout,
  );
  assert.deepEqual(ids(out.workloads).sort(), sidecarWorkloads());
  assert.ok(istiod.finishedAt! <= gateway.startedAt!, 'istiod rolled out before the gateway was restarted');
  for (const w of out.workloads as Item[])
    assert.ok(gateway.finishedAt! <= w.startedAt!, `${w.name} started after the control plane`);
  assert.match(r.stderr, /restarted/, 'one progress line per workload on stderr');

  const restartedAt: string = out.restartedAt;
  for (const o of await workloadObjects()) {
    const id = `${o.metadata.namespace}/${o.kind}/${o.metadata.name}`;
    const stamp = o.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
    if (o.metadata.namespace === mesh.plainNamespace) assert.equal(stamp, undefined, `${id} untouched`);
    else assert.equal(stamp, restartedAt, `${id} template stamped`);
  }
  assert.deepEqual(
    versions((await workloadObjects()).filter((o) => o.metadata.namespace === mesh.plainNamespace)),
    plainBefore,
    'the namespace without injection is untouched',
  );

  // Every pod of a restarted workload is a new one from the stamped template; the plain namespace keeps its pods.
  await waitFor(
    async () => {
      for (const ns of meshNamespaces()) {
        const oldUids = new Set(podsBefore.get(ns)!.map((p) => p.metadata.uid));
        const now = await podsIn(ns);
        for (const p of now) {
          const fresh = !oldUids.has(p.metadata.uid) && p.metadata.annotations?.[RESTARTED_AT] === restartedAt;
          if (ns === mesh.plainNamespace ? fresh : !fresh)
            throw new Error(`pod ${ns}/${p.metadata.name} of ${ownerOf(p)}: ${fresh ? 'replaced' : 'not replaced'}`);
        }
        if (ns === mesh.plainNamespace && now.length !== podsBefore.get(ns)!.length)
          throw new Error('plain pods changed');
      }
      return true;
    },
    60_000,
    { message: 'every sidecar pod replaced, the plain pods kept' },
  );
  const oldNames = new Set(
    podsBefore
      .get(mesh.injectNamespace)!
      .filter((p) => ownerOf(p).includes('/Deployment/'))
      .map((p) => p.metadata.name),
  );
  const newNames = (await podsIn(mesh.injectNamespace))
    .filter((p) => ownerOf(p).includes('/Deployment/'))
    .map((p) => p.metadata.name);
  assert.ok(newNames.length > 0 && newNames.every((n) => !oldNames.has(n)), 'Deployment pods have new names');
});

test('--control-plane-only restarts istiod and the gateway and no workload', async () => {
  const r = await plugin(['restart', '--control-plane-only', ...scope(), '-o', 'json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r);
  assert.deepEqual(out.workloads, []);
  for (const o of await workloadObjects()) {
    const stamp = o.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
    if (
      o.metadata.namespace === mesh.istioNamespace &&
      (o.metadata.name === 'istiod' || o.metadata.name === 'istio-ingressgateway')
    )
      assert.equal(stamp, out.restartedAt);
    else assert.notEqual(stamp, out.restartedAt, `${o.metadata.name} not restarted`);
  }
});

/** A namespace whose pod quota is full: a restarted Deployment can create no new pod and never progresses. */
async function stuckNamespace(
  prefix: string,
  deployments: { name: string; progressDeadlineSeconds?: number }[],
): Promise<string> {
  const ns = await createNamespace(prefix);
  extraNamespaces.push(ns);
  const items: unknown[] = [
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'pods', namespace: ns },
      spec: { hard: { pods: String(deployments.length) } },
    },
  ];
  for (const d of deployments)
    items.push(
      sidecarDeployment(ns, d.name, {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        ...(d.progressDeadlineSeconds ? { progressDeadlineSeconds: d.progressDeadlineSeconds } : {}),
      }),
    );
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  for (const d of deployments)
    await kubectlOk(['rollout', 'status', `deployment/${d.name}`, '-n', ns, '--timeout=60s']);
  return ns;
}

function sidecarDeployment(ns: string, name: string, spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      ...spec,
      template: {
        metadata: {
          labels: { app: name },
          annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' },
        },
        spec: {
          containers: [
            { name: 'app', image: 'docker.io/library/nginx:1.27' },
            { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.28.0' },
          ],
        },
      },
    },
  };
}

test('a rollout that cannot progress times out with exit 124', async () => {
  const ns = await stuckNamespace('restart-stuck', [{ name: 'slow' }]);
  const r = await plugin(['restart', '--workloads-only', '-n', ns, '--timeout', '4s', '-o', 'json']);
  assert.equal(r.code, 124, r.stderr + r.stdout);
  const [slow] = json(r).workloads as Item[];
  assert.equal(slow.status, 'timeout');
  assert.match(slow.message, /^timed out: /);
});

test('a progress deadline fails one workload (exit 1) while the others are restarted', async () => {
  const stuck = await stuckNamespace('restart-deadline', [{ name: 'deadline', progressDeadlineSeconds: 2 }]);
  const healthy = await createNamespace('restart-healthy');
  extraNamespaces.push(healthy);
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(sidecarDeployment(healthy, 'ok')) });
  await kubectlOk(['rollout', 'status', 'deployment/ok', '-n', healthy, '--timeout=60s']);
  const r = await plugin([
    'restart',
    '--workloads-only',
    '-n',
    stuck,
    '-n',
    healthy,
    '--timeout',
    '90s',
    '--concurrency',
    '1',
  ]);
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, /deadline\s+failed\s+\S+\s+exceeded its progress deadline/);
  assert.match(r.stdout, /ok\s+restarted/);
  assert.match(r.stdout, /× 2 workload\(s\): 1 restarted, 1 failed/);
});

test('--no-wait patches and returns at once', async () => {
  const ns = await createNamespace('restart-nowait');
  extraNamespaces.push(ns);
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(sidecarDeployment(ns, 'web', { replicas: 2 })) });
  await kubectlOk(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
  const r = await plugin(['restart', '--workloads-only', '-n', ns, '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = json(r);
  assert.equal(out.wait, false);
  assert.deepEqual(
    out.workloads.map((i: Item) => i.status),
    ['patched'],
  );
  await kubectlOk(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
  const d = await kubectlJson<Obj>(['get', 'deployment', 'web', '-n', ns]);
  assert.equal(d.spec?.template?.metadata?.annotations?.[RESTARTED_AT], out.restartedAt);
});

test('teardown', async () => {
  if (mesh) await deleteFixtureMesh(mesh);
  for (const ns of extraNamespaces) await deleteNamespace(ns);
});
