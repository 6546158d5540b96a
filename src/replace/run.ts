/**
 * `replace --from-dir DIR`: validate, plan, back up, then write cacerts in ONE update guarded by resourceVersion
 * (create when absent). Never deletes the secret, so istiod never sees the CA disappear.
 */
import { readBundleDir, type BundleData } from '../ca/bundle.js';
import { validateBundle, type BundleReport } from '../ca/validate.js';
import { OperationError, RefusedError } from '../errors.js';
import { runBackup } from '../backup/run.js';
import { readCaState } from '../istio/ca-state.js';
import { Annotations, CACERTS } from '../istio/names.js';
import { bundleDigest, bundleFromSecret, secretDataFromBundle } from '../istio/secret-bundle.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError, KubeTransportError, explainKubeError } from '../kube/errors.js';
import { Resources, type Secret } from '../kube/resources.js';
import { VERSION } from '../version.js';
import type { DryRun } from '../commands/dry-run.js';
import { planChange, type ChangePlan } from './plan.js';

export interface ReplaceOptions {
  fromDir: string;
  namespace: string;
  /** client: plan only, nothing sent; server: the write goes with dryRun=All; none: write. */
  dryRun: DryRun;
  backupDir: string;
  noBackup: boolean;
  allowRootChange: boolean;
  yes: boolean;
}

export interface ReplaceDeps {
  client: KubeClient;
  now(): Date;
  notice(line: string): void;
  /** Asks the user; resolves false when declined. Only called without --yes. */
  confirm(question: string): Promise<boolean>;
}

export type ReplaceAction = 'created' | 'replaced' | 'unchanged' | 'dry-run';

export interface ReplaceResult {
  context: string;
  namespace: string;
  fromDir: string;
  action: ReplaceAction;
  dryRun: DryRun;
  plan: ChangePlan;
  signingCert: { subject: string; fingerprintSha256: string; notAfter: string } | null;
  warnings: string[];
  backup: string | null;
  resourceVersion: string | null;
  nextSteps: string[];
}

function nextSteps(plan: ChangePlan, multiRoot: boolean | null): string[] {
  switch (plan.kind) {
    case 'unchanged':
      return [];
    case 'new-secret':
    case 'self-signed-to-plugged':
      return [
        'kubectl istio-ca restart --control-plane-only',
        'kubectl istio-ca restart --workloads-only',
        'kubectl istio-ca verify -A',
      ];
    case 'intermediate-only':
      return ['kubectl istio-ca verify -A   (istiod reloads within about a minute; no restart needed)'];
    case 'root-added':
    case 'root-bundle-rewritten':
      return multiRoot
        ? ['kubectl istio-ca verify -A']
        : ['kubectl istio-ca restart --control-plane-only', 'kubectl istio-ca verify -A'];
    case 'root-removed':
      return ['kubectl istio-ca verify -A --proxies   (every sidecar must hold a certificate from a kept root)'];
    case 'root-change':
      return [
        'kubectl istio-ca restart   (control plane first, then every workload with a sidecar)',
        'kubectl istio-ca verify -A',
      ];
  }
}

/**
 * Refuses (exit 2) an invalid bundle before anything is read from or written to the cluster. It is validated for
 * istiod in `istioNamespace` (-i): the CA must be able to sign istiod.<istioNamespace>.svc (name constraints).
 */
export async function loadValidBundle(
  dir: string,
  now: Date,
  istioNamespace: string,
): Promise<{ data: BundleData; report: BundleReport }> {
  const data = await readBundleDir(dir);
  const { report } = validateBundle(data, { now, expiryWarningDays: 30, istioNamespace });
  if (!report.valid) {
    const errors = report.findings.filter((f) => f.severity === 'error');
    throw new RefusedError(
      `the bundle in ${dir} is invalid; cacerts was not changed:\n` +
        errors.map((f) => `  × ${f.code} (${f.file}): ${f.message}`).join('\n'),
      `fix the bundle (kubectl istio-ca inspect ${dir} shows every finding) and run replace again`,
    );
  }
  return { data, report };
}

/**
 * Writes cacerts in one request: an update guarded by `current`'s resourceVersion (keeping its labels, type and
 * other annotations), or a create when `current` is null. Never deletes. 409 Conflict propagates.
 */
export async function writeCacerts(
  client: KubeClient,
  namespace: string,
  current: Secret | null,
  bundle: BundleData,
  annotations: Record<string, string>,
  dryRun: boolean,
): Promise<Secret> {
  const data = secretDataFromBundle(bundle);
  if (current) {
    const { managedFields: _mf, ...metadata } = current.metadata;
    const body: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...metadata, annotations: { ...(current.metadata.annotations ?? {}), ...annotations } },
      type: current.type ?? 'Opaque',
      data,
    };
    return client.update(Resources.secrets, namespace, body, { dryRun });
  }
  const body: Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CACERTS, namespace, annotations },
    type: 'Opaque',
    data,
  };
  return client.create(Resources.secrets, namespace, body, { dryRun });
}

export async function runReplace(opts: ReplaceOptions, deps: ReplaceDeps): Promise<ReplaceResult> {
  const { client } = deps;
  const now = deps.now();
  const { data: bundle, report } = await loadValidBundle(opts.fromDir, now, opts.namespace);
  const state = await readCaState(client, opts.namespace);
  if (state.mode === 'external') {
    throw new RefusedError(
      `the mesh's CA is managed externally: ${state.externalReason}; replacing cacerts would fight that manager`,
      'rotate the CA through its manager (cert-manager Issuer, istio-csr) instead',
    );
  }
  if (!state.secretsReadable) {
    throw new OperationError(
      `forbidden: context ${client.context} may not get secrets in namespace ${opts.namespace}`,
      `replace needs get, create and update on secrets in ${opts.namespace}`,
    );
  }
  const current = state.cacerts ? bundleFromSecret(state.cacerts) : null;
  const selfSignedRoot =
    !state.cacerts && state.selfSigned?.data?.['ca-cert.pem']
      ? Buffer.from(state.selfSigned.data['ca-cert.pem'], 'base64')
      : null;
  const plan = planChange(current, bundle, selfSignedRoot, state.multiRoot);
  const warnings = report.findings.filter((f) => f.severity === 'warning').map((f) => `${f.code}: ${f.message}`);
  const result: ReplaceResult = {
    context: client.context,
    namespace: opts.namespace,
    fromDir: opts.fromDir,
    action: 'unchanged',
    dryRun: opts.dryRun,
    plan,
    signingCert: report.signingCert
      ? {
          subject: report.signingCert.subject,
          fingerprintSha256: report.signingCert.fingerprintSha256,
          notAfter: report.signingCert.notAfter,
        }
      : null,
    warnings,
    backup: null,
    resourceVersion: state.cacerts?.metadata.resourceVersion ?? null,
    nextSteps: nextSteps(plan, state.multiRoot),
  };
  if (plan.kind === 'unchanged') return result;

  if (plan.breaksTrust && !opts.allowRootChange) {
    const what = plan.removedRoots.length
      ? `this bundle removes the root the mesh trusts today (${plan.removedRoots.join(', ')})`
      : `this bundle's signing certificate chains to a root proxies do not trust yet (${plan.signerRoot ?? ''}), ` +
        'a root change';
    throw new RefusedError(
      `${what}; workloads on the old root and workloads on the new one would fail mTLS with each other until ` +
        `every one restarts. Nothing was changed.`,
      'rotate without downtime: kubectl istio-ca rotate --from-dir DIR (trust both roots, switch the signer, ' +
        'drop the old root); or accept the outage with --allow-root-change and then kubectl istio-ca restart',
    );
  }

  if (!opts.yes && opts.dryRun === 'none') {
    deps.notice(`plan for secret ${opts.namespace}/${CACERTS} in context ${client.context}: ${plan.kind}`);
    for (const n of plan.notes) deps.notice(`  ${n}`);
    if (!(await deps.confirm('apply this change?')))
      throw new RefusedError(
        'not confirmed; nothing was changed (a non-interactive shell needs --yes)',
        'pass --yes to apply without asking',
      );
  }

  const annotations: Record<string, string> = {
    ...(state.cacerts?.metadata.annotations ?? {}),
    [Annotations.replacedAt]: now.toISOString(),
    [Annotations.bundleSha256]: bundleDigest(bundle),
    [Annotations.bundleSource]: opts.fromDir,
    [Annotations.changeKind]: plan.kind,
    [Annotations.rootFingerprints]: plan.newRoots.join(','),
    [Annotations.replacedBy]: `kubectl-istio-ca/${VERSION}`,
  };
  if (plan.currentRoots.join(',') !== plan.newRoots.join(',') && plan.currentRoots.length > 0) {
    annotations[Annotations.previousRootFingerprints] = plan.currentRoots.join(',');
  }

  if (opts.dryRun === 'none' && !opts.noBackup) {
    const backup = await runBackup(client, { outDir: opts.backupDir, namespace: opts.namespace }, now);
    result.backup = backup.path;
    deps.notice(`backup written to ${backup.path}`);
  }

  if (opts.dryRun === 'client') {
    result.action = 'dry-run';
    return result;
  }
  try {
    const serverDryRun = opts.dryRun === 'server';
    const written = await writeCacerts(client, opts.namespace, state.cacerts, bundle, annotations, serverDryRun);
    result.action = serverDryRun ? 'dry-run' : state.cacerts ? 'replaced' : 'created';
    result.resourceVersion = serverDryRun ? result.resourceVersion : (written.metadata.resourceVersion ?? null);
  } catch (e) {
    if (e instanceof KubeApiError && e.conflict) {
      throw new OperationError(
        `secret ${opts.namespace}/${CACERTS} was changed by someone else after it was read (resourceVersion ` +
          `${state.cacerts?.metadata.resourceVersion ?? 'none'}); nothing was written`,
        'run kubectl istio-ca status to see the current CA, then run replace again',
      );
    }
    if (e instanceof KubeTransportError || (e instanceof KubeApiError && e.status >= 500)) {
      throw new OperationError(
        `the write of secret ${opts.namespace}/${CACERTS} failed (${e.message}); the API server applies a write ` +
          `whole or not at all, so cacerts holds either the old or the new bundle`,
        `run kubectl istio-ca status to see which${result.backup ? `; the backup is at ${result.backup}` : ''}`,
      );
    }
    throw explainKubeError(e, client.context);
  }
  return result;
}
