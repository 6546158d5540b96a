/**
 * `rotate --from-dir NEW`: rotate the CA without downtime, in lockstep across clusters. Complete: read every
 * cluster (state.ts); Validate and plan: the pure planner (plan.ts) refuses what must not be done and returns the
 * plan `--dry-run` prints; Run: the executor (execute.ts) walks it. The phase is recorded on cacerts, so
 * `rotate --resume` finishes an interrupted rotation from any machine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleData } from '../ca/bundle.js';
import { OperationError } from '../errors.js';
import { runBackup } from '../backup/run.js';
import { CACERTS } from '../istio/names.js';
import { bundleFromSecret, pemFingerprints, rootFileOf } from '../istio/secret-bundle.js';
import type { WatchClient } from '../kube/watch.js';
import { WatchedReads } from '../kube/watched-reads.js';
import { Resources, type Secret } from '../kube/resources.js';
import type { ProxyReader } from '../proxies/read.js';
import { loadValidBundle } from '../replace/run.js';
import { executePlan, type ClusterHandle, type PhaseReport } from './execute.js';
import type { RotationKind } from './facts.js';
import { makeGate } from './gates.js';
import { cacertsView } from './layout.js';
import { planRotation, type ExpectedProxies, type RotationPlan } from './plan.js';
import { readClusterState } from './state.js';

export interface RotateOptions {
  fromDir: string;
  namespace: string;
  resume: boolean;
  allowDowntime: boolean;
  dryRun: boolean;
  gateTimeoutMs: number;
  /** How long the kubelet takes to refresh a mounted secret; waited after every write. */
  kubeletSyncMs: number;
  backupDir: string;
  /** auto: restart workloads unless every proxy gets the multi-root push; push: never restart workloads. */
  proxyUpdate: 'auto' | 'push';
  concurrency: number;
  /** Restart workloads only in these namespaces. */
  namespaces?: string[];
  /** How long to wait for a push before restarting the proxies rotate cannot read (default 2 min). */
  pushWaitMs?: number;
  pollMs?: number;
}

export interface Cluster {
  client: WatchClient;
  /** Rollout-restarts the control plane, or everything ('all'), and waits; returns the rollouts. */
  restart(scope: 'control-plane' | 'all', ungated: Set<string>): Promise<number>;
  /** Reads what proxies hold (pods/exec); null when not available. */
  reader: ProxyReader | null;
}

export interface RotateDeps {
  clusters: Cluster[];
  now: () => Date;
  notice: (line: string) => void;
  sleep: (ms: number) => Promise<void>;
}

/** A planned step as printed: fingerprints and counts, never a bundle (it holds a private key). */
export interface StepView {
  context: string;
  status: string;
  layout: string;
  roots: string[];
  signer: string;
  expect: ExpectedProxies;
  delivery: string;
  restarts: number;
  gates: { name: string; waitsFor: string }[];
}

export interface PlanView {
  kind: RotationKind;
  contexts: string[];
  restarts: number;
  estimate: { seconds: number; basis: string };
  attention: string[];
  notes: string[];
  phases: { phase: string; clusters: StepView[] }[];
}

export interface RotateResult {
  kind: RotationKind;
  dryRun: boolean;
  contexts: string[];
  plan: PlanView;
  phases: PhaseReport[];
  finalRoots: string[];
}

/** The new bundle for a context, cacerts view: DIR/<context>/ when generate --cluster made one per cluster. */
async function bundleFor(dir: string, context: string, now: Date, istioNamespace: string): Promise<BundleData> {
  const own = join(dir, context);
  const perCluster = existsSync(join(own, 'ca-cert.pem')) || existsSync(join(own, 'tls.crt'));
  const { data } = await loadValidBundle(perCluster ? own : dir, now, istioNamespace);
  return cacertsView(data);
}

export function planView(plan: RotationPlan, scopes: Map<string, ClusterHandle>): PlanView {
  return {
    kind: plan.kind,
    contexts: plan.contexts,
    restarts: plan.restarts,
    estimate: plan.estimate,
    attention: plan.attention,
    notes: plan.notes,
    phases: plan.phases.map((p) => ({
      phase: p.phase,
      clusters: p.steps.map((s) => {
        const h = scopes.get(s.context);
        return {
          context: s.context,
          status: s.status,
          layout: s.layout,
          roots: s.roots,
          signer: s.signer,
          expect: s.expect,
          delivery: s.delivery,
          restarts: s.restarts,
          gates: s.gates.map((name) => ({
            name,
            waitsFor: h
              ? makeGate(name, {
                  client: h.client,
                  reader: h.reader,
                  scope: h.scope,
                  expect: s.expect,
                  since: () => new Date(0),
                  now: () => new Date(0),
                }).waitsFor
              : name,
          })),
        };
      }),
    })),
  };
}

export async function runRotate(opts: RotateOptions, deps: RotateDeps): Promise<RotateResult> {
  const now = deps.now();
  const handles = new Map<string, ClusterHandle>();
  const inputs = [];
  for (const cluster of deps.clusters) {
    const ctx = cluster.client.context;
    const next = await bundleFor(opts.fromDir, ctx, now, opts.namespace);
    const state = await readClusterState(cluster.client, next, {
      istioNamespace: opts.namespace,
      namespaces: opts.namespaces,
    });
    inputs.push(state.input);
    handles.set(ctx, {
      client: cluster.client,
      reads: new WatchedReads(cluster.client, { sleep: deps.sleep }),
      reader: cluster.reader,
      scope: state.scope,
      restart: (scope) => cluster.restart(scope, state.scope.ungated),
    });
  }
  const plan = planRotation(inputs, {
    resume: opts.resume,
    allowDowntime: opts.allowDowntime,
    proxyUpdate: opts.proxyUpdate,
    concurrency: opts.concurrency,
    kubeletSyncMs: opts.kubeletSyncMs,
  });
  const view = planView(plan, handles);
  const result: RotateResult = {
    kind: plan.kind,
    dryRun: opts.dryRun,
    contexts: plan.contexts,
    plan: view,
    phases: [],
    finalRoots: [],
  };
  if (opts.dryRun) {
    result.phases = plan.phases.map((p) => ({
      phase: p.phase,
      clusters: p.steps.map((s) => ({
        context: s.context,
        action: s.status === 'done' ? 'already-applied' : 'planned',
        backup: null,
        delivery: s.delivery,
        restarted: 0,
        gates: [],
        gateSeconds: null,
      })),
    }));
    return result;
  }
  for (const n of plan.attention) deps.notice(`needs attention: ${n}`);
  const stopWatches = () => Promise.all([...handles.values()].flatMap((h) => (h.reads ? [h.reads.stop()] : [])));
  result.phases = await executePlan(
    plan,
    {
      namespace: opts.namespace,
      gateTimeoutMs: opts.gateTimeoutMs,
      kubeletSyncMs: opts.kubeletSyncMs,
      pushWaitMs: opts.pushWaitMs ?? 120_000,
      pollMs: opts.pollMs ?? 2000,
    },
    {
      clusters: handles,
      now: deps.now,
      notice: deps.notice,
      sleep: deps.sleep,
      backup: async (client) =>
        (await runBackup(client, { outDir: opts.backupDir, namespace: opts.namespace }, deps.now())).path,
    },
  ).finally(stopWatches);
  const roots = await Promise.all(
    deps.clusters.map(async (c) => {
      const sec = await c.client.get<Secret>(Resources.secrets, opts.namespace, CACERTS);
      const fps = pemFingerprints(sec ? rootFileOf(bundleFromSecret(sec)) : undefined);
      return [...new Set(fps)].sort().join(',');
    }),
  );
  if (new Set(roots).size > 1)
    throw new OperationError(
      `the clusters ended on different roots: ${plan.contexts.map((c, i) => `${c}=${roots[i]}`).join('; ')}`,
      'run kubectl istio-ca status on each and rotate the odd one',
    );
  result.finalRoots = roots[0] ? roots[0].split(',') : [];
  return result;
}
