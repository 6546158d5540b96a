/**
 * restart on a strict fake cluster with a clock that only moves when the code sleeps: which workloads are picked,
 * in which order, how many at once, and how failures, timeouts, --no-wait, --dry-run and -n come out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatchType } from '../../src/kube/client.js';
import { Resources, type Workload } from '../../src/kube/resources.js';
import { KubeApiError, KubeTransportError } from '../../src/kube/errors.js';
import { ExitCode } from '../../src/errors.js';
import { createStyle } from '../../src/output/style.js';
import {
  exitCodeOf,
  runRestart,
  type ProgressEvent,
  type RestartOptions,
  type RestartResult,
  type RolloutItem,
} from '../../src/restart/run.js';
import { toDocument } from '../../src/output/documents.js';
import { checkDocument } from './support/documents.js';
import { rolloutState, unrollable } from '../../src/restart/rollout.js';
import { MAX_OPEN_WATCHES } from '../../src/restart/watcher.js';
import { progressReporter, renderRestart } from '../../src/restart/render.js';
import {
  daemonSet,
  deployment,
  FakeClock,
  FakeKube,
  podsOf,
  RolloutSimulator,
  statefulSet,
  type RolloutSimulationOptions,
} from './support/fake-kube.js';
import { cli } from './support/run-cli.js';

const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const START = '2026-11-28T10:00:00.000Z';
/** What restart may do to a cluster: read pods and workloads, patch workloads. Anything else is unexpected. */
const ALLOW = [
  'list pods',
  ...['deployments', 'statefulsets', 'daemonsets'].flatMap((r) => [`list ${r}`, `watch ${r}`, `patch ${r}`]),
];

interface Mesh {
  kube: FakeKube;
  sim: RolloutSimulator;
  clock: FakeClock;
}

function add(kube: FakeKube, w: Workload, pods: Parameters<typeof podsOf>[1] = {}): void {
  const type =
    w.kind === 'StatefulSet'
      ? Resources.statefulsets
      : w.kind === 'DaemonSet'
        ? Resources.daemonsets
        : Resources.deployments;
  kube.seed(type, w);
  kube.seed(Resources.pods, ...podsOf(w, pods));
}

/**
 *   istio-system  istiod (2, no sidecar), istio-ingressgateway (proxy container), prometheus (no sidecar)
 *   shop          injection on: web (2, injected), db StatefulSet (2), agent DaemonSet (3), batch (opted out)
 *   payments      istio.io/rev: api (injected)
 *   manual        no label: tool with an istio-proxy container in its template (kube-inject), pods without the
 *                 annotation; and a bare sidecar pod nobody manages
 *   plain         legacy (no sidecar)
 */
function mesh(sim: Omit<RolloutSimulationOptions, 'clock'> = {}): Mesh {
  const clock = new FakeClock(START);
  const kube = new FakeKube({ allow: ALLOW, now: clock.now });
  add(kube, deployment('istio-system', 'istiod', { replicas: 2, labels: { app: 'istiod' } }));
  add(
    kube,
    deployment('istio-system', 'istio-ingressgateway', {
      templateSidecar: 'container',
      labels: { istio: 'ingressgateway' },
    }),
    { sidecar: 'annotation' },
  );
  add(kube, deployment('istio-system', 'prometheus'));
  add(kube, deployment('shop', 'web', { replicas: 2 }), { sidecar: 'annotation' });
  add(kube, statefulSet('shop', 'db', { replicas: 2 }), { sidecar: 'annotation' });
  add(kube, daemonSet('shop', 'agent', { replicas: 3 }), { sidecar: 'annotation' });
  add(kube, deployment('shop', 'batch', { templateAnnotations: { 'sidecar.istio.io/inject': 'false' } }));
  add(kube, deployment('payments', 'api'), { sidecar: 'annotation' });
  add(kube, deployment('manual', 'tool', { templateSidecar: 'container' }), { sidecar: 'container' });
  kube.seed(Resources.pods, {
    metadata: { name: 'debug', namespace: 'manual', annotations: { 'sidecar.istio.io/status': '{}' } },
  });
  add(kube, deployment('plain', 'legacy'));
  return { kube, sim: new RolloutSimulator(kube, { ...sim, clock }), clock };
}

const DEFAULTS: RestartOptions = {
  istioNamespace: 'istio-system',
  scope: 'all',
  concurrency: 4,
  timeoutMs: 300_000,
  wait: true,
  dryRun: 'none',
};

async function run(m: Mesh, opts: Partial<RestartOptions> = {}, events?: ProgressEvent[]): Promise<RestartResult> {
  const r = await runRestart(
    { ...DEFAULTS, ...opts },
    {
      client: m.kube,
      now: m.clock.now,
      sleep: m.clock.sleep,
      pollIntervalMs: 500,
      ...(events ? { progress: (e) => events.push(e) } : {}),
    },
  );
  m.kube.assertNoUnexpectedCalls();
  checkDocument(toDocument('RestartResult', r));
  return r;
}

const names = (items: RolloutItem[]) => items.map((i) => `${i.namespace}/${i.kind}/${i.name}`);
const find = (r: RestartResult, name: string) => [...r.controlPlane, ...r.workloads].find((i) => i.name === name)!;
const template = (m: Mesh, type: typeof Resources.deployments, ns: string, name: string) =>
  m.kube.object<Workload>(type, ns, name)!.spec!.template!.metadata!.annotations ?? {};

test('picks istiod and the gateway as control plane, and every workload whose pods carry a sidecar', async () => {
  const m = mesh();
  const r = await run(m);
  assert.deepEqual(names(r.controlPlane), [
    'istio-system/Deployment/istiod',
    'istio-system/Deployment/istio-ingressgateway',
  ]);
  assert.deepEqual(
    r.controlPlane.map((i) => i.role),
    ['istiod', 'gateway'],
  );
  assert.deepEqual(names(r.workloads), [
    'manual/Deployment/tool',
    'payments/Deployment/api',
    'shop/Deployment/web',
    'shop/StatefulSet/db',
    'shop/DaemonSet/agent',
  ]);
  assert.ok(r.workloads.every((i) => i.status === 'restarted' && i.role === 'workload'));
  assert.deepEqual(r.unmanagedPods, [{ namespace: 'manual', name: 'debug', owner: 'none' }]);
  assert.equal(exitCodeOf(r), ExitCode.ok);
});

test('a Deployment whose pods have no sidecar is not restarted, in a namespace with or without injection', async () => {
  const m = mesh();
  await run(m);
  for (const [ns, name] of [
    ['shop', 'batch'],
    ['plain', 'legacy'],
    ['istio-system', 'prometheus'],
  ] as const) {
    assert.equal(template(m, Resources.deployments, ns, name)[RESTARTED_AT], undefined, `${ns}/${name} untouched`);
    assert.equal(m.kube.writes({ namespace: ns, name }).length, 0);
  }
});

test('sidecars are recognised by the injection annotation on pods, by an istio-proxy container, or a native sidecar', async () => {
  const m = mesh();
  add(m.kube, deployment('native', 'svc', { templateSidecar: 'native' }), { sidecar: 'native' });
  const r = await run(m, { scope: 'workloads' });
  assert.ok(
    names(r.workloads).includes('native/Deployment/svc'),
    'istio-proxy as an init container (native sidecar) in the template',
  );
  assert.ok(
    names(r.workloads).includes('manual/Deployment/tool'),
    'istio-proxy container in the template, pods listed by metadata only',
  );
  assert.ok(names(r.workloads).includes('shop/Deployment/web'), 'annotation sidecar.istio.io/status on the pods');
});

test('patches the pod template like kubectl rollout restart: strategic merge of restartedAt = now', async () => {
  const m = mesh();
  const oldPods = new Set(m.kube.objects(Resources.pods, 'shop').map((p) => p.metadata.name));
  const r = await run(m);
  assert.equal(r.restartedAt, START);
  const patches = m.kube.callsWhere({ verb: 'patch' });
  assert.equal(patches.length, 7);
  for (const p of patches) {
    assert.equal(p.patchType, 'strategic');
    assert.equal(p.dryRun, false, 'a real restart sends no dryRun');
    assert.deepEqual(p.body, { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: START } } } } });
  }
  assert.equal(template(m, Resources.deployments, 'shop', 'web')[RESTARTED_AT], START);
  const webPods = m.kube.objects(Resources.pods, 'shop').filter((p) => p.metadata.name.startsWith('web-'));
  assert.equal(webPods.length, 2);
  assert.ok(
    webPods.every((p) => !oldPods.has(p.metadata.name)),
    'the rollout replaced the pods',
  );
});

test('the control plane goes first: istiod rolls out before the gateway starts, the gateway before any workload', async () => {
  const m = mesh();
  await run(m);
  const at = (e: string) => m.sim.events.indexOf(e);
  const istiodDone = at('complete Deployment/istio-system/istiod');
  const gatewayStart = at('start Deployment/istio-system/istio-ingressgateway');
  const gatewayDone = at('complete Deployment/istio-system/istio-ingressgateway');
  assert.ok(istiodDone >= 0 && istiodDone < gatewayStart, m.sim.events.join('\n'));
  const firstWorkload = m.sim.events.findIndex((e) => e.startsWith('start ') && !e.includes('/istio-system/'));
  assert.ok(gatewayDone < firstWorkload, m.sim.events.join('\n'));
});

test('never more rollouts in flight than --concurrency', async () => {
  for (const concurrency of [1, 3, 8]) {
    const m = mesh({ stepsToComplete: 3 });
    for (let i = 0; i < 20; i++) add(m.kube, deployment(`ns${i % 4}`, `app${i}`), { sidecar: 'annotation' });
    let patching = 0;
    let maxPatching = 0;
    m.kube.beforeCall(async (c) => {
      if (c.verb !== 'patch') return;
      patching++;
      maxPatching = Math.max(maxPatching, patching + m.sim.inProgress.size);
      await new Promise((res) => setImmediate(res));
      patching--;
    });
    const r = await run(m, { concurrency });
    assert.equal(r.summary.restarted, 27);
    assert.equal(m.sim.maxInProgress, concurrency, `rollouts at once with --concurrency ${concurrency}`);
    assert.ok(maxPatching <= concurrency, `patches plus rollouts in flight ${maxPatching} <= ${concurrency}`);
  }
});

test('failures are collected: a forbidden patch and a progress deadline leave every other workload restarted, exit 1', async () => {
  const m = mesh({ outcome: (w) => (w.metadata.name === 'api' ? 'progress-deadline' : 'complete') });
  m.kube.fail({ verb: 'patch', namespace: 'shop', name: 'web' }, 403, {
    message: 'deployments.apps "web" is forbidden',
  });
  const r = await run(m);
  const web = find(r, 'web');
  assert.equal(web.status, 'failed');
  assert.match(web.message, /forbidden: context fake may not patch deployments in namespace shop/);
  assert.match(web.hint ?? '', /grant "patch" on deployments in namespace shop/);
  const api = find(r, 'api');
  assert.equal(api.status, 'failed');
  assert.match(api.message, /exceeded its progress deadline/);
  assert.match(api.hint ?? '', /kubectl describe deployment\/api -n payments/);
  assert.deepEqual(
    r.workloads.filter((i) => i.status === 'restarted').map((i) => i.name),
    ['tool', 'db', 'agent'],
  );
  assert.equal(r.summary.failed, 2);
  assert.equal(exitCodeOf(r), ExitCode.failed);
  const text = renderRestart(r, createStyle(false));
  assert.match(text, /× 7 workload\(s\): 5 restarted, 2 failed/);
  assert.match(text, /hint for deployment\/web -n shop: grant "patch" on deployments in namespace shop/);
});

test('a rollout that does not finish within --timeout times out (exit 124) while the others finish', async () => {
  const m = mesh({ outcome: (w) => (w.kind === 'StatefulSet' ? 'stuck' : 'complete') });
  const r = await run(m, { timeoutMs: 30_000 });
  const db = find(r, 'db');
  assert.equal(db.status, 'timeout');
  assert.match(db.message, /^timed out: waiting for the StatefulSet controller to observe the restart/);
  assert.ok(db.durationMs! >= 30_000 && db.durationMs! <= 31_000, `waited ${db.durationMs} ms`);
  assert.equal(r.summary.timeout, 1);
  assert.equal(r.summary.restarted, 6);
  assert.equal(exitCodeOf(r), ExitCode.timeout);
});

test('a failure outranks a timeout in the exit code', async () => {
  const m = mesh({ outcome: (w) => (w.kind === 'StatefulSet' ? 'stuck' : 'complete') });
  m.kube.fail({ verb: 'patch', name: 'agent' }, 500);
  const r = await run(m, { timeoutMs: 10_000 });
  assert.equal(exitCodeOf(r), ExitCode.failed);
});

test('when istiod does not roll out, nothing else is restarted and every workload says why', async () => {
  const m = mesh({ outcome: (w) => (w.metadata.name === 'istiod' ? 'stuck' : 'complete') });
  const r = await run(m, { timeoutMs: 20_000 });
  assert.equal(find(r, 'istiod').status, 'timeout');
  assert.ok(
    [...r.controlPlane.slice(1), ...r.workloads].every(
      (i) => i.status === 'skipped' && /istiod did not roll out/.test(i.message),
    ),
  );
  assert.equal(m.kube.callsWhere({ verb: 'patch' }).length, 1);
  assert.equal(exitCodeOf(r), ExitCode.timeout);
});

test('--no-wait patches every workload in order and reads none of them back', async () => {
  const m = mesh();
  const r = await run(m, { wait: false });
  assert.ok([...r.controlPlane, ...r.workloads].every((i) => i.status === 'patched'));
  assert.equal(r.wait, false);
  const firstPatch = m.kube.calls.findIndex((c) => c.verb === 'patch');
  assert.deepEqual(
    m.kube.calls.slice(firstPatch).map((c) => c.verb),
    Array(7).fill('patch'),
  );
  assert.equal(exitCodeOf(r), ExitCode.ok);
});

test('--dry-run=server sends every patch with dryRun, changes nothing and waits for nothing', async () => {
  const m = mesh();
  const before = [Resources.deployments, Resources.statefulsets, Resources.daemonsets, Resources.pods].flatMap((t) =>
    m.kube.objects(t),
  );
  const r = await run(m, { dryRun: 'server' });
  const patches = m.kube.callsWhere({ verb: 'patch' });
  assert.equal(patches.length, 7);
  assert.ok(patches.every((p) => p.dryRun));
  assert.deepEqual(
    [Resources.deployments, Resources.statefulsets, Resources.daemonsets, Resources.pods].flatMap((t) =>
      m.kube.objects(t),
    ),
    before,
  );
  assert.ok([...r.controlPlane, ...r.workloads].every((i) => i.status === 'dry-run'));
  assert.equal(m.sim.events.length, 0);
  assert.equal(r.dryRun, 'server');
  assert.match(renderRestart(r, createStyle(false)), /7 would restart \(server dry run; nothing changed\)/);
});

test('--dry-run=client lists what would restart and sends no patch at all', async () => {
  const m = mesh();
  const r = await run(m, { dryRun: 'client' });
  assert.equal(m.kube.callsWhere({ verb: 'patch' }).length, 0);
  assert.ok(
    m.kube.calls.every((c) => c.verb === 'list' || c.verb === 'get'),
    'only reads',
  );
  assert.equal(r.summary.dryRun, 7);
  assert.equal(r.dryRun, 'client');
  assert.equal(r.wait, false);
  assert.match(
    renderRestart(r, createStyle(false)),
    /7 would restart \(client dry run: nothing sent; nothing changed\)/,
  );
});

test('--dry-run reports a forbidden patch as the real run would, and still tries the rest', async () => {
  const m = mesh();
  m.kube.fail({ verb: 'patch', resource: 'deployments', namespace: 'istio-system' }, 403);
  const r = await run(m, { dryRun: 'server' });
  assert.equal(find(r, 'istiod').status, 'failed');
  assert.equal(r.summary.dryRun, 5);
});

test('-n limits workloads to those namespaces and lists only there; the control plane is still restarted', async () => {
  const m = mesh();
  const r = await run(m, { namespaces: ['shop'] });
  assert.deepEqual(names(r.workloads), ['shop/Deployment/web', 'shop/StatefulSet/db', 'shop/DaemonSet/agent']);
  assert.equal(r.controlPlane.length, 2);
  assert.deepEqual(r.unmanagedPods, []);
  const lists = m.kube.callsWhere({ verb: 'list' });
  assert.ok(
    lists.every((c) => c.namespace === 'shop' || c.namespace === 'istio-system'),
    'no cluster-wide list',
  );
  assert.equal(template(m, Resources.deployments, 'payments', 'api')[RESTARTED_AT], undefined);
});

test('--control-plane-only and --workloads-only split the work between them', async () => {
  const cp = mesh();
  const a = await run(cp, { scope: 'control-plane' });
  assert.deepEqual(names(a.controlPlane), [
    'istio-system/Deployment/istiod',
    'istio-system/Deployment/istio-ingressgateway',
  ]);
  assert.deepEqual(a.workloads, []);
  assert.ok(cp.kube.callsWhere({ verb: 'list' }).every((c) => c.namespace === 'istio-system'));
  const wl = mesh();
  const b = await run(wl, { scope: 'workloads' });
  assert.deepEqual(b.controlPlane, []);
  assert.equal(b.workloads.length, 5);
  assert.equal(wl.kube.writes({ namespace: 'istio-system' }).length, 0);
});

test('an OnDelete StatefulSet and a paused Deployment are reported as failed with a hint, and not patched', async () => {
  const m = mesh();
  add(m.kube, statefulSet('shop', 'legacy-db', { updateStrategy: 'OnDelete' }), { sidecar: 'annotation' });
  add(m.kube, deployment('shop', 'frozen', { paused: true }), { sidecar: 'annotation' });
  const r = await run(m);
  const db = find(r, 'legacy-db');
  assert.equal(db.status, 'failed');
  assert.match(db.message, /OnDelete/);
  assert.match(db.hint!, /kubectl delete pod -n shop -l app=legacy-db/);
  const frozen = find(r, 'frozen');
  assert.equal(frozen.status, 'failed');
  assert.match(frozen.hint!, /kubectl rollout resume deployment\/frozen -n shop/);
  assert.equal(m.kube.writes({ name: 'legacy-db' }).length + m.kube.writes({ name: 'frozen' }).length, 0);
  assert.equal(r.summary.restarted, 7);
});

test('no istiod in the Istio namespace: refuses before restarting anything', async () => {
  const m = mesh();
  await assert.rejects(
    run(m, { istioNamespace: 'istio-other' }),
    /no istiod Deployment \(label app=istiod\) in namespace istio-other; nothing was restarted/,
  );
  assert.equal(m.kube.writes().length, 0);
});

test('a forbidden list during discovery fails the command with the verb, resource and scope', async () => {
  const m = mesh();
  m.kube.fail({ verb: 'list', resource: 'pods' }, 403);
  await assert.rejects(
    run(m),
    (e: unknown) =>
      e instanceof KubeApiError && e.verb === 'list' && e.resource === 'pods' && e.namespace === undefined,
  );
});

test('a workload deleted during its rollout fails; a refused watch is retried until the rollout completes', async () => {
  const m = mesh({ stepsToComplete: 3 });
  m.kube.onWrite((_type, stored) => {
    if (stored.metadata.name === 'api') queueMicrotask(() => m.kube.remove(Resources.deployments, 'payments', 'api'));
  });
  m.kube.fail({ verb: 'watch', resource: 'daemonsets' }, 503, { times: 2 });
  const r = await run(m);
  assert.equal(find(r, 'api').status, 'failed');
  assert.match(find(r, 'api').message, /deleted during the rollout/);
  assert.equal(find(r, 'agent').status, 'restarted');
  assert.equal(m.kube.callsWhere({ verb: 'watch', resource: 'daemonsets' }).length, 3, 'two refused, one served');
});

test('waiting costs one watch per workload kind: every request is discovery, a patch or a watch', async () => {
  const m = mesh({ stepsToComplete: 2 });
  for (let i = 0; i < 60; i++) add(m.kube, deployment(`team${i % 3}`, `svc${i}`), { sidecar: 'annotation' });
  const r = await run(m, { scope: 'workloads', concurrency: 60 });
  assert.equal(r.summary.restarted, 65);
  const patches = m.kube.callsWhere({ verb: 'patch' }).length;
  const watches = m.kube.callsWhere({ verb: 'watch' });
  assert.deepEqual(watches.map((c) => `${c.resource} ${c.namespace ?? '(all)'}`).sort(), [
    'daemonsets (all)',
    'deployments (all)',
    'statefulsets (all)',
  ]);
  const lists = m.kube.callsWhere({ verb: 'list' });
  assert.ok(
    lists.every((c) => c.seq < watches[0].seq),
    'no list after the watches start: they start from discovery',
  );
  assert.equal(r.summary.apiRequests, 4 + patches + watches.length, 'pods + 3 workload lists, patches, 3 watches');
  assert.ok(
    watches.every((c) => c.watch?.allowWatchBookmarks === true && c.watch.resourceVersion !== ''),
    'bookmarks asked for; watched from the list',
  );
});

test('with -n the watches are per namespace, one per kind and namespace, never cluster-wide', async () => {
  const m = mesh();
  const r = await run(m, { namespaces: ['shop'] });
  assert.equal(r.summary.restarted, 5);
  assert.deepEqual(
    m.kube
      .callsWhere({ verb: 'watch' })
      .map((c) => `${c.resource} ${c.namespace ?? '(all)'}`)
      .sort(),
    ['daemonsets shop', 'deployments istio-system', 'deployments shop', 'statefulsets shop'],
  );
});

test('with -n across many namespaces, watches no wait needs are closed: never more open than MAX_OPEN_WATCHES', async () => {
  const m = mesh();
  const namespaces = Array.from({ length: 30 }, (_, i) => `many${i}`);
  for (const ns of namespaces) add(m.kube, deployment(ns, 'svc'), { sidecar: 'annotation' });
  let most = 0;
  m.kube.beforeCall(() => void (most = Math.max(most, m.kube.liveWatches().length)));
  const r = await run(m, { namespaces, scope: 'workloads', concurrency: 3 });
  assert.equal(r.summary.restarted, 30);
  assert.ok(most <= MAX_OPEN_WATCHES, `${most} watches open at once`);
  assert.equal(m.kube.liveWatches().length, 0, 'all closed at the end');
});

test('a watch that never delivers the restart never counts the old, rolled-out copy as restarted', async () => {
  const m = mesh();
  // Every Deployment watch after the first breaks before it delivers anything, and the first breaks at once.
  m.kube.beforeCall((c) => {
    if (c.verb === 'patch' && c.resource === 'deployments')
      queueMicrotask(() => m.kube.breakWatches(Resources.deployments));
  });
  m.kube.failWith({ verb: 'watch', resource: 'deployments' }, () => new KubeTransportError('connection refused'), 1000);
  m.kube.breakWatches(Resources.deployments);
  const r = await run(m, { scope: 'control-plane', timeoutMs: 20_000 });
  const istiod = find(r, 'istiod');
  assert.equal(istiod.status, 'timeout', 'its listed copy is rolled out, but of the generation before the restart');
  assert.match(istiod.message, /^timed out: last read failed: .*connection refused/);
});

test('the result is stable JSON: control plane, workloads, unmanaged pods and a summary', async () => {
  const m = mesh();
  const r = JSON.parse(JSON.stringify(await run(m, { namespaces: ['payments'] })));
  assert.deepEqual(Object.keys(r), [
    'context',
    'istioNamespace',
    'namespaces',
    'restartedAt',
    'dryRun',
    'wait',
    'controlPlane',
    'workloads',
    'unmanagedPods',
    'summary',
  ]);
  assert.deepEqual(r.workloads, [
    {
      namespace: 'payments',
      kind: 'Deployment',
      name: 'api',
      role: 'workload',
      status: 'restarted',
      message: '1 of 1 replicas updated and available',
      hint: null,
      pods: 1,
      startedAt: r.workloads[0].startedAt,
      finishedAt: r.workloads[0].finishedAt,
      durationMs: 1000,
    },
  ]);
  assert.equal(r.workloads[0].startedAt, '2026-11-28T10:00:02.000Z', 'after istiod (1 s) and the gateway (1 s)');
  assert.equal(r.summary.total, 3);
  assert.deepEqual(Object.keys(r.summary), [
    'total',
    'restarted',
    'patched',
    'dryRun',
    'failed',
    'timeout',
    'skipped',
    'durationMs',
    'apiRequests',
  ]);
  assert.deepEqual(
    { ...r.summary, apiRequests: 0 },
    {
      total: 3,
      restarted: 3,
      patched: 0,
      dryRun: 0,
      failed: 0,
      timeout: 0,
      skipped: 0,
      durationMs: 3000,
      apiRequests: 0,
    },
  );
  assert.equal(r.namespaces[0], 'payments');
});

test('the table has one row per workload, then the totals', async () => {
  const m = mesh();
  const text = renderRestart(await run(m, { namespaces: ['payments'] }), createStyle(false));
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0], /^NAMESPACE\s+KIND\s+NAME\s+STATUS\s+DURATION\s+MESSAGE$/);
  assert.match(
    lines[1],
    /^istio-system\s+Deployment\s+istiod\s+restarted\s+1\.0s\s+2 of 2 replicas updated and available$/,
  );
  assert.match(lines[3], /^payments\s+Deployment\s+api\s+restarted/);
  assert.match(
    lines[4],
    /^√ 3 workload\(s\): 3 restarted in 3\.0s, \d+ API requests \(control plane 2, workloads 1\)$/,
  );
});

test('progress: one line per finished workload off a terminal, one redrawn line on it', async () => {
  const events: ProgressEvent[] = [];
  const m = mesh({ outcome: (w) => (w.metadata.name === 'api' ? 'progress-deadline' : 'complete') });
  await run(m, {}, events);
  let plain = '';
  const p = progressReporter({ write: (t) => (plain += t) }, false, createStyle(false));
  events.forEach(p.onEvent);
  p.end();
  const lines = plain.trimEnd().split('\n');
  assert.equal(lines.length, 7);
  assert.match(lines[0], /^√ deployment\/istiod -n istio-system: restarted \(1\.0s\)$/);
  assert.ok(
    lines.includes(
      '× deployment/api -n payments: failed (1.0s): exceeded its progress deadline: ReplicaSet "api-' +
        lines.find((l) => l.includes('api-'))!.split('"api-')[1],
    ),
  );
  let tty = '';
  const q = progressReporter({ write: (t) => (tty += t) }, true, createStyle(false));
  q.start();
  events.forEach(q.onEvent);
  q.end();
  assert.ok(!tty.includes('\n'), 'never scrolls');
  assert.match(tty, /\r\u001b\[2Krestarting: 7\/7 done, 0 in progress, 1 failed\r\u001b\[2K$/);
  assert.match(
    tty,
    /^restarting: finding workloads with a sidecar…\r\u001b\[2Krestarting: 0\/7 done, 0 in progress, 0 failed/,
  );
  assert.match(tty, /restarting: 0\/7 done, 1 in progress, 0 failed/);
});

test('rollout status follows kubectl for each kind', () => {
  const d = deployment('ns', 'd', { replicas: 3 });
  d.metadata.generation = 2;
  assert.equal(rolloutState('Deployment', d).phase, 'waiting', 'generation not yet observed');
  d.status = { ...d.status, observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 };
  assert.deepEqual(rolloutState('Deployment', d), { phase: 'waiting', message: '1 old replicas pending termination' });
  d.status = { ...d.status, replicas: 3, availableReplicas: 2 };
  assert.deepEqual(rolloutState('Deployment', d), { phase: 'waiting', message: '2 of 3 updated replicas available' });
  d.status = { ...d.status, availableReplicas: 3 };
  assert.equal(rolloutState('Deployment', d).phase, 'done');

  const s = statefulSet('ns', 's', { replicas: 2 });
  // kubectl compares revisions only when updateStrategy has no rollingUpdate block; with one (the API server's
  // default) a rollout is complete once every pod above the partition is updated and all are ready.
  s.status = { ...s.status, updateRevision: 's-new' };
  assert.equal(rolloutState('StatefulSet', s).phase, 'done', 'rollingUpdate present: revisions are not compared');
  (s.spec as { updateStrategy: unknown }).updateStrategy = { type: 'RollingUpdate' };
  assert.equal(rolloutState('StatefulSet', s).phase, 'waiting', 'no rollingUpdate block: revisions differ');
  s.status = { ...s.status, currentRevision: 's-new' };
  assert.equal(rolloutState('StatefulSet', s).phase, 'done');
  (s.spec as { updateStrategy: unknown }).updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 1 } };
  s.status = { ...s.status, currentRevision: 's-old', updatedReplicas: 1 };
  assert.equal(
    rolloutState('StatefulSet', s).phase,
    'done',
    'a partitioned rollout is done once the pods above the partition are updated',
  );

  const ds = daemonSet('ns', 'ds', { replicas: 3 });
  ds.status = { ...ds.status, updatedNumberScheduled: 2 };
  assert.deepEqual(rolloutState('DaemonSet', ds), { phase: 'waiting', message: '2 of 3 pods updated' });
  assert.equal(
    unrollable('DaemonSet', daemonSet('ns', 'x', { updateStrategy: 'OnDelete' }))?.message.includes('OnDelete'),
    true,
  );
  assert.equal(unrollable('DaemonSet', ds), null);
});

test('restart refuses bad flags with exit 2 before connecting', async () => {
  const cases: [string[], RegExp][] = [
    [['--control-plane-only', '--workloads-only'], /exclude each other/],
    [['--concurrency', '0'], /--concurrency "0" is not a whole number from 1 to 1000/],
    [['--qps', '-1'], /--qps "-1" is not a number above 0/],
    [['--burst', '1.5'], /--burst "1.5" is not a whole number/],
    [['--timeout', 'soon'], /--timeout "soon" is not a duration/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(['restart', ...args, '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

test('restart --help documents every flag and its default', async () => {
  const r = await cli(['restart', '--help']);
  assert.equal(r.code, 0);
  for (const flag of [
    '--control-plane-only',
    '--workloads-only',
    '--namespace',
    '--concurrency',
    '--timeout',
    '--wait',
    '--dry-run',
    '--qps',
    '--burst',
  ])
    assert.ok(r.stdout.includes(flag), flag);
  assert.match(r.stdout, /\[default: 10\]/);
  assert.match(r.stdout, /\[default: 5m\]/);
  assert.match(r.stdout, /\[default: 50\]/);
  assert.match(r.stdout, /\[default: 100\]/);
});

/**
 * The fake behind a plain-HTTP API server, so the real CLI path (kubeconfig, HttpKubeClient, rate limiter,
 * renderer) runs against it. Serves get, list and patch of the types restart uses; records arrival times.
 */
async function serve(kube: FakeKube): Promise<{ url: string; arrivals: number[]; close(): Promise<void> }> {
  const arrivals: number[] = [];
  const types = Object.values(Resources);
  const route = /^\/(?:api\/v1|apis\/apps\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/;
  const patchTypes: Record<string, PatchType> = {
    'application/strategic-merge-patch+json': 'strategic',
    'application/merge-patch+json': 'merge',
    'application/json-patch+json': 'json',
  };
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    arrivals.push(performance.now());
    const url = new URL(req.url!, 'http://x');
    const m = url.pathname.match(route);
    const type = types.find((t) => t.plural === m?.[2]);
    if (!m || !type) {
      reply(res, 404, { reason: 'NotFound', message: `no route ${url.pathname}` });
      return;
    }
    const ns = m[1] ? decodeURIComponent(m[1]) : undefined;
    const name = m[3] ? decodeURIComponent(m[3]) : undefined;
    let body = '';
    for await (const chunk of req) body += String(chunk);
    try {
      if (req.method === 'GET' && name) {
        const o = await kube.get(type, ns, name);
        if (o) reply(res, 200, o);
        else reply(res, 404, { reason: 'NotFound', message: `${name} not found` });
        return;
      }
      if (req.method === 'GET') {
        const q = url.searchParams;
        const items = await kube.list(type, {
          ...(ns ? { namespace: ns } : {}),
          ...(q.get('labelSelector') ? { labelSelector: q.get('labelSelector')! } : {}),
          metadataOnly: String(req.headers.accept).includes('PartialObjectMetadataList'),
        });
        reply(res, 200, { items, metadata: {} });
        return;
      }
      if (req.method === 'PATCH' && name) {
        const o = await kube.patch(type, ns, name, JSON.parse(body), patchTypes[String(req.headers['content-type'])], {
          dryRun: url.searchParams.get('dryRun') === 'All',
        });
        reply(res, 200, o);
        return;
      }
      reply(res, 405, { reason: 'MethodNotAllowed', message: `${req.method} ${url.pathname}` });
      return;
    } catch (e) {
      const err = e as KubeApiError;
      reply(res, err instanceof KubeApiError ? err.status : 500, {
        reason: err.reason ?? 'InternalError',
        message: err.apiMessage ?? String(e),
      });
      return;
    }
  };
  const server = createServer((req, res) => {
    void serve(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    arrivals,
    close: () =>
      new Promise((r) =>
        server.close(() => {
          r();
        }),
      ),
  };
}

test('through the CLI: --qps and --burst bound the request rate; stdout holds only the JSON result', async () => {
  const m = mesh();
  for (let i = 0; i < 40; i++) add(m.kube, deployment(`bench${i % 8}`, `svc${i}`), { sidecar: 'annotation' });
  const api = await serve(m.kube);
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-restart-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'bench',
        clusters: [{ name: 'c', cluster: { server: api.url } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'bench', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const qps = 40;
    const burst = 4;
    const r = await cli([
      'restart',
      '--kubeconfig',
      kubeconfig,
      '--qps',
      String(qps),
      '--burst',
      String(burst),
      '--concurrency',
      '32',
      '--no-wait',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.summary.patched, 47);
    assert.equal(out.context, 'bench');
    assert.equal(r.stderr.trimEnd().split('\n').length, 47, 'one progress line per workload on stderr');
    const t = api.arrivals;
    assert.equal(t.length, out.summary.apiRequests);
    // Token bucket: n requests span at least (n - burst) / qps seconds. Measured over the whole run: a loaded
    // machine can delay an early request on its way to the server and bunch arrivals in a short window, but it
    // cannot make the last request leave before its token; 25 ms of slack for timers.
    assert.ok(
      t[t.length - 1] - t[0] >= ((t.length - burst) / qps) * 1000 - 25,
      `${t.length} requests in ${(t[t.length - 1] - t[0]).toFixed(0)} ms`,
    );
    m.kube.assertNoUnexpectedCalls();
  } finally {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});
