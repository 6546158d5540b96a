/**
 * Differential: restart judges a rollout as `kubectl rollout status` does. The real kubectl (the test cluster's
 * build) reads each workload from a small local API server that serves exactly one object in a given state; its
 * verdict (exit 1 = error, "successfully rolled out" / "roll out complete" / "rolling update complete" = done, else
 * still waiting) must equal rolloutState's phase for every state in the table. No cluster is needed, only kubectl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Workload } from '../../src/kube/resources.js';
import { rolloutState, type WorkloadKind } from '../../src/restart/rollout.js';
import { kubectl } from './support/cluster.js';

const PLURAL: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

interface Case {
  name: string;
  kind: WorkloadKind;
  generation?: number;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

const progressing = (reason: string) => ({
  conditions: [{ type: 'Progressing', status: reason === 'ProgressDeadlineExceeded' ? 'False' : 'True', reason }],
});
const rolling = (partition?: number) => ({
  type: 'RollingUpdate',
  rollingUpdate: partition === undefined ? {} : { partition },
});

const CASES: Case[] = [
  // Deployments
  {
    name: 'deploy-done',
    kind: 'Deployment',
    generation: 2,
    spec: { replicas: 3 },
    status: {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      ...progressing('NewReplicaSetAvailable'),
    },
  },
  {
    name: 'deploy-unobserved',
    kind: 'Deployment',
    generation: 3,
    spec: { replicas: 3 },
    status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
  },
  {
    name: 'deploy-updating',
    kind: 'Deployment',
    generation: 2,
    spec: { replicas: 3 },
    status: { observedGeneration: 2, replicas: 4, updatedReplicas: 2, availableReplicas: 3 },
  },
  {
    name: 'deploy-old-terminating',
    kind: 'Deployment',
    generation: 2,
    spec: { replicas: 3 },
    status: { observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 },
  },
  {
    name: 'deploy-unavailable',
    kind: 'Deployment',
    generation: 2,
    spec: { replicas: 3 },
    status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 },
  },
  {
    name: 'deploy-deadline',
    kind: 'Deployment',
    generation: 2,
    spec: { replicas: 3 },
    status: {
      observedGeneration: 2,
      replicas: 4,
      updatedReplicas: 1,
      availableReplicas: 3,
      ...progressing('ProgressDeadlineExceeded'),
    },
  },
  {
    name: 'deploy-deadline-unobserved',
    kind: 'Deployment',
    generation: 3,
    spec: { replicas: 3 },
    status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, ...progressing('ProgressDeadlineExceeded') },
  },
  { name: 'deploy-zero', kind: 'Deployment', generation: 1, spec: { replicas: 0 }, status: { observedGeneration: 1 } },
  // StatefulSets
  {
    name: 'sts-partition0-revisions-differ',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 2, updateStrategy: rolling(0) },
    status: {
      observedGeneration: 2,
      replicas: 2,
      readyReplicas: 2,
      updatedReplicas: 2,
      currentRevision: 'a',
      updateRevision: 'b',
    },
  },
  {
    name: 'sts-no-rollingupdate-revisions-differ',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 2, updateStrategy: { type: 'RollingUpdate' } },
    status: {
      observedGeneration: 2,
      replicas: 2,
      readyReplicas: 2,
      updatedReplicas: 2,
      currentRevision: 'a',
      updateRevision: 'b',
    },
  },
  {
    name: 'sts-no-rollingupdate-done',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 2, updateStrategy: { type: 'RollingUpdate' } },
    status: {
      observedGeneration: 2,
      replicas: 2,
      readyReplicas: 2,
      updatedReplicas: 2,
      currentReplicas: 2,
      currentRevision: 'b',
      updateRevision: 'b',
    },
  },
  {
    name: 'sts-never-observed',
    kind: 'StatefulSet',
    generation: 1,
    spec: { replicas: 2, updateStrategy: rolling(0) },
    status: { observedGeneration: 0, readyReplicas: 2, updatedReplicas: 2 },
  },
  {
    name: 'sts-not-ready',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 2, updateStrategy: rolling(0) },
    status: { observedGeneration: 2, readyReplicas: 1, updatedReplicas: 2 },
  },
  {
    name: 'sts-partition-waiting',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 3, updateStrategy: rolling(1) },
    status: { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 },
  },
  {
    name: 'sts-partition-complete',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 3, updateStrategy: rolling(1) },
    status: { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 2 },
  },
  {
    name: 'sts-partition-above-replicas',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 3, updateStrategy: rolling(5) },
    status: { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 0 },
  },
  {
    name: 'sts-ondelete',
    kind: 'StatefulSet',
    generation: 2,
    spec: { replicas: 2, updateStrategy: { type: 'OnDelete' } },
    status: { observedGeneration: 2, readyReplicas: 2, updatedReplicas: 0 },
  },
  // DaemonSets
  {
    name: 'ds-done',
    kind: 'DaemonSet',
    generation: 2,
    spec: { updateStrategy: { type: 'RollingUpdate' } },
    status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 },
  },
  {
    name: 'ds-updating',
    kind: 'DaemonSet',
    generation: 2,
    spec: { updateStrategy: { type: 'RollingUpdate' } },
    status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 },
  },
  {
    name: 'ds-unavailable',
    kind: 'DaemonSet',
    generation: 2,
    spec: { updateStrategy: { type: 'RollingUpdate' } },
    status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 1 },
  },
  {
    name: 'ds-unobserved',
    kind: 'DaemonSet',
    generation: 3,
    spec: { updateStrategy: { type: 'RollingUpdate' } },
    status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 },
  },
  {
    name: 'ds-ondelete',
    kind: 'DaemonSet',
    generation: 2,
    spec: { updateStrategy: { type: 'OnDelete' } },
    status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 0, numberAvailable: 3 },
  },
];

function objectOf(c: Case): Workload {
  return {
    apiVersion: 'apps/v1',
    kind: c.kind,
    metadata: {
      name: c.name,
      namespace: 'ns',
      uid: `uid-${c.name}`,
      resourceVersion: '100',
      generation: c.generation ?? 1,
      creationTimestamp: '2026-11-28T10:00:00Z',
    },
    spec: {
      selector: { matchLabels: { app: c.name } },
      template: { metadata: { labels: { app: c.name } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } },
      ...c.spec,
    },
    status: c.status,
  } as unknown as Workload;
}

/** Discovery, get, list and watch of the case objects; an empty pod list (kubectl's warnings read pods). */
async function apiServer(): Promise<{ url: string; close(): Promise<void> }> {
  const byPath = new Map<string, Workload>(
    CASES.map((c) => [`/apis/apps/v1/namespaces/ns/${PLURAL[c.kind]}/${c.name}`, objectOf(c)] as const),
  );
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const resources = (Object.keys(PLURAL) as WorkloadKind[]).map((kind) => ({
    name: PLURAL[kind],
    singularName: kind.toLowerCase(),
    namespaced: true,
    kind,
    verbs: ['get', 'list', 'watch', 'patch'],
  }));
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const p = url.pathname;
    if (p === '/version') {
      reply(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
      return;
    }
    if (p === '/api') {
      reply(res, 200, { kind: 'APIVersions', versions: ['v1'] });
      return;
    }
    if (p === '/apis') {
      reply(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          {
            name: 'apps',
            versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
            preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
          },
        ],
      });
      return;
    }
    if (p === '/api/v1') {
      reply(res, 200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'] }],
      });
      return;
    }
    if (p === '/apis/apps/v1') {
      reply(res, 200, { kind: 'APIResourceList', groupVersion: 'apps/v1', resources });
      return;
    }
    if (p === '/api/v1/namespaces/ns/pods') {
      reply(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: [] });
      return;
    }
    const one = byPath.get(p);
    if (one) {
      reply(res, 200, one);
      return;
    }
    const m = p.match(/^\/apis\/apps\/v1\/namespaces\/ns\/([a-z]+)$/);
    const name = url.searchParams.get('fieldSelector')?.match(/^metadata\.name=(.+)$/)?.[1];
    const listed = m && name ? byPath.get(`${p}/${name}`) : undefined;
    if (listed && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // client-go 0.36 lists by watching (WatchListClient): the object, then a bookmark that ends the initial events.
      if (url.searchParams.get('sendInitialEvents') === 'true') {
        res.write(`${JSON.stringify({ type: 'ADDED', object: listed })}\n`);
        const end = { 'k8s.io/initial-events-end': 'true' };
        const bookmark = {
          kind: listed.kind,
          apiVersion: 'apps/v1',
          metadata: { resourceVersion: '100', annotations: end },
        };
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: bookmark })}\n`);
      }
      return; // then quiet, held open until kubectl leaves
    }
    if (listed) {
      reply(res, 200, {
        kind: `${listed.kind}List`,
        apiVersion: 'apps/v1',
        metadata: { resourceVersion: '100' },
        items: [listed],
      });
      return;
    }
    reply(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

type Verdict = 'done' | 'waiting' | 'failed';

test('rolloutState gives kubectl rollout status its verdict for every state in the table', async () => {
  const api = await apiServer();
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-rollout-status-'));
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'local',
        clusters: [{ name: 'c', cluster: { server: api.url } }],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'local', context: { cluster: 'c', user: 'u', namespace: 'ns' } }],
      }),
    );
    const mismatches: string[] = [];
    for (const c of CASES) {
      const r = await kubectl(
        ['rollout', 'status', `${c.kind.toLowerCase()}/${c.name}`, '-n', 'ns', '--watch=false', '--timeout=20s'],
        { kubeconfig, env: { KUBECACHEDIR: join(dir, 'cache') }, timeoutMs: 60_000 },
      );
      const said = `${r.stdout}${r.stderr}`.trim();
      const theirs: Verdict =
        r.code !== 0
          ? 'failed'
          : /successfully rolled out|roll out complete|rolling update complete/.test(r.stdout)
            ? 'done'
            : 'waiting';
      assert.ok(r.code === 0 || /^error: /m.test(r.stderr), `${c.name}: kubectl exit ${r.code}: ${said}`);
      const ours = rolloutState(c.kind, objectOf(c));
      if (ours.phase !== theirs)
        mismatches.push(`${c.name}: kubectl ${theirs} ("${said}"), ours ${ours.phase} ("${ours.message}")`);
    }
    assert.deepEqual(mismatches, []);
  } finally {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});
