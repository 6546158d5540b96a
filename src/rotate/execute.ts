/**
 * The rotation executor: walks a plan phase by phase in lockstep. For each cluster it backs up and writes the
 * phase's bundle (one update guarded by resourceVersion, the phase recorded on cacerts in the same write), then,
 * once every cluster has written, lets the kubelet sync, delivers the phase to proxies (restart or push) and waits
 * for the phase's gates. After the last phase it records `complete`.
 */
import type { BundleData } from '../ca/bundle.js';
import { OperationError, WaitTimeoutError } from '../errors.js';
import { Annotations, CACERTS } from '../istio/names.js';
import { bundleDigest, bundleFromSecret } from '../istio/secret-bundle.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError, KubeTransportError } from '../kube/errors.js';
import type { WatchedReads } from '../kube/watched-reads.js';
import { Resources, type Secret } from '../kube/resources.js';
import type { ProxyReader } from '../proxies/read.js';
import { planChange } from '../replace/plan.js';
import { writeCacerts } from '../replace/run.js';
import { VERSION } from '../version.js';
import type { RotationKind, RotationPhase } from './facts.js';
import { makeGate, type Gate, type GateResult, type GateScope } from './gates.js';
import { cacertsView, inLayout, sameBundle } from './layout.js';
import type { ClusterStep, Delivery, GateName, RotationPlan } from './plan.js';

export interface ClusterHandle {
  client: KubeClient;
  /** What gates read, served from watches: a gate is checked again when something it reads changed. */
  reads?: WatchedReads;
  /** Rollout-restarts (istiod first, then gateways, then sidecar workloads for 'all') and waits; returns rollouts. */
  restart(scope: 'control-plane' | 'all'): Promise<number>;
  /** Reads proxies through pods/exec; null when not available. */
  reader: ProxyReader | null;
  scope: GateScope;
}

export interface ExecuteOptions {
  namespace: string;
  gateTimeoutMs: number;
  /** How long the kubelet takes to refresh a mounted secret; waited after every write. */
  kubeletSyncMs: number;
  /** How long a push may take to reach every proxy before rotate restarts the ones it cannot read. */
  pushWaitMs: number;
  /**
   * Least time between two checks of a gate that reads proxies (pods/exec), and how often a gate looks again when
   * what it waits for is not visible in the API (a push) or its reads are not watched; also how often deadlines are
   * looked at. Other gates are checked again only when a watched object changed.
   */
  pollMs: number;
}

export interface ExecuteDeps {
  clusters: Map<string, ClusterHandle>;
  now: () => Date;
  notice: (line: string) => void;
  sleep: (ms: number) => Promise<void>;
  /** Backs up the cluster's CA; returns where. */
  backup(client: KubeClient): Promise<string>;
}

export interface GateReport {
  name: GateName;
  waitsFor: string;
  seconds: number;
  evidence: string | null;
}

export type StepAction = 'applied' | 'already-applied' | 'resumed' | 'planned';

export interface ClusterReport {
  context: string;
  action: StepAction;
  backup: string | null;
  /** How proxies got the phase; 'restart' also when a push could not be verified and rotate restarted instead. */
  delivery: Delivery;
  restarted: number;
  gates: GateReport[];
  gateSeconds: number | null;
}

export interface PhaseReport {
  phase: RotationPhase;
  clusters: ClusterReport[];
}

const PRE_GATES: GateName[] = ['istiod-ready', 'namespaces-trust', 'cluster-trust-bundle'];
/**
 * The first whole second after `d`. creationTimestamp has second precision: a pod that shows this second or a
 * later one was created after `d`; one created in the same second as `d` is judged as created before (safe side).
 */
const nextSecond = (d: Date) => new Date((Math.floor(d.getTime() / 1000) + 1) * 1000);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

function handleOf(deps: ExecuteDeps, context: string): ClusterHandle {
  const h = deps.clusters.get(context);
  if (!h) throw new Error(`no client for context ${context}`);
  return h;
}

/** The annotations a phase write records: what was written, by whom, and where the rotation stands. */
export function phaseAnnotations(
  step: ClusterStep,
  kind: RotationKind,
  target: string,
  current: BundleData | null,
  written: BundleData,
  now: Date,
): Record<string, string> {
  const change = planChange(current, written, null, true);
  const a: Record<string, string> = {
    [Annotations.rotationPhase]: step.phase,
    [Annotations.rotationTarget]: target,
    [Annotations.rotationKind]: kind,
    [Annotations.replacedAt]: now.toISOString(),
    [Annotations.bundleSha256]: bundleDigest(written),
    [Annotations.changeKind]: change.kind,
    [Annotations.rootFingerprints]: change.newRoots.join(','),
    [Annotations.replacedBy]: `kubectl-istio-ca/${VERSION} rotate`,
  };
  if (change.removedRoots.length || change.addedRoots.length)
    a[Annotations.previousRootFingerprints] = change.currentRoots.join(',');
  if (change.currentRoots.length && current && !sameSigner(current, written))
    a[Annotations.signerChangedAt] = now.toISOString();
  return a;
}

function sameSigner(a: BundleData, b: BundleData): boolean {
  const x = cacertsView(a)['ca-cert.pem'];
  const y = cacertsView(b)['ca-cert.pem'];
  return x !== undefined && y !== undefined && x.equals(y);
}

class Executor {
  constructor(
    private readonly plan: RotationPlan,
    private readonly opts: ExecuteOptions,
    private readonly deps: ExecuteDeps,
  ) {}

  /** Writes one cluster's step unless cacerts already holds it. */
  private async write(step: ClusterStep): Promise<{ action: StepAction; backup: string | null; at: Date }> {
    const { client } = handleOf(this.deps, step.context);
    const ns = this.opts.namespace;
    if (step.status === 'written') return { action: 'resumed', backup: null, at: this.deps.now() };
    const fresh = await client.get<Secret>(Resources.secrets, ns, CACERTS);
    const current = fresh ? bundleFromSecret(fresh) : null;
    if (current && sameBundle(cacertsView(current), step.bundle))
      return { action: 'already-applied', backup: null, at: this.deps.now() };
    const backup = await this.deps.backup(client);
    const body = inLayout(step.bundle, step.layout);
    const at = this.deps.now();
    const target = this.plan.targets[step.context] ?? '';
    const ann = phaseAnnotations(step, this.plan.kind, target, current, body, at);
    try {
      await writeCacerts(client, ns, fresh, body, ann, false);
    } catch (e) {
      if (e instanceof KubeApiError && e.conflict)
        throw new OperationError(
          `context ${step.context}: cacerts changed while rotating (phase ${step.phase}); ` +
            'nothing was written in this step',
          'check who else changes cacerts, then kubectl istio-ca rotate --resume --from-dir DIR',
        );
      // The write may or may not have been applied: the API server applies it whole or not at all. Look.
      const uncertain = e instanceof KubeTransportError || (e instanceof KubeApiError && e.status >= 500);
      const after = uncertain ? await client.get<Secret>(Resources.secrets, ns, CACERTS).catch(() => null) : null;
      if (!after || !sameBundle(cacertsView(bundleFromSecret(after)), step.bundle)) throw e;
    }
    this.deps.notice(`${step.context}: cacerts ${step.phase} written (backup ${backup})`);
    return { action: 'applied', backup, at };
  }

  private async waitGate(gate: Gate, step: ClusterStep, deadline: number, quiet = false): Promise<GateResult> {
    const reads = handleOf(this.deps, step.context).reads;
    for (;;) {
      const seen = reads?.changes() ?? 0;
      const checkedAt = this.deps.now().getTime();
      const last = await gate.check();
      if (last.passed || this.deps.now().getTime() >= deadline) return last;
      if (!quiet)
        this.deps.notice(
          `  waiting on ${step.context}: ${gate.name}: ${last.waitingFor.length} left (${last.waitingFor[0] ?? ''})`,
        );
      const left = () => Math.max(100, deadline - this.deps.now().getTime());
      // Without watches, or when what is missing is not in the API: look again after pollMs, as a poll.
      if (!reads || reads.polling() || last.reread) {
        await this.deps.sleep(Math.min(this.opts.pollMs, left()));
        continue;
      }
      // Else wait for a change in what the gate reads; ticks only look at the deadline (no request, no judging).
      while (reads.changes() === seen && this.deps.now().getTime() < deadline)
        await Promise.race([reads.changed(seen), this.deps.sleep(Math.min(this.opts.pollMs, left()))]);
      // A gate that reads proxies through pods/exec is not read more often than every pollMs (a rollout is a burst).
      const since = this.deps.now().getTime() - checkedAt;
      if (gate.readsProxies && since < this.opts.pollMs) await this.deps.sleep(this.opts.pollMs - since);
    }
  }

  private timeout(gate: Gate, step: ClusterStep, last: GateResult): WaitTimeoutError {
    const shown = last.waitingFor.slice(0, 10).join('; ');
    const more = last.waitingFor.length > 10 ? ` (and ${last.waitingFor.length - 10} more)` : '';
    return new WaitTimeoutError(
      `gate "${gate.name}" (${gate.waitsFor}) after phase ${step.phase} timed out on context ${step.context}; ` +
        `still waiting for: ${shown}${more}. The rotation is recorded at phase ${step.phase} on cacerts.`,
      'fix the cause (istiod logs, RBAC, ISTIO_MULTIROOT_MESH, workloads that do not roll out), then finish with ' +
        'kubectl istio-ca rotate --resume --from-dir DIR',
    );
  }

  /** Records that every gated proxy was read holding a leaf of the new intermediate: verify relies on it. */
  private async recordLeavesVerified(step: ClusterStep): Promise<void> {
    const { client } = handleOf(this.deps, step.context);
    const at = this.deps.now().toISOString();
    const patch = { metadata: { annotations: { [Annotations.leavesVerifiedAt]: at } } };
    await client.patch(Resources.secrets, this.opts.namespace, CACERTS, patch, 'merge');
  }

  /** Delivers the step to proxies and passes its gates; returns the report's delivery, restarts and gates. */
  private async settle(step: ClusterStep, writtenAt: Date, report: ClusterReport): Promise<void> {
    const h = handleOf(this.deps, step.context);
    let since = nextSecond(writtenAt);
    const reads = h.reads ?? h.client;
    const ctx = { client: reads, reader: h.reader, scope: h.scope, expect: step.expect, since: () => since };
    const gate = (name: GateName) => makeGate(name, { ...ctx, now: () => this.deps.now() });
    const pass = async (name: GateName, deadlineMs?: number): Promise<GateResult> => {
      const g = gate(name);
      const t0 = this.deps.now().getTime();
      const last = await this.waitGate(g, step, deadlineMs ?? t0 + this.opts.gateTimeoutMs, deadlineMs !== undefined);
      if (!last.passed && deadlineMs === undefined) throw this.timeout(g, step, last);
      if (last.passed && name === 'proxies-signed-by' && last.allRead) await this.recordLeavesVerified(step);
      if (last.passed)
        report.gates.push({
          name,
          waitsFor: g.waitsFor,
          seconds: seconds(this.deps.now().getTime() - t0),
          evidence: last.evidence ?? null,
        });
      return last;
    };
    const restart = async (scope: 'control-plane' | 'all', why: string) => {
      this.deps.notice(`${step.context}: ${why}`);
      // Start on a whole second, so pods created by the restart show a creationTimestamp at or after `since`.
      const ms = this.deps.now().getTime() % 1000;
      if (ms) await this.deps.sleep(1000 - ms);
      // creationTimestamp is truncated to the second: compare against the whole second the restart starts in, or a
      // pod created in that same second (a fast rollout) would look older than the phase for ever.
      since = new Date(Math.floor(this.deps.now().getTime() / 1000) * 1000);
      report.restarted += await h.restart(scope);
    };
    const restartFirst = step.delivery === 'restart-control-plane' || step.phase === 'replace-and-restart';
    if (restartFirst)
      await restart(
        step.delivery === 'restart-control-plane' ? 'control-plane' : 'all',
        step.delivery === 'restart-control-plane'
          ? 'restarting istiod so it signs from cacerts'
          : 'restarting istiod, then every workload (downtime accepted)',
      );
    for (const name of step.gates.filter((g) => PRE_GATES.includes(g))) await pass(name);
    const post = step.gates.filter((g) => !PRE_GATES.includes(g));
    const proxyGate = post.find((g) => g === 'proxies-trust' || g === 'proxies-signed-by');
    if (!restartFirst && step.delivery === 'restart') {
      const resumed = report.action !== 'applied';
      const already = resumed && proxyGate ? (await gate(proxyGate).check()).passed : false;
      if (!already)
        await restart(
          'all',
          step.phase === 'trust-both'
            ? 'restarting istiod, gateways and sidecar workloads so every proxy trusts both roots'
            : 'restarting istiod, gateways and sidecar workloads so every leaf is issued by the new intermediate',
        );
    }
    if (step.delivery === 'push' && proxyGate) {
      const t0 = this.deps.now().getTime();
      const last = await pass(proxyGate, t0 + this.opts.pushWaitMs);
      if (!last.passed) {
        if (!last.unreadable) throw this.timeout(gate(proxyGate), step, last);
        report.delivery = 'restart';
        await restart(
          'all',
          `${last.unreadable} proxies could not be read to verify the push: restarting workloads instead`,
        );
      }
    }
    for (const name of post) if (!report.gates.some((g) => g.name === name)) await pass(name);
  }

  async run(): Promise<PhaseReport[]> {
    const reports: PhaseReport[] = [];
    for (const phase of this.plan.phases) {
      const live = phase.steps.filter((s) => s.status !== 'done');
      const note =
        this.plan.kind === 'intermediate-only' ? ' (intermediate only: root-cert.pem stays byte-identical)' : '';
      this.deps.notice(`phase ${phase.phase}${note}: ${live.length} cluster(s)`);
      const report: PhaseReport = { phase: phase.phase, clusters: [] };
      const writes = new Map<ClusterStep, Date>();
      for (const step of phase.steps) {
        const entry: ClusterReport = {
          context: step.context,
          action: 'already-applied',
          backup: null,
          delivery: step.status === 'done' ? 'none' : step.delivery,
          restarted: 0,
          gates: [],
          gateSeconds: null,
        };
        report.clusters.push(entry);
        if (step.status === 'done') continue;
        const w = await this.write(step);
        entry.action = w.action;
        entry.backup = w.backup;
        writes.set(step, w.at);
      }
      // Gates: every cluster of this phase, before any cluster starts the next phase.
      if (writes.size) await this.deps.sleep(this.opts.kubeletSyncMs);
      for (const [step, at] of writes) {
        const entry = report.clusters.find((c) => c.context === step.context);
        if (!entry) continue;
        const t0 = this.deps.now().getTime();
        await this.settle(step, at, entry);
        entry.gateSeconds = seconds(this.deps.now().getTime() - t0);
        this.deps.notice(`${step.context}: phase ${step.phase} gates passed`);
      }
      reports.push(report);
    }
    for (const context of this.plan.contexts) {
      const { client } = handleOf(this.deps, context);
      await client.patch(
        Resources.secrets,
        this.opts.namespace,
        CACERTS,
        { metadata: { annotations: { [Annotations.rotationPhase]: 'complete' } } },
        'merge',
      );
    }
    return reports;
  }
}

/** Walks `plan`: write, deliver, gate, record, phase by phase across every cluster. */
export function executePlan(plan: RotationPlan, opts: ExecuteOptions, deps: ExecuteDeps): Promise<PhaseReport[]> {
  return new Executor(plan, opts, deps).run();
}
