/** Derive: verify's checks from a mesh snapshot (pure). Each check is ok, warn, fail or skip, with a hint. */
import type { MeshSnapshot, SidecarPod } from '../mesh/snapshot.js';
import type { Pod } from '../kube/resources.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  id: string;
  category: string;
  status: CheckStatus;
  message: string;
  hint?: string;
  /** Namespaces, pods or workloads the check is about, when it did not pass. */
  items?: string[];
}

export interface VerifyResult {
  context: string;
  istioNamespace: string;
  namespacesChecked: number;
  passed: boolean;
  summary: Record<CheckStatus, number>;
  checks: Check[];
  skipped: string[];
  /** With --proxies: what each sidecar holds (its leaf and trusted roots), or why it could not be read. */
  proxies?: ProxyReport[];
}

export interface ProxyReport {
  namespace: string;
  pod: string;
  /** The workload certificate: SPIFFE ID, issuer, expiry, and the issuer's SHA-256 fingerprint. */
  leaf?: { spiffeId: string | null; issuer: string; issuerFingerprint: string | null; notAfter: string } | null;
  /** The roots the proxy trusts (ROOTCA), every block of the bundle. */
  roots?: { subject: string; fingerprint: string }[];
  error?: string;
}

/** Change kinds after which pods created before the change must restart to hold certificates of the new CA. */
const RESTART_REQUIRED = new Set(['root-change', 'root-removed', 'new-secret', 'self-signed-to-plugged']);
/** Changes istiod applies by hot reload when it runs with ISTIO_MULTIROOT_MESH=true. */
const MULTI_ROOT_RELOADS = new Set(['root-added', 'root-bundle-rewritten', 'root-removed']);
const MAX_ITEMS = 20;

const short = (fp: string) => fp.slice(0, 23) + '…';
const list = (items: string[]) =>
  items.length > MAX_ITEMS ? [...items.slice(0, MAX_ITEMS), `… and ${items.length - MAX_ITEMS} more`] : items;

export function podReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

function podStart(p: Pod): number {
  return Date.parse(p.status?.startTime ?? p.metadata.creationTimestamp ?? '') || 0;
}

/**
 * When pods must have started to hold certificates of the CA in cacerts: the last change, or, after rotate dropped
 * the old root, the moment it switched the signer (pods created since hold the new intermediate's leaves).
 */
export function restartReference(s: MeshSnapshot): number {
  const c = s.lastChange;
  const at = c.kind === 'root-removed' && c.signerChangedAt ? c.signerChangedAt : c.at;
  return at ? Date.parse(at) : NaN;
}

/** Whether rotate read a pod's leaf after the signer switch: it existed then and a workload manages it. */
function verifiedByRotate(s: MeshSnapshot, p: SidecarPod): boolean {
  const c = s.lastChange;
  if (c.kind !== 'root-removed' || !c.leavesVerifiedAt || !c.signerChangedAt) return false;
  if (Date.parse(c.leavesVerifiedAt) < Date.parse(c.signerChangedAt)) return false;
  const managed = /^(Deployment|StatefulSet|DaemonSet)\//.test(p.owner);
  return managed && Date.parse(p.createdAt) <= Date.parse(c.leavesVerifiedAt);
}

/** Sidecar pods created before the last CA change, grouped by owning workload. */
export function staleWorkloads(s: MeshSnapshot): Map<string, SidecarPod[]> {
  const at = restartReference(s);
  const out = new Map<string, SidecarPod[]>();
  if (Number.isNaN(at)) return out;
  for (const p of s.sidecarPods) {
    if (Date.parse(p.createdAt) < at && !verifiedByRotate(s, p)) {
      const key = `${p.namespace}/${p.owner}`;
      out.set(key, [...(out.get(key) ?? []), p]);
    }
  }
  return out;
}

/**
 * The roots a namespace's pods mount: its istio-ca-root-cert, or, when istiod publishes a ClusterTrustBundle instead
 * (ENABLE_CLUSTER_TRUST_BUNDLE_API), that one bundle in every namespace; undefined when there is none.
 */
function mountedRoots(s: MeshSnapshot, ns: string): string[] | undefined {
  return s.rootPublication.kind === 'ClusterTrustBundle' ? s.trustBundle?.roots : s.rootConfigMaps.get(ns);
}

/** Namespaces whose istio-ca-root-cert (or ClusterTrustBundle) lacks a reference root, lacks all of them, or is
 * missing. */
export function namespaceSync(s: MeshSnapshot): {
  inSync: string[];
  missingConfigMap: string[];
  missingRoots: string[];
  onlyOldRoots: string[];
} {
  const r = {
    inSync: [] as string[],
    missingConfigMap: [] as string[],
    missingRoots: [] as string[],
    onlyOldRoots: [] as string[],
  };
  for (const ns of s.namespaces) {
    const roots = mountedRoots(s, ns);
    if (!roots) r.missingConfigMap.push(ns);
    else if (s.referenceRoots.every((f) => roots.includes(f))) r.inSync.push(ns);
    else {
      r.missingRoots.push(ns);
      if (!s.referenceRoots.some((f) => roots.includes(f))) r.onlyOldRoots.push(ns);
    }
  }
  return r;
}

export function runChecks(s: MeshSnapshot, now: Date): VerifyResult {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  // CA secret
  if (s.ca.mode === 'external') {
    add({ id: 'ca.secret', category: 'CA', status: 'skip', message: `the CA is external: ${s.ca.externalReason}` });
  } else if (!s.ca.secretsReadable) {
    add({
      id: 'ca.secret',
      category: 'CA',
      status: 'skip',
      message:
        `cannot read secrets in ${s.istioNamespace}; using the roots in ` +
        `${s.istioNamespace}/istio-ca-root-cert as reference`,
      hint: 'run verify with a context that may get secrets to check the bundle itself',
    });
  } else if (!s.ca.cacerts) {
    add({
      id: 'ca.secret',
      category: 'CA',
      status: 'fail',
      message: s.ca.selfSigned
        ? 'no cacerts secret: istiod uses its self-signed istio-ca-secret'
        : `no cacerts secret in ${s.istioNamespace}`,
      hint: 'plug a CA: kubectl istio-ca generate, then kubectl istio-ca replace --from-dir DIR',
    });
  } else if (s.ca.mode === 'self-signed') {
    add({
      id: 'ca.secret',
      category: 'CA',
      status: 'fail',
      message: "cacerts holds istiod's self-signed CA (istio-generated)",
      hint: 'plug a CA with kubectl istio-ca replace --from-dir DIR',
    });
  } else if (s.bundle && !s.bundle.valid) {
    const errors = s.bundle.findings.filter((f) => f.severity === 'error');
    add({
      id: 'ca.secret',
      category: 'CA',
      status: 'fail',
      message: `cacerts is invalid: ${errors.map((f) => f.code).join(', ')}`,
      hint:
        'istiod refuses this bundle at start; replace it with a valid one (kubectl istio-ca replace --from-dir ' +
        'DIR) or roll back from a backup',
      items: errors.map((f) => `${f.file}: ${f.message}`),
    });
  } else if (s.bundle) {
    add({
      id: 'ca.secret',
      category: 'CA',
      status: 'ok',
      message:
        `cacerts present and valid (${s.bundle.roots.length} ` +
        `root${s.bundle.roots.length > 1 ? 's: multi-root trust bundle' : ''})`,
    });
  }

  // Expiry
  if (s.bundle) {
    const certs = [s.bundle.signingCert, ...s.bundle.chain.slice(1), ...s.bundle.roots].filter(
      (c): c is NonNullable<typeof c> => !!c,
    );
    const seen = new Set<string>();
    const expired: string[] = [];
    const soon: string[] = [];
    let earliest: { subject: string; notAfter: string } | null = null;
    for (const c of certs) {
      if (seen.has(c.fingerprintSha256)) continue;
      seen.add(c.fingerprintSha256);
      const left = Date.parse(c.notAfter) - now.getTime();
      if (left <= 0) expired.push(`${c.subject} expired ${c.notAfter}`);
      else if (left < 30 * 86_400_000) soon.push(`${c.subject} expires ${c.notAfter}`);
      if (!earliest || Date.parse(c.notAfter) < Date.parse(earliest.notAfter)) earliest = c;
    }
    if (expired.length)
      add({
        id: 'ca.expiry',
        category: 'CA',
        status: 'fail',
        message: `${expired.length} certificate(s) in cacerts expired`,
        hint: 'rotate now: kubectl istio-ca generate and kubectl istio-ca rotate/replace',
        items: expired,
      });
    else if (soon.length)
      add({
        id: 'ca.expiry',
        category: 'CA',
        status: 'warn',
        message: `${soon.length} certificate(s) in cacerts expire within 30 days`,
        hint: 'plan a rotation before they expire',
        items: soon,
      });
    else if (earliest)
      add({
        id: 'ca.expiry',
        category: 'CA',
        status: 'ok',
        message:
          `no certificate expires within 30 days (first: ${earliest.subject} on ` +
          `${earliest.notAfter.slice(0, 10)})`,
      });
  }

  // istiod
  const pods = s.istiodPods;
  if (pods.length === 0) {
    add({
      id: 'istiod.ready',
      category: 'istiod',
      status: s.skipped.some((x) => x.startsWith('istiod pods')) ? 'skip' : 'fail',
      message: `no istiod pods (label app=istiod) in ${s.istioNamespace}`,
      hint: 'check the namespace (-i) and that istiod runs',
    });
  } else {
    const notReady = pods.filter((p) => !podReady(p)).map((p) => p.metadata.name);
    add(
      notReady.length
        ? {
            id: 'istiod.ready',
            category: 'istiod',
            status: 'fail',
            message: `${notReady.length} of ${pods.length} istiod pods not Ready`,
            hint: `kubectl -n ${s.istioNamespace} logs POD: a bad bundle stops istiod at start`,
            items: notReady,
          }
        : { id: 'istiod.ready', category: 'istiod', status: 'ok', message: `${pods.length} istiod pod(s) Ready` },
    );
    const at = s.lastChange.at ? Date.parse(s.lastChange.at) : NaN;
    if (!Number.isNaN(at)) {
      const old = pods.filter((p) => podStart(p) < at).map((p) => p.metadata.name);
      if (old.length === 0)
        add({
          id: 'istiod.restarted',
          category: 'istiod',
          status: 'ok',
          message: `every istiod pod started after the last CA change (${s.lastChange.at})`,
        });
      else if (
        s.lastChange.kind === 'intermediate-only' ||
        (s.ca.multiRoot && MULTI_ROOT_RELOADS.has(s.lastChange.kind ?? ''))
      ) {
        add({
          id: 'istiod.restarted',
          category: 'istiod',
          status: 'ok',
          message:
            `istiod hot-reloads this change (${s.lastChange.kind}); ${old.length} pod(s) predate it, which ` +
            `is fine`,
        });
      } else {
        add({
          id: 'istiod.restarted',
          category: 'istiod',
          status: 'fail',
          message:
            `${old.length} of ${pods.length} istiod pod(s) started before the last CA change ` +
            `(${s.lastChange.at}) and may still sign with the old CA`,
          hint: 'kubectl istio-ca restart --control-plane-only',
          items: old,
        });
      }
    }
  }

  // Trust distribution
  if (s.rootPublication.kind === 'ClusterTrustBundle') {
    for (const c of trustBundleChecks(s)) add(c);
  } else if (s.referenceRoots.length === 0) {
    add({
      id: 'namespaces.roots',
      category: 'trust',
      status: 'skip',
      message: 'no reference roots to compare ConfigMaps with',
    });
  } else if (s.skipped.some((x) => x.startsWith('istio-ca-root-cert'))) {
    add({
      id: 'namespaces.roots',
      category: 'trust',
      status: 'skip',
      message: 'cannot list istio-ca-root-cert ConfigMaps',
      hint: 'verify needs list on configmaps',
    });
  } else {
    const sync = namespaceSync(s);
    const bad = [
      ...sync.missingConfigMap.map((n) => `${n}: no istio-ca-root-cert`),
      ...sync.missingRoots.map(
        (n) =>
          `${n}: lacks ${s.referenceRoots
            .filter((f) => !(s.rootConfigMaps.get(n) ?? []).includes(f))
            .map(short)
            .join(', ')}`,
      ),
    ];
    add(
      bad.length
        ? {
            id: 'namespaces.roots',
            category: 'trust',
            status: 'fail',
            message:
              `${bad.length} of ${s.namespaces.length} namespaces do not hold every root of ` +
              `${s.referenceSource} in istio-ca-root-cert`,
            hint:
              'istiod rewrites these ConfigMaps when its CA bundle changes: check that istiod reloaded ' +
              '(kubectl istio-ca restart --control-plane-only) and its logs',
            items: list(bad.sort()),
          }
        : {
            id: 'namespaces.roots',
            category: 'trust',
            status: 'ok',
            message: `all ${s.namespaces.length} namespaces trust every root of ${s.referenceSource}`,
          },
    );
    add(
      sync.onlyOldRoots.length
        ? {
            id: 'namespaces.removed-root',
            category: 'trust',
            status: 'fail',
            message:
              `${sync.onlyOldRoots.length} namespace(s) still trust only a root that is no longer in the CA ` +
              `bundle${s.previousRoots.length ? ' (the previous root)' : ''}`,
            hint: "sidecars there cannot verify istiod's new certificate: restart istiod so it rewrites the ConfigMaps",
            items: list(sync.onlyOldRoots),
          }
        : {
            id: 'namespaces.removed-root',
            category: 'trust',
            status: 'ok',
            message: 'no namespace trusts only a removed root',
          },
    );
  }

  // Workloads
  if (s.skipped.some((x) => x.startsWith('pods'))) {
    add({ id: 'workloads.restarted', category: 'workloads', status: 'skip', message: 'cannot list pods' });
  } else if (s.lastChange.at) {
    const stale = staleWorkloads(s);
    const items = list(
      [...stale.entries()].map(([w, ps]) => `${w} (${ps.length} pod${ps.length > 1 ? 's' : ''})`).sort(),
    );
    const podCount = [...stale.values()].reduce((n, ps) => n + ps.length, 0);
    if (stale.size === 0)
      add({
        id: 'workloads.restarted',
        category: 'workloads',
        status: 'ok',
        message:
          s.lastChange.kind === 'root-removed' && s.lastChange.signerChangedAt
            ? `all ${s.sidecarPods.length} sidecar pods started after the signer switched ` +
              `(${s.lastChange.signerChangedAt}) or rotate read their certificates since`
            : `all ${s.sidecarPods.length} sidecar pods started after the last CA change`,
      });
    else if (RESTART_REQUIRED.has(s.lastChange.kind ?? '') || s.lastChange.kind === null) {
      add({
        id: 'workloads.restarted',
        category: 'workloads',
        status: 'fail',
        message:
          `${stale.size} workload(s) (${podCount} sidecar pods) started before the last CA change and need ` +
          `a restart`,
        hint: 'kubectl istio-ca restart --workloads-only',
        items,
      });
    } else {
      add({
        id: 'workloads.restarted',
        category: 'workloads',
        status: 'warn',
        message:
          `${stale.size} workload(s) (${podCount} sidecar pods) predate the last CA change ` +
          `(${s.lastChange.kind}); they pick it up at their next certificate renewal`,
        hint: 'restart them to switch at once: kubectl istio-ca restart --workloads-only',
        items,
      });
    }
  }

  return summarize({
    context: s.context,
    istioNamespace: s.istioNamespace,
    namespacesChecked: s.namespaces.length,
    checks,
    skipped: s.skipped,
  });
}

/**
 * With ENABLE_CLUSTER_TRUST_BUNDLE_API istiod publishes its roots in one ClusterTrustBundle and no ConfigMap: check
 * that bundle holds every root of the CA (trust-bundle.roots) and not only removed ones (trust-bundle.removed-root).
 */
function trustBundleChecks(s: MeshSnapshot): Check[] {
  const name = s.rootPublication.name;
  const where = `ClusterTrustBundle ${name}`;
  const base = { category: 'trust' };
  if (s.referenceRoots.length === 0)
    return [
      { ...base, id: 'trust-bundle.roots', status: 'skip', message: `no reference roots to compare ${where} with` },
    ];
  if (s.skipped.some((x) => x.startsWith(where)))
    return [
      {
        ...base,
        id: 'trust-bundle.roots',
        status: 'skip',
        message: `cannot read ${where}`,
        hint: 'verify needs get on clustertrustbundles.certificates.k8s.io',
      },
    ];
  const b = s.trustBundle;
  if (!b)
    return [
      {
        ...base,
        id: 'trust-bundle.roots',
        status: 'fail',
        message:
          `no ${where}: istiod runs with ENABLE_CLUSTER_TRUST_BUNDLE_API=true, ` +
          'so sidecars mount their roots from it',
        hint:
          'check the istiod logs and that the cluster serves certificates.k8s.io ClusterTrustBundles and istiod may ' +
          `create them (attest on signer ${
            s.rootPublication.kind === 'ClusterTrustBundle' ? s.rootPublication.signerName : ''
          })`,
      },
    ];
  const lacks = s.referenceRoots.filter((f) => !b.roots.includes(f));
  const onlyOld = !s.referenceRoots.some((f) => b.roots.includes(f));
  return [
    lacks.length
      ? {
          ...base,
          id: 'trust-bundle.roots',
          status: 'fail',
          message: `${where} (${b.apiVersion}) lacks ${lacks.length} root(s) of ${s.referenceSource}`,
          hint:
            'istiod rewrites it when its CA bundle changes: check that istiod reloaded (kubectl istio-ca restart ' +
            '--control-plane-only) and its logs',
          items: lacks.map(short),
        }
      : {
          ...base,
          id: 'trust-bundle.roots',
          status: 'ok',
          message:
            `${where} (${b.apiVersion}) holds every root of ${s.referenceSource}; istiod writes no ` +
            'istio-ca-root-cert ConfigMap with ENABLE_CLUSTER_TRUST_BUNDLE_API=true',
        },
    onlyOld
      ? {
          ...base,
          id: 'trust-bundle.removed-root',
          status: 'fail',
          message: `${where} still trusts only a root that is no longer in the CA bundle`,
          hint: "sidecars cannot verify istiod's new certificate: restart istiod so it rewrites the ClusterTrustBundle",
        }
      : { ...base, id: 'trust-bundle.removed-root', status: 'ok', message: `${where} trusts a current root` },
  ];
}

/** Counts checks by status; verify passes when none failed. */
export function summarize(r: Omit<VerifyResult, 'summary' | 'passed'>): VerifyResult {
  const summary = { ok: 0, warn: 0, fail: 0, skip: 0 } as Record<CheckStatus, number>;
  for (const c of r.checks) summary[c.status]++;
  return { ...r, passed: summary.fail === 0, summary };
}
