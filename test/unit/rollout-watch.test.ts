/**
 * Rollout waits ride out what a watch does on a real API server, on the strict fake: a stream that breaks, a 410 Gone
 * when the re-watch comes too late, a stream of bookmarks only, a server that ends the watch. Each ends in the verdict
 * `kubectl rollout status` would give, with the requests it should cost and no more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources, type Workload } from '../../src/kube/resources.js';
import { runRestart, type RestartResult } from '../../src/restart/run.js';
import {
  deployment,
  FakeClock,
  FakeKube,
  podsOf,
  RolloutSimulator,
  statefulSet,
  type RolloutSimulationOptions,
} from './support/fake-kube.js';

const ALLOW = [
  'list pods',
  ...['deployments', 'statefulsets', 'daemonsets'].flatMap((r) => [`list ${r}`, `watch ${r}`, `patch ${r}`]),
];

function cluster(opts: { goneAs?: 'event' | 'http'; sim?: Omit<RolloutSimulationOptions, 'clock'> } = {}) {
  const clock = new FakeClock('2026-11-28T10:00:00Z');
  const kube = new FakeKube({ allow: ALLOW, now: clock.now, ...(opts.goneAs ? { goneAs: opts.goneAs } : {}) });
  const sim = new RolloutSimulator(kube, { stepsToComplete: 4, ...opts.sim, clock });
  const add = (w: Workload) => {
    kube.seed(w.kind === 'StatefulSet' ? Resources.statefulsets : Resources.deployments, w);
    kube.seed(Resources.pods, ...podsOf(w, { sidecar: 'annotation' }));
  };
  add(deployment('shop', 'web', { replicas: 2 }));
  return { clock, kube, sim, add };
}

async function restart(c: ReturnType<typeof cluster>, timeoutMs = 60_000): Promise<RestartResult> {
  const r = await runRestart(
    { istioNamespace: 'istio-system', scope: 'workloads', concurrency: 4, timeoutMs, wait: true, dryRun: 'none' },
    { client: c.kube, now: c.clock.now, sleep: c.clock.sleep, pollIntervalMs: 500 },
  );
  c.kube.assertNoUnexpectedCalls();
  return r;
}

/** A change elsewhere in the cluster: the resourceVersion moves on, and a Deployment watch sees no event for it. */
function elsewhere(c: ReturnType<typeof cluster>): void {
  c.kube.seed(Resources.pods, { metadata: { name: `other-${c.clock.now().getTime()}`, namespace: 'elsewhere' } });
}

/** Runs fn once, the first time the clock reaches `afterMs` past the start. */
function at(c: ReturnType<typeof cluster>, afterMs: number, fn: () => void): void {
  const start = c.clock.now().getTime();
  let done = false;
  c.clock.onAdvance((now) => {
    if (!done && now - start >= afterMs) {
      done = true;
      fn();
    }
  });
}

const watches = (c: ReturnType<typeof cluster>, resource = 'deployments') =>
  c.kube.callsWhere({ verb: 'watch', resource });
const listsAfterFirstWatch = (c: ReturnType<typeof cluster>, resource = 'deployments') =>
  c.kube.callsWhere({ verb: 'list', resource }).filter((l) => l.seq > watches(c, resource)[0].seq);

test('a watch that drops mid-rollout is resumed from the last resourceVersion; the completion it missed is replayed', async () => {
  const c = cluster();
  // The connection breaks at 1 s, before the rollout completes at 2 s; the backoff (0.8-1.6 s) spans the completion.
  at(c, 1000, () => {
    assert.equal(c.kube.breakWatches(Resources.deployments), 1);
  });
  const r = await restart(c);
  const web = r.workloads[0];
  assert.equal(web.status, 'restarted', web.message);
  assert.equal(web.message, '2 of 2 replicas updated and available');
  const [first, second, ...rest] = watches(c);
  assert.equal(rest.length, 0, 'one reconnect');
  assert.ok(
    Number(second.watch!.resourceVersion) > Number(first.watch!.resourceVersion),
    `resumed from the restart's event (${second.watch!.resourceVersion}), not from the list (${first.watch!.resourceVersion})`,
  );
  assert.equal(listsAfterFirstWatch(c).length, 0, 'no re-list: the history covered the gap');
  assert.ok(web.durationMs! >= 2000, `done when the controller was, or later: ${web.durationMs} ms`);
});

for (const goneAs of ['event', 'http'] as const) {
  test(`a 410 Gone on re-watch (${goneAs === 'event' ? 'an ERROR event in the stream' : 'an HTTP 410'}) re-lists, and the re-list shows the rollout complete`, async () => {
    const c = cluster({ goneAs });
    at(c, 1000, () => {
      c.kube.breakWatches(Resources.deployments);
      elsewhere(c);
      c.kube.compact(); // the history before now is gone: the re-watch is too late
    });
    const r = await restart(c);
    const web = r.workloads[0];
    assert.equal(web.status, 'restarted', web.message);
    assert.equal(listsAfterFirstWatch(c).length, 1, 'one re-list');
    const [relist] = listsAfterFirstWatch(c);
    const after = watches(c).filter((w) => w.seq > relist.seq);
    assert.equal(after.length, 1, 'watching again after the re-list');
    assert.equal(r.summary.apiRequests, 2 + 1 + 3 + 1, 'discovery (pods, deployments), patch, 3 watches, 1 re-list');
  });
}

test('a stream of bookmarks only: a stuck rollout times out at its deadline, with no re-list and no reconnect', async () => {
  const c = cluster({ sim: { outcome: (w) => (w.kind === 'StatefulSet' ? 'stuck' : 'complete') } });
  c.kube.remove(Resources.deployments, 'shop', 'web');
  c.add(statefulSet('shop', 'db', { replicas: 2 }));
  c.clock.onAdvance(() => c.kube.bookmark());
  const r = await restart(c, 30_000);
  const db = r.workloads.find((i) => i.name === 'db')!;
  assert.equal(db.status, 'timeout');
  assert.equal(db.message, 'timed out: waiting for the StatefulSet controller to observe the restart');
  assert.ok(db.durationMs! >= 30_000 && db.durationMs! <= 30_500, `${db.durationMs} ms`);
  assert.equal(watches(c, 'statefulsets').length, 1);
  assert.equal(listsAfterFirstWatch(c, 'statefulsets').length, 0);
});

test('bookmarks keep the resourceVersion fresh: after the server ends a quiet watch, the re-watch needs no re-list', async () => {
  const c = cluster({ sim: { stepsToComplete: 8 } });
  c.clock.onAdvance(() => {
    elsewhere(c);
    c.kube.bookmark(Resources.deployments);
  });
  // At 2 s: the server ends the watch (its timeoutSeconds) and the history up to now is compacted away. Only a
  // client that moved its resourceVersion on with the bookmarks can resume without a 410.
  at(c, 2000, () => {
    c.kube.compact();
    assert.equal(c.kube.closeWatches(Resources.deployments), 1);
  });
  const r = await restart(c);
  assert.equal(r.workloads[0].status, 'restarted', r.workloads[0].message);
  assert.equal(watches(c).length, 2);
  assert.equal(listsAfterFirstWatch(c).length, 0, 'resumed from the last bookmark');
});

test('without bookmarks the same compaction costs a re-list, and still ends restarted', async () => {
  const c = cluster({ sim: { stepsToComplete: 8 } });
  c.clock.onAdvance(() => {
    elsewhere(c);
  });
  at(c, 2000, () => {
    c.kube.compact();
    c.kube.closeWatches(Resources.deployments);
  });
  const r = await restart(c);
  assert.equal(r.workloads[0].status, 'restarted');
  assert.equal(listsAfterFirstWatch(c).length, 1);
});

test('a forbidden watch fails the waits it serves with the verb, resource and a hint; it is not retried', async () => {
  const c = cluster();
  c.kube.fail({ verb: 'watch', resource: 'deployments' }, 403, { message: 'deployments.apps is forbidden' });
  const r = await restart(c);
  const web = r.workloads[0];
  assert.equal(web.status, 'failed');
  assert.match(
    web.message,
    /^cannot watch the rollout: forbidden: context fake may not watch deployments cluster-wide/,
  );
  assert.match(web.hint ?? '', /grant "watch" on deployments cluster-wide/);
  assert.equal(watches(c).length, 1);
});

test('a StatefulSet with a partition is not counted as restarted: the pods below the partition are named', async () => {
  const c = cluster();
  const db = statefulSet('shop', 'db', { replicas: 4 });
  (db.spec as { updateStrategy: unknown }).updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
  c.add(db);
  const r = await restart(c);
  const item = r.workloads.find((i) => i.name === 'db')!;
  assert.equal(item.status, 'failed');
  assert.deepEqual(item.oldPods, ['db-0', 'db-1']);
  assert.match(item.message, /^not fully restarted: rollingUpdate\.partition 2 keeps 2 pod\(s\) .*: db-0, db-1$/);
  assert.match(item.hint ?? '', /kubectl delete pod -n shop db-0 db-1/);
  assert.equal(r.summary.restarted, 1, 'web only');
  assert.equal(r.workloads.find((i) => i.name === 'web')!.oldPods, undefined);
});

test('an OnDelete StatefulSet is not restarted and names every pod left on its old certificates', async () => {
  const c = cluster();
  c.add(statefulSet('shop', 'legacy', { replicas: 3, updateStrategy: 'OnDelete' }));
  const r = await restart(c);
  const item = r.workloads.find((i) => i.name === 'legacy')!;
  assert.equal(item.status, 'failed');
  assert.deepEqual(item.oldPods, ['legacy-0', 'legacy-1', 'legacy-2']);
  assert.match(item.message, /3 pod\(s\) keep their old certificates: legacy-0, legacy-1, legacy-2$/);
  assert.equal(c.kube.writes({ name: 'legacy' }).length, 0);
});
