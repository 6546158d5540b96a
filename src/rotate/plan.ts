/**
 * The rotation planner (pure): cluster facts and the new bundle in, a plan out: the kind of rotation, its phases
 * in lockstep order, each cluster's bundle for each phase, what every proxy must hold once the phase is done, how
 * proxies get there (restart or push), how many rollouts that takes, and the gates that prove it. `rotate
 * --dry-run` prints this plan; the executor (execute.ts) walks it. Nothing here reads a cluster or a clock.
 */
import type { BundleData, BundleLayout } from '../ca/bundle.js';
import { RefusedError } from '../errors.js';
import { bundleDigest, pemFingerprints } from '../istio/secret-bundle.js';
import { PHASE_ORDER, type ClusterInput, type RotationKind, type RotationPhase } from './facts.js';
import { fileOf, sameBundle } from './layout.js';
import { switchSignerRoots, rootTransitionAccepted, trustBothRoots, withRoots } from './phases.js';
import { needsByteRule, precheck, type Refusal } from './prechecks.js';

export type GateName =
  | 'istiod-ready'
  | 'namespaces-trust'
  | 'cluster-trust-bundle'
  | 'proxies-trust'
  | 'proxies-signed-by'
  | 'verify-passes';

/** How proxies come to hold what a phase expects. */
export type Delivery = 'restart' | 'restart-control-plane' | 'push' | 'none';

export interface ExpectedProxies {
  /** Roots every proxy (and every namespace's istio-ca-root-cert) must trust. */
  roots: string[];
  /** Whether namespaces must trust exactly these roots (the old one is gone). */
  exactRoots: boolean;
  /** Intermediate every proxy's workload certificate must be issued by; null when the phase does not require it. */
  signer: string | null;
}

export type StepStatus = 'pending' | 'written' | 'done';

export interface ClusterStep {
  phase: RotationPhase;
  context: string;
  /** pending: to write; written: an interrupted run wrote it, its gates are still to pass; done: nothing left. */
  status: StepStatus;
  /** The phase's bundle, cacerts view (the executor writes it in `layout`). Holds a private key: never printed. */
  bundle: BundleData;
  layout: BundleLayout;
  /** Fingerprints of root-cert.pem after this phase (each root once), and of the signing certificate. */
  roots: string[];
  signer: string;
  expect: ExpectedProxies;
  delivery: Delivery;
  /** Rollouts this step starts (istiod, gateways and sidecar workloads when delivery is restart). */
  restarts: number;
  gates: GateName[];
}

export interface PlannedPhase {
  phase: RotationPhase;
  steps: ClusterStep[];
}

export interface RotationPlan {
  kind: RotationKind;
  contexts: string[];
  /** context -> digest of its new bundle, recorded on cacerts so --resume knows what it is finishing. */
  targets: Record<string, string>;
  phases: PlannedPhase[];
  /** Rollouts over the whole rotation. */
  restarts: number;
  estimate: { seconds: number; basis: string };
  /** Pods and workloads restarts cannot reach, per context: reported, never silently skipped. */
  attention: string[];
  notes: string[];
}

export interface PlanOptions {
  resume: boolean;
  allowDowntime: boolean;
  /** auto: push where every proxy gets PROXY_CONFIG_XDS_AGENT=true, else restart; push: never restart workloads. */
  proxyUpdate: 'auto' | 'push';
  concurrency: number;
  kubeletSyncMs: number;
}

/** Seconds one rollout is assumed to take in the estimate. */
export const ROLLOUT_ESTIMATE_S = 30;
/** Seconds a multi-root push is assumed to take to reach every proxy. */
export const PUSH_ESTIMATE_S = 30;

const unique = (fps: string[]) => [...new Set(fps)];
const rootsOf = (b: BundleData) => unique(pemFingerprints(fileOf(b, 'root-cert.pem')));
const signerOf = (b: BundleData) => pemFingerprints(fileOf(b, 'ca-cert.pem'))[0] ?? '';

interface StepDraft {
  phase: RotationPhase;
  bundle: BundleData;
  expect: ExpectedProxies;
  delivery: Delivery;
  gates: GateName[];
}

function phasesOf(kind: RotationKind): RotationPhase[] {
  switch (kind) {
    case 'intermediate-only':
      return ['switch-signer'];
    case 'root-rotation':
      return ['trust-both', 'switch-signer', 'drop-old'];
    case 'self-signed-to-plugged':
      return [...PHASE_ORDER];
    case 'downtime-replace':
      return ['replace-and-restart'];
  }
}

/** The kind of rotation `input` needs, from what is recorded on cacerts or from current vs next. */
function kindOf(input: ClusterInput, inProgress: boolean): RotationKind {
  const recorded = input.recorded?.kind;
  if (inProgress && recorded && isKind(recorded)) return recorded;
  if (inProgress) return input.recorded?.phase === 'plug-self-signed' ? 'self-signed-to-plugged' : 'root-rotation';
  if (input.selfSigned) return 'self-signed-to-plugged';
  const now = rootsOf(input.current);
  const next = rootsOf(input.next);
  return now.length === next.length && next.every((f) => now.includes(f)) ? 'intermediate-only' : 'root-rotation';
}

function isKind(k: string): k is RotationKind {
  return ['intermediate-only', 'root-rotation', 'self-signed-to-plugged', 'downtime-replace'].includes(k);
}

/** Bundles and expectations of every phase of `kind`, starting from `from` (the bundle of phase `at`, if any). */
function drafts(kind: RotationKind, input: ClusterInput, delivery: Delivery): StepDraft[] {
  const { next } = input;
  const current = input.current;
  const nextRoots = fileOf(next, 'root-cert.pem');
  const at = input.recorded?.phase;
  const B = signerOf(next);
  if (kind === 'downtime-replace')
    return [
      {
        phase: 'replace-and-restart',
        bundle: next,
        expect: { roots: rootsOf(next), exactRoots: true, signer: B },
        delivery: 'restart',
        gates: ['istiod-ready', 'namespaces-trust', 'verify-passes'],
      },
    ];
  if (kind === 'intermediate-only') {
    const bundle = at === 'switch-signer' ? current : withRoots(next, fileOf(current, 'root-cert.pem'));
    return [
      {
        phase: 'switch-signer',
        bundle,
        expect: { roots: rootsOf(bundle), exactRoots: false, signer: null },
        delivery: 'none',
        gates: ['istiod-ready', 'namespaces-trust', 'verify-passes'],
      },
    ];
  }
  // Root rotation, possibly after plugging the self-signed CA. Each bundle comes from the one before it, so a
  // resumed run rebuilds the later phases from exactly what an earlier run wrote.
  const out: StepDraft[] = [];
  if (kind === 'self-signed-to-plugged')
    out.push({
      phase: 'plug-self-signed',
      bundle: current,
      expect: { roots: rootsOf(current), exactRoots: false, signer: null },
      delivery: 'restart-control-plane',
      gates: ['istiod-ready', 'namespaces-trust'],
    });
  const trustBoth =
    at === 'trust-both' || at === 'switch-signer' || at === 'drop-old'
      ? current
      : withRoots(current, trustBothRoots(fileOf(current, 'root-cert.pem'), nextRoots));
  const switchSigner =
    at === 'switch-signer' || at === 'drop-old'
      ? current
      : withRoots(next, switchSignerRoots(fileOf(trustBoth, 'root-cert.pem'), nextRoots));
  const dropOld = withRoots(next, nextRoots);
  const both = rootsOf(trustBoth);
  out.push(
    {
      phase: 'trust-both',
      bundle: trustBoth,
      expect: { roots: both, exactRoots: false, signer: null },
      delivery,
      gates: ['istiod-ready', 'namespaces-trust', 'proxies-trust'],
    },
    {
      phase: 'switch-signer',
      bundle: switchSigner,
      expect: { roots: both, exactRoots: false, signer: B },
      delivery,
      gates: ['istiod-ready', 'namespaces-trust', 'proxies-signed-by'],
    },
    {
      phase: 'drop-old',
      bundle: dropOld,
      expect: { roots: rootsOf(dropOld), exactRoots: true, signer: B },
      delivery: 'none',
      gates: ['istiod-ready', 'namespaces-trust', 'verify-passes'],
    },
  );
  return out;
}

function restartsFor(delivery: Delivery, input: ClusterInput): number {
  const r = input.mesh.restart;
  if (delivery === 'restart') return r.istiod + r.gateways + r.workloads;
  if (delivery === 'restart-control-plane') return r.istiod + r.gateways;
  return 0;
}

/** Status of each draft: done before the recorded phase, written at it, pending after it. */
function statuses(phases: RotationPhase[], input: ClusterInput, inProgress: boolean, complete: boolean): StepStatus[] {
  if (complete) return phases.map(() => 'done');
  const at = inProgress ? phases.indexOf(input.recorded?.phase as RotationPhase) : -1;
  return phases.map((_, i) => (i < at ? 'done' : i === at ? 'written' : 'pending'));
}

interface ClusterPlan {
  input: ClusterInput;
  kind: RotationKind;
  target: string;
  steps: ClusterStep[];
  /** cacerts records a completed rotation to this very bundle: a --resume after the last record has nothing left. */
  completed: boolean;
}

function planCluster(input: ClusterInput, opts: PlanOptions, refusals: Refusal[]): ClusterPlan {
  const target = bundleDigest(input.next);
  const refuse = (message: string, hint: string) => refusals.push({ context: input.context, message, hint });
  const rec = input.recorded;
  const inProgress = rec !== null && rec.phase !== 'complete';
  const completeHere = rec?.phase === 'complete' && rec.target === target && sameBundle(input.current, input.next);
  if (inProgress && !opts.resume)
    refuse(
      `a rotation is in progress (phase ${rec.phase})`,
      'finish it with kubectl istio-ca rotate --resume --from-dir DIR (the same bundle)',
    );
  if (inProgress && rec.target !== target)
    refuse(
      `the rotation in progress (phase ${rec.phase}) targets another bundle than the one given`,
      'resume with the bundle the rotation started with',
    );
  let kind = completeHere && rec.kind && isKind(rec.kind) ? rec.kind : kindOf(input, inProgress);
  const single = input.mesh.istiods.some((i) => !i.multiRoot);
  if ((kind === 'root-rotation' || kind === 'self-signed-to-plugged') && single && opts.allowDowntime && !inProgress)
    kind = 'downtime-replace';
  refusals.push(...precheck(input, kind, opts.allowDowntime));

  const push = input.mesh.push;
  const everyProxyPushed = push.enabled === push.total;
  if (opts.proxyUpdate === 'push' && !everyProxyPushed && changesTrust(kind))
    refuse(
      `--no-restart-workloads relies on the multi-root push, but ${push.total - push.enabled} of ${push.total} ` +
        'sidecars do not get PROXY_CONFIG_XDS_AGENT=true: they would learn the new root only at certificate renewal',
      'set meshConfig.defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT="true" and restart the mesh once, or let ' +
        'rotate restart workloads (the default)',
    );
  const delivery: Delivery = everyProxyPushed && push.total > 0 ? 'push' : 'restart';
  const draftList = drafts(kind, input, opts.proxyUpdate === 'push' ? 'push' : delivery);
  // With ENABLE_CLUSTER_TRUST_BUNDLE_API istiod writes no ConfigMap: its ClusterTrustBundle is where roots show up.
  if (input.mesh.trustBundle)
    for (const d of draftList) d.gates = d.gates.map((g) => (g === 'namespaces-trust' ? 'cluster-trust-bundle' : g));
  const phases = draftList.map((d) => d.phase);
  const status = statuses(
    phases,
    input,
    inProgress,
    completeHere || (!inProgress && sameBundle(input.current, input.next)),
  );
  const steps = draftList.map((d, i): ClusterStep => ({
    phase: d.phase,
    context: input.context,
    status: status[i] ?? 'pending',
    bundle: d.bundle,
    layout: input.layout,
    roots: rootsOf(d.bundle),
    signer: signerOf(d.bundle),
    expect: d.expect,
    delivery: d.delivery,
    restarts: status[i] === 'done' ? 0 : restartsFor(d.delivery, input),
    gates: d.gates,
  }));
  checkTransitions(input, steps, refuse);
  return { input, kind, target, steps, completed: completeHere };
}

const changesTrust = (kind: RotationKind) => kind === 'root-rotation' || kind === 'self-signed-to-plugged';

/** Every root file change the rotation makes must pass istiod's hot-reload rule for the versions it runs. */
function checkTransitions(input: ClusterInput, steps: ClusterStep[], refuse: (m: string, h: string) => void): void {
  const byteRule = needsByteRule(input.mesh.istiods);
  let from = fileOf(input.current, 'root-cert.pem');
  for (const s of steps) {
    if (s.status === 'done' || s.phase === 'plug-self-signed' || s.phase === 'replace-and-restart') continue;
    const to = fileOf(s.bundle, 'root-cert.pem');
    if (s.status === 'pending' && !rootTransitionAccepted(from, to, byteRule)) {
      refuse(
        `the ${s.expect.exactRoots ? 'last' : 'next'} root-cert.pem is not accepted by istiod's hot reload` +
          (byteRule ? ' (before Istio 1.30 the old file must be a byte substring of the new one, or the reverse)' : ''),
        'make the current root-cert.pem a plain concatenation of PEM blocks (kubectl istio-ca replace), then rotate',
      );
      return;
    }
    from = to;
  }
}

function estimate(plan: Omit<RotationPlan, 'estimate'>, inputs: ClusterInput[], opts: PlanOptions) {
  let seconds = 0;
  const byContext = new Map(inputs.map((i) => [i.context, i]));
  for (const p of plan.phases) {
    const live = p.steps.filter((s) => s.status !== 'done');
    if (live.some((s) => s.status === 'pending')) seconds += opts.kubeletSyncMs / 1000;
    for (const s of live) {
      const r = byContext.get(s.context)?.mesh.restart;
      const waves = (n: number) => Math.ceil(n / opts.concurrency);
      if (r && s.delivery === 'restart')
        seconds += ROLLOUT_ESTIMATE_S * (waves(r.istiod) + waves(r.gateways) + waves(r.workloads));
      else if (r && s.delivery === 'restart-control-plane')
        seconds += ROLLOUT_ESTIMATE_S * (waves(r.istiod) + waves(r.gateways));
      else if (s.delivery === 'push') seconds += PUSH_ESTIMATE_S;
      seconds += 5;
    }
  }
  return {
    seconds: Math.round(seconds),
    basis:
      `${ROLLOUT_ESTIMATE_S}s per wave of ${opts.concurrency} rollouts, ${PUSH_ESTIMATE_S}s per push, ` +
      `${opts.kubeletSyncMs / 1000}s kubelet sync after each write, clusters one after another`,
  };
}

/**
 * Plans the rotation of every cluster to its new bundle, in lockstep: every cluster finishes a phase before any
 * starts the next. Throws RefusedError (exit 2) with every precheck that failed, on every cluster.
 */
export function planRotation(inputs: ClusterInput[], opts: PlanOptions): RotationPlan {
  const refusals: Refusal[] = [];
  const clusters = inputs.map((i) => planCluster(i, opts, refusals));
  const nothingWritten = clusters.every((c) => c.steps.every((s) => s.status !== 'written'));
  if (opts.resume && nothingWritten && inputs.length === 1 && !clusters[0]?.completed)
    refusals.push({
      context: inputs[0]?.context ?? '',
      message: 'no rotation in progress to resume',
      hint: 'start one with kubectl istio-ca rotate --from-dir DIR',
    });
  const kinds = [...new Set(clusters.map((c) => c.kind))];
  if (kinds.length > 1)
    refusals.push({
      context: clusters.map((c) => c.input.context).join(', '),
      message: `the clusters need different kinds of rotation (${kinds.join(', ')})`,
      hint: 'bring them to the same root first, or rotate them one by one with --contexts',
    });
  if (refusals.length) throw refusedAll(refusals);
  const kind = kinds[0] ?? 'intermediate-only';
  const order = [...PHASE_ORDER, 'replace-and-restart'] as RotationPhase[];
  const phases: PlannedPhase[] = order
    .map((phase) => ({
      phase,
      steps: clusters.flatMap((c) => c.steps.filter((_, i) => phasesOf(c.kind)[i] === phase)),
    }))
    .filter((p) => p.steps.length > 0);
  const notes = inputs.flatMap((i) => i.mesh.notes.map((n) => `${i.context}: ${n}`));
  for (const c of clusters) {
    const d = c.steps.find((s) => s.delivery === 'push' || s.delivery === 'restart')?.delivery;
    if (d === 'push')
      notes.push(
        `${c.input.context}: every sidecar gets PROXY_CONFIG_XDS_AGENT=true: proxies receive each phase ` +
          'by push, verified by reading them; rotate restarts them only if they cannot be read',
      );
    else if (d === 'restart')
      notes.push(
        `${c.input.context}: proxies learn a new root only with a new certificate: rotate restarts ` +
          'istiod, the gateways and every sidecar workload after trust-both and again after switch-signer',
      );
  }
  const partial: Omit<RotationPlan, 'estimate'> = {
    kind,
    contexts: inputs.map((i) => i.context),
    targets: Object.fromEntries(clusters.map((c) => [c.input.context, c.target])),
    phases,
    restarts: phases.reduce((n, p) => n + p.steps.reduce((m, s) => m + s.restarts, 0), 0),
    attention: inputs.flatMap((i) => i.mesh.attention.map((a) => `${i.context}: ${a}`)),
    notes,
  };
  return { ...partial, estimate: estimate(partial, inputs, opts) };
}

function refusedAll(refusals: Refusal[]): RefusedError {
  const lines = refusals.map((r) => `context ${r.context}: ${r.message}`);
  const hints = unique(refusals.map((r) => r.hint));
  return new RefusedError(
    refusals.length === 1 ? (lines[0] ?? '') : `the rotation is refused; nothing was changed:\n  ${lines.join('\n  ')}`,
    hints.join('; '),
  );
}
