/**
 * `rotate --from-dir NEW`: rotate the CA without downtime, in lockstep across clusters. Intermediate-only: one update
 * keeping root-cert.pem byte-identical. Root rotation: trust-both, switch-signer, drop-old, each preceded by a backup
 * and followed by gates. Self-signed: plug the self-signed CA first. The phase is recorded on cacerts, so
 * `rotate --resume` finishes an interrupted rotation from any machine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleData } from '../ca/bundle.js';
import { OperationError, RefusedError, WaitTimeoutError } from '../errors.js';
import { runBackup } from '../backup/run.js';
import { readCaState, type CaState } from '../istio/ca-state.js';
import { Annotations, CACERTS } from '../istio/names.js';
import { Resources, type Secret } from '../kube/resources.js';
import { bundleDigest, bundleFromSecret, pemFingerprints } from '../istio/secret-bundle.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { planChange } from '../replace/plan.js';
import { loadValidBundle, writeCacerts } from '../replace/run.js';
import { VERSION } from '../version.js';
import { istiodReady, namespacesTrust, type GateResult } from './gates.js';
import { rotationKind, rotationSteps, type PhaseStep, type RotationKind } from './phases.js';

const ROTATION_PHASE = Annotations.rotationPhase;
const ROTATION_TARGET = Annotations.rotationTarget;

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
  /** Restart sidecar workloads after switch-signer so every leaf is re-signed at once. */
  restartWorkloads: boolean;
}

export interface Cluster {
  client: KubeClient;
  /** Rollout-restarts the control plane (istiod and gateways) and waits. */
  restartControlPlane(): Promise<void>;
  /** Rollout-restarts every workload with a sidecar and waits. */
  restartWorkloads(): Promise<void>;
}

export interface RotateDeps {
  clusters: Cluster[];
  now(): Date;
  notice(line: string): void;
  sleep(ms: number): Promise<void>;
}

export interface PhaseReport {
  phase: string;
  clusters: {
    context: string;
    action: 'applied' | 'already-applied' | 'planned';
    backup: string | null;
    gateSeconds: number | null;
  }[];
}

export interface RotateResult {
  kind: RotationKind | 'downtime-replace';
  dryRun: boolean;
  contexts: string[];
  phases: PhaseReport[];
  finalRoots: string[];
}

interface ClusterState {
  cluster: Cluster;
  state: CaState;
  current: BundleData | null;
  steps: PhaseStep[];
  /** Index of the first step not yet known to be applied. */
  start: number;
  /** This cluster's new bundle (FROM/<context>/ when present, as generate --cluster lays it out) and its digest. */
  next: BundleData;
  target: string;
}

/** The new bundle for a context: DIR/<context>/ when generate --cluster made one per cluster, else DIR. */
async function bundleFor(dir: string, context: string, now: Date): Promise<BundleData> {
  const own = join(dir, context);
  const { data } = await loadValidBundle(existsSync(join(own, 'ca-cert.pem')) ? own : dir, now);
  if (data['root-cert.pem'] === undefined)
    throw new RefusedError(
      'rotate needs the cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)',
      'convert the tls.crt/tls.key/ca.crt bundle to that layout',
    );
  return data;
}

function same(a: BundleData | null, b: BundleData): boolean {
  if (!a) return false;
  const names = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'];
  return names.every(
    (n) =>
      (a[n] === undefined && b[n] === undefined) || (a[n] !== undefined && b[n] !== undefined && a[n]!.equals(b[n]!)),
  );
}

async function gate(
  name: string,
  context: string,
  phase: string,
  timeoutMs: number,
  deps: RotateDeps,
  check: () => Promise<GateResult>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: GateResult = { passed: false, waitingFor: [] };
  for (;;) {
    last = await check();
    if (last.passed) return;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(
        `gate "${name}" after phase ${phase} timed out on context ${context}; still waiting for: ${last.waitingFor.slice(0, 10).join('; ')}${last.waitingFor.length > 10 ? ` (and ${last.waitingFor.length - 10} more)` : ''}. The rotation is recorded at phase ${phase} on cacerts.`,
        'fix the cause (istiod logs, RBAC, ISTIO_MULTIROOT_MESH), then finish with kubectl istio-ca rotate --resume --from-dir DIR',
      );
    }
    deps.notice(`  waiting on ${context}: ${name}: ${last.waitingFor.length} left (${last.waitingFor[0] ?? ''})`);
    await deps.sleep(Math.min(2000, Math.max(100, deadline - Date.now())));
  }
}

export async function runRotate(opts: RotateOptions, deps: RotateDeps): Promise<RotateResult> {
  const now = deps.now();
  const contexts = deps.clusters.map((c) => c.client.context);

  const states: ClusterState[] = [];
  for (const cluster of deps.clusters) {
    const ctx = cluster.client.context;
    const next = await bundleFor(opts.fromDir, ctx, now);
    const target = bundleDigest(next);
    const state = await readCaState(cluster.client, opts.namespace);
    if (state.mode === 'external')
      throw new RefusedError(
        `context ${ctx}: the CA is managed externally (${state.externalReason})`,
        'rotate it through its manager',
      );
    if (!state.secretsReadable)
      throw new OperationError(
        `forbidden: context ${ctx} may not get secrets in namespace ${opts.namespace}`,
        `rotate needs get, create and update on secrets in ${opts.namespace}`,
      );
    if (state.mode === 'none')
      throw new RefusedError(
        `context ${ctx}: no CA in ${opts.namespace} (no cacerts, no istio-ca-secret)`,
        'use kubectl istio-ca replace --from-dir DIR to plug the first CA',
      );
    const phaseNow = state.cacerts?.metadata.annotations?.[ROTATION_PHASE];
    const inProgress = phaseNow !== undefined && phaseNow !== 'complete';
    if (inProgress && !opts.resume)
      throw new RefusedError(
        `context ${ctx}: a rotation is in progress (phase ${phaseNow})`,
        'finish it with kubectl istio-ca rotate --resume --from-dir DIR (the same bundle)',
      );
    if (inProgress && state.cacerts!.metadata.annotations?.[ROTATION_TARGET] !== target) {
      throw new RefusedError(
        `context ${ctx}: the rotation in progress (phase ${phaseNow}) targets another bundle than ${opts.fromDir}`,
        'resume with the bundle the rotation started with',
      );
    }
    if (opts.resume && !inProgress && deps.clusters.length === 1)
      throw new RefusedError(
        `context ${ctx}: no rotation in progress to resume`,
        'start one with kubectl istio-ca rotate --from-dir DIR',
      );
    const selfSigned = state.mode === 'self-signed' && !state.cacerts;
    let current = state.cacerts ? bundleFromSecret(state.cacerts) : null;
    if (selfSigned) {
      const s = state.selfSigned!.data!;
      const cert = Buffer.from(s['ca-cert.pem']!, 'base64');
      current = {
        'ca-cert.pem': cert,
        'ca-key.pem': Buffer.from(s['ca-key.pem']!, 'base64'),
        'cert-chain.pem': cert,
        'root-cert.pem': cert,
      };
    }
    const currentRoots = pemFingerprints(current!['root-cert.pem']);
    const nextSigner = pemFingerprints(next['ca-cert.pem'])[0];
    const currentSigner = pemFingerprints(current!['ca-cert.pem'])[0];
    const oldRootsPem = current!['root-cert.pem']!;
    const kind = inProgress ? 'root-rotation' : rotationKind(currentRoots, next, selfSigned);
    let steps: PhaseStep[];
    if (kind === 'intermediate-only') {
      steps = [
        {
          phase: 'switch-signer',
          bundle: { ...next, 'root-cert.pem': current!['root-cert.pem']! },
          expectedRoots: currentRoots,
          exact: false,
          signer: nextSigner!,
        },
      ];
    } else {
      steps = rotationSteps(oldRootsPem, currentSigner !== nextSigner ? current : null, next);
    }
    let start = steps.findIndex((s) => same(current, s.bundle));
    if (start < 0) start = 0;
    states.push({ cluster, state, current, steps, start, next, target });
  }
  const kinds = new Set(
    states.map((s) =>
      s.state.mode === 'self-signed' && !s.state.cacerts
        ? 'self-signed-to-plugged'
        : s.steps.length === 1
          ? 'intermediate-only'
          : 'root-rotation',
    ),
  );
  if (kinds.size > 1)
    throw new RefusedError(
      `the clusters need different kinds of rotation (${[...kinds].join(', ')})`,
      'bring them to the same root first, or rotate them one by one with --contexts',
    );
  const kind = [...kinds][0] as RotationKind;

  if (kind !== 'intermediate-only' && states.some((s) => s.state.multiRoot !== true)) {
    const off = states.filter((s) => s.state.multiRoot !== true).map((s) => s.cluster.client.context);
    if (!opts.allowDowntime) {
      throw new RefusedError(
        `istiod does not run with ISTIO_MULTIROOT_MESH=true on context(s) ${off.join(', ')}: it would reject the combined root bundle ("Multi root is disabled, updating new ROOT-CA not supported")`,
        'enable it (istioctl install --set values.pilot.env.ISTIO_MULTIROOT_MESH=true, and meshConfig.defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT="true"), restart the mesh once, then rotate; or accept an outage with --allow-downtime',
      );
    }
    return downtimeReplace(opts, deps, states, now);
  }

  const result: RotateResult = { kind, dryRun: opts.dryRun, contexts, phases: [], finalRoots: [] };
  const stepsByPhase = (phase: string) => states.map((s) => ({ s, i: s.steps.findIndex((x) => x.phase === phase) }));

  if (kind === 'self-signed-to-plugged') {
    const report: PhaseReport = { phase: 'plug-self-signed', clusters: [] };
    for (const s of states) {
      if (opts.dryRun) {
        report.clusters.push({ context: s.cluster.client.context, action: 'planned', backup: null, gateSeconds: null });
        continue;
      }
      const backup = (
        await runBackup(s.cluster.client, { outDir: opts.backupDir, namespace: opts.namespace }, deps.now())
      ).path;
      const written = await writeCacerts(
        s.cluster.client,
        opts.namespace,
        null,
        s.current!,
        annotationsFor('plug-self-signed', s.current!, s.current!, s.target, deps.now()),
        false,
      );
      s.state = { ...s.state, cacerts: written };
      deps.notice(
        `${s.cluster.client.context}: plugged the self-signed CA into cacerts; restarting istiod to switch to it`,
      );
      await s.cluster.restartControlPlane();
      report.clusters.push({ context: s.cluster.client.context, action: 'applied', backup, gateSeconds: null });
    }
    result.phases.push(report);
  }

  const phases = [...new Set(states.flatMap((s) => s.steps.map((x) => x.phase)))];
  for (const phase of phases) {
    const report: PhaseReport = { phase, clusters: [] };
    const entries = stepsByPhase(phase).filter((e) => e.i >= 0);
    deps.notice(
      `phase ${phase}${kind === 'intermediate-only' ? ' (intermediate only: root-cert.pem stays byte-identical)' : ''}: ${entries.length} cluster(s)`,
    );
    for (const { s, i } of entries) {
      const step = s.steps[i]!;
      const ctx = s.cluster.client.context;
      if (i < s.start) {
        report.clusters.push({ context: ctx, action: 'already-applied', backup: null, gateSeconds: null });
        continue;
      }
      if (opts.dryRun) {
        report.clusters.push({ context: ctx, action: 'planned', backup: null, gateSeconds: null });
        continue;
      }
      const fresh = await s.cluster.client.get<Secret>(Resources.secrets, opts.namespace, CACERTS);
      const current = fresh ? bundleFromSecret(fresh) : null;
      if (same(current, step.bundle)) {
        report.clusters.push({ context: ctx, action: 'already-applied', backup: null, gateSeconds: null });
      } else {
        const backup = (
          await runBackup(s.cluster.client, { outDir: opts.backupDir, namespace: opts.namespace }, deps.now())
        ).path;
        const lastPhase = i === s.steps.length - 1;
        const ann = annotationsFor(lastPhase ? 'complete' : phase, current, step.bundle, s.target, deps.now());
        try {
          await writeCacerts(s.cluster.client, opts.namespace, fresh, step.bundle, ann, false);
        } catch (e) {
          if (e instanceof KubeApiError && e.conflict)
            throw new OperationError(
              `context ${ctx}: cacerts changed while rotating (phase ${phase}); nothing was written in this step`,
              'check who else changes cacerts, then kubectl istio-ca rotate --resume --from-dir DIR',
            );
          throw e;
        }
        deps.notice(`${ctx}: cacerts ${phase} written (backup ${backup})`);
        report.clusters.push({ context: ctx, action: 'applied', backup, gateSeconds: null });
      }
    }
    if (opts.dryRun) {
      result.phases.push(report);
      continue;
    }
    // Gates: every cluster of this phase, before any cluster starts the next phase.
    await deps.sleep(opts.kubeletSyncMs);
    for (const { s, i } of entries) {
      const step = s.steps[i]!;
      const ctx = s.cluster.client.context;
      const t0 = Date.now();
      await gate('istiod Ready', ctx, phase, opts.gateTimeoutMs, deps, () =>
        istiodReady(s.cluster.client, opts.namespace),
      );
      await gate(
        step.exact ? 'every namespace trusts only the new root' : 'every namespace trusts the expected roots',
        ctx,
        phase,
        opts.gateTimeoutMs,
        deps,
        () => namespacesTrust(s.cluster.client, step.expectedRoots, step.exact),
      );
      if (phase === 'switch-signer' && kind !== 'intermediate-only' && opts.restartWorkloads) {
        deps.notice(`${ctx}: restarting sidecar workloads so every leaf is re-signed by the new intermediate`);
        await s.cluster.restartWorkloads();
      }
      const entry = report.clusters.find((c) => c.context === ctx)!;
      entry.gateSeconds = Math.round((Date.now() - t0) / 100) / 10;
      deps.notice(`${ctx}: phase ${phase} gates passed`);
    }
    result.phases.push(report);
  }

  if (!opts.dryRun) {
    const roots = await Promise.all(
      states.map(async (s) => {
        const sec = await s.cluster.client.get<Secret>(Resources.secrets, opts.namespace, CACERTS);
        return [...new Set(pemFingerprints(sec ? bundleFromSecret(sec)['root-cert.pem'] : undefined))].sort().join(',');
      }),
    );
    if (new Set(roots).size > 1)
      throw new OperationError(
        `the clusters ended on different roots: ${contexts.map((c, i) => `${c}=${roots[i]}`).join('; ')}`,
        'run kubectl istio-ca status on each and rotate the odd one',
      );
    result.finalRoots = roots[0] ? roots[0].split(',') : [];
  }
  return result;
}

function annotationsFor(
  phase: string,
  current: BundleData | null,
  next: BundleData,
  target: string,
  now: Date,
): Record<string, string> {
  const plan = planChange(current, next, null, true);
  const a: Record<string, string> = {
    [ROTATION_PHASE]: phase,
    [ROTATION_TARGET]: target,
    [Annotations.replacedAt]: now.toISOString(),
    [Annotations.bundleSha256]: bundleDigest(next),
    [Annotations.changeKind]: plan.kind,
    [Annotations.rootFingerprints]: plan.newRoots.join(','),
    [Annotations.replacedBy]: `kubectl-istio-ca/${VERSION} rotate`,
  };
  if (plan.removedRoots.length || plan.addedRoots.length)
    a[Annotations.previousRootFingerprints] = plan.currentRoots.join(',');
  return a;
}

/** --allow-downtime without multi-root: the recipe's path, done safely: replace, restart everything, gate. */
async function downtimeReplace(
  opts: RotateOptions,
  deps: RotateDeps,
  states: ClusterState[],
  now: Date,
): Promise<RotateResult> {
  const report: PhaseReport = { phase: 'replace-and-restart', clusters: [] };
  for (const s of states) {
    const ctx = s.cluster.client.context;
    const next = s.next;
    if (opts.dryRun) {
      report.clusters.push({ context: ctx, action: 'planned', backup: null, gateSeconds: null });
      continue;
    }
    const backup = (await runBackup(s.cluster.client, { outDir: opts.backupDir, namespace: opts.namespace }, now)).path;
    await writeCacerts(
      s.cluster.client,
      opts.namespace,
      s.state.cacerts,
      next,
      annotationsFor('complete', s.current, next, bundleDigest(next), deps.now()),
      false,
    );
    deps.notice(`${ctx}: cacerts replaced (downtime accepted); restarting the control plane, then every workload`);
    const t0 = Date.now();
    await s.cluster.restartControlPlane();
    await gate('every namespace trusts only the new root', ctx, 'replace', opts.gateTimeoutMs, deps, () =>
      namespacesTrust(s.cluster.client, pemFingerprints(next['root-cert.pem']), true),
    );
    await s.cluster.restartWorkloads();
    report.clusters.push({
      context: ctx,
      action: 'applied',
      backup,
      gateSeconds: Math.round((Date.now() - t0) / 100) / 10,
    });
  }
  return {
    kind: 'downtime-replace',
    dryRun: opts.dryRun,
    contexts: states.map((s) => s.cluster.client.context),
    phases: [report],
    finalRoots: opts.dryRun ? [] : pemFingerprints(states[0]!.next['root-cert.pem']),
  };
}
