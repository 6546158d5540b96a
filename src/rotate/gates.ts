/**
 * Gates between rotation phases: small named objects, each saying what it waits for and, when checked, what is
 * still missing and how it judged (proxy truth read through pods/exec, or pod start time where it cannot read).
 * Gates read through the context's client; the executor gives them one served from watches (kube/watched-reads.ts),
 * so checking again costs no list request, and waits for a watched change (or `reread`) before it checks again.
 */
import type { KubeClient } from '../kube/client.js';
import { Resources, type ConfigMap, type KubeObject, type Pod } from '../kube/resources.js';
import { EXCLUDED_NAMESPACES, ROOT_CERT_KEY } from '../istio/names.js';
import { pemFingerprints } from '../istio/secret-bundle.js';
import { takeSnapshot } from '../mesh/snapshot.js';
import type { ProxyReader, ProxyReading } from '../proxies/read.js';
import { podHasSidecar, podWorkload } from '../restart/targets.js';
import { podReady, runChecks, summarize } from '../verify/checks.js';
import { proxyChecks } from '../verify/proxies.js';
import type { ExpectedProxies, GateName } from './plan.js';
import { clusterTrustBundleGate } from './trust-bundle-gate.js';

export interface GateResult {
  passed: boolean;
  /** What is still missing, for progress lines and the timeout message. */
  waitingFor: string[];
  /** How the gate judged, e.g. "read 12 proxies through pods/exec". */
  evidence?: string;
  /** Proxies that could not be read and were judged by pod start time instead. */
  unreadable?: number;
  /** Every proxy this gate passed was read through pods/exec (none judged by start time). */
  allRead?: boolean;
  /**
   * What is missing can change with no object in the API changing (a proxy read holding old certificates gets new
   * ones by push, or its agent answers later): look again on a timer, not only when a watched object changes.
   */
  reread?: boolean;
}

export interface Gate {
  readonly name: GateName;
  /** What the gate waits for, in a sentence. */
  readonly waitsFor: string;
  /** Whether a check reads proxies through pods/exec (then checks are spaced out). */
  readonly readsProxies?: boolean;
  check(): Promise<GateResult>;
}

/** Where a cluster's gates look: the Istio namespace, the root ConfigMap's name, the namespaces istiod selects. */
export interface GateScope {
  istioNamespace: string;
  /** istio-ca-root-cert, or PILOT_CA_CERT_CONFIGMAP. */
  configMap: string;
  /** The ClusterTrustBundle istiod publishes roots in instead of ConfigMaps (ENABLE_CLUSTER_TRUST_BUNDLE_API). */
  trustBundle?: string | null;
  /** Namespaces istiod's discoverySelectors select; null when istiod selects every namespace. */
  namespaces: string[] | null;
  /** Namespaces whose sidecars the rotation restarts and gates (-n), null for all. */
  workloadNamespaces: string[] | null;
  /** Workloads a restart cannot roll ("ns/Kind/name"): their pods are reported, not waited for. */
  ungated: Set<string>;
}

export interface GateContext {
  client: KubeClient;
  reader: ProxyReader | null;
  scope: GateScope;
  expect: ExpectedProxies;
  /** Pods created at or after this time got their certificate after the phase took effect. */
  since: () => Date;
  now: () => Date;
}

const MAX_LISTED = 10;

/** Every istiod pod (every revision: label app=istiod) in the Istio namespace is Ready. */
export function istiodReadyGate(c: GateContext): Gate {
  const ns = c.scope.istioNamespace;
  return {
    name: 'istiod-ready',
    waitsFor: `every istiod pod in ${ns} Ready`,
    async check() {
      const pods = await c.client.list<Pod>(Resources.pods, { namespace: ns, labelSelector: 'app=istiod' });
      const waiting = pods.filter((p) => !podReady(p)).map((p) => `istiod pod ${p.metadata.name} not Ready`);
      if (pods.length === 0) waiting.push(`no istiod pods in ${ns}`);
      return { passed: waiting.length === 0, waitingFor: waiting, evidence: `${pods.length} istiod pod(s) Ready` };
    },
  };
}

/** Every namespace istiod writes to holds the expected roots in its root ConfigMap (exactly them when exact). */
export function namespacesTrustGate(c: GateContext): Gate {
  const { roots, exactRoots } = c.expect;
  const cm = c.scope.configMap;
  return {
    name: 'namespaces-trust',
    waitsFor:
      `every ${c.scope.namespaces ? 'selected ' : ''}namespace's ${cm} holds ` +
      `${exactRoots ? 'only ' : ''}${roots.length} root(s)`,
    async check() {
      const [namespaces, configMaps] = await Promise.all([
        c.client.list<KubeObject>(Resources.namespaces, { metadataOnly: true }),
        c.client.list<ConfigMap>(Resources.configmaps, { fieldSelector: `metadata.name=${cm}` }),
      ]);
      const byNs = new Map(
        configMaps.map((m) => [m.metadata.namespace ?? '', [...new Set(pemFingerprints(m.data?.[ROOT_CERT_KEY]))]]),
      );
      const selected = c.scope.namespaces ? new Set(c.scope.namespaces) : null;
      const waiting: string[] = [];
      let checked = 0;
      for (const n of namespaces) {
        const ns = n.metadata.name;
        if (EXCLUDED_NAMESPACES.has(ns) || (selected && !selected.has(ns)) || n.metadata.deletionTimestamp) continue;
        checked++;
        const have = byNs.get(ns);
        if (!have) waiting.push(`${ns}: no ${cm}`);
        else if (!roots.every((r) => have.includes(r)))
          waiting.push(`${ns}: lacks ${roots.filter((r) => !have.includes(r)).length} root(s)`);
        else if (exactRoots && have.length !== roots.length)
          waiting.push(`${ns}: still trusts ${have.length - roots.length} old root(s)`);
      }
      const how = selected ? `${checked} namespaces istiod selects (discoverySelectors)` : `${checked} namespaces`;
      return { passed: waiting.length === 0, waitingFor: waiting, evidence: `${cm} in ${how}` };
    },
  };
}

/** Sidecar pods a gate waits for: running with a proxy, not istiod, not ztunnel, not terminating, restartable. */
/** Namespaces whose sidecars gates look at: those rotate restarts (-n) that istiod selects; null for all. */
export function podNamespaces(scope: GateScope): string[] | null {
  const { namespaces, workloadNamespaces } = scope;
  if (namespaces && workloadNamespaces) return workloadNamespaces.filter((n) => namespaces.includes(n));
  return workloadNamespaces ?? namespaces;
}

async function gatedPods(c: GateContext): Promise<KubeObject[]> {
  const scoped = podNamespaces(c.scope);
  const pods = scoped
    ? (
        await Promise.all(
          scoped.map((namespace) => c.client.list<KubeObject>(Resources.pods, { namespace, metadataOnly: true })),
        )
      ).flat()
    : await c.client.list<KubeObject>(Resources.pods, { metadataOnly: true });
  return pods.filter((p) => {
    const ns = p.metadata.namespace ?? '';
    const owner = podWorkload(p);
    if (!podHasSidecar(p) || p.metadata.deletionTimestamp) return false;
    if (p.metadata.labels?.app === 'ztunnel') return false;
    if (ns === c.scope.istioNamespace && p.metadata.labels?.app === 'istiod') return false;
    if (owner.kind === null) return false;
    return !c.scope.ungated.has(`${ns}/${owner.kind}/${owner.name}`);
  });
}

async function readAll(reader: ProxyReader, pods: KubeObject[]): Promise<ProxyReading[]> {
  const { readProxies } = await import('../proxies/read.js');
  return readProxies(
    reader,
    pods.map((p) => ({ namespace: p.metadata.namespace ?? '', name: p.metadata.name })),
    8,
  );
}

type Judge = (r: Extract<ProxyReading, { ok: true }>) => string | null;

/**
 * A gate on what proxies hold. Each sidecar is read through pods/exec (pilot-agent config_dump); one that cannot
 * be read (exec forbidden, no agent answering) is judged by its creation time instead: created after `since`, it
 * fetched its certificate and trust bundle after the phase took effect. A pod that passed is not read again.
 */
function proxyGate(c: GateContext, name: GateName, waitsFor: string, judge: Judge, prove?: Judge): Gate {
  const passed = new Set<string>();
  let everByStart = 0;
  let everRead = 0;
  // What the evidence says is kept across checks: a gate is checked again while others wait, and a pod that passed
  // is not read again, so one check alone would name fewer pods read, and lose the leaf that proved the signer.
  const readOk = new Set<string>();
  const byStartSeen = new Set<string>();
  let proof = null as string | null; // assigned in a callback: keep TS from narrowing it to null
  return {
    name,
    waitsFor,
    readsProxies: c.reader !== null,
    async check() {
      const pods = await gatedPods(c);
      const since = c.since().getTime();
      const todo = pods.filter((p) => !passed.has(p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`));
      const reader = c.reader;
      const readings: ProxyReading[] = reader
        ? await readAll(reader, todo)
        : todo.map((p) => ({
            namespace: p.metadata.namespace ?? '',
            pod: p.metadata.name,
            ok: false,
            forbidden: false,
            error: 'no proxy reader',
          }));
      const waiting: string[] = [];
      let byStart = 0;
      let readButWaiting = 0; // waiting on what a proxy holds, or on an agent that did not answer
      const reasons = new Set<string>();
      todo.forEach((p, i) => {
        const r = readings[i];
        const id = `${p.metadata.namespace}/${p.metadata.name}`;
        if (r?.ok) {
          everRead++;
          readOk.add(p.metadata.uid ?? id);
          const miss = judge(r);
          if (miss) readButWaiting++;
          if (miss) waiting.push(`${id}: ${miss}`);
          else passed.add(p.metadata.uid ?? id);
          if (prove && !proof && !prove(r)) proof = id;
          return;
        }
        byStart++;
        everByStart++;
        byStartSeen.add(p.metadata.uid ?? id);
        reasons.add(r?.forbidden ? 'pods/exec forbidden' : (r?.error ?? 'unreadable').slice(0, 80));
        const created = Date.parse(p.metadata.creationTimestamp ?? '');
        if (created >= since) passed.add(p.metadata.uid ?? id);
        else {
          waiting.push(`${id}: could not be read and started before the phase took effect`);
          // An agent that did not answer may answer later; pods/exec forbidden stays forbidden.
          if (!r?.forbidden) readButWaiting++;
        }
      });
      const keyOf = (p: KubeObject) => p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
      const readSoFar = pods.filter((p) => readOk.has(keyOf(p))).length;
      const startSoFar = pods.filter((p) => !readOk.has(keyOf(p)) && byStartSeen.has(keyOf(p))).length;
      const parts = [`${pods.length} sidecar pod(s)`];
      if (readSoFar) parts.push(`${readSoFar} read through pods/exec`);
      if (startSoFar) {
        const why = reasons.size ? ` (${[...reasons].slice(0, 2).join('; ')})` : '';
        parts.push(`${startSoFar} judged by pod start time${why}`);
      }
      if (prove)
        parts.push(
          proof
            ? `istiod signs with the new intermediate: ${proof}'s leaf chains to it`
            : 'istiod signer not read from a leaf',
        );
      return {
        passed: waiting.length === 0,
        waitingFor: waiting,
        evidence: parts.join(', '),
        unreadable: byStart,
        allRead: everByStart === 0 && everRead > 0,
        // A pod judged by its start time changes only with the pods (watched); what a proxy holds, or whether its
        // agent answers, can change by itself.
        reread: readButWaiting > 0,
      };
    },
  };
}

/** Every proxy's trust bundle (ROOTCA) holds every expected root. */
export function proxiesTrustGate(c: GateContext): Gate {
  const roots = c.expect.roots;
  return proxyGate(c, 'proxies-trust', `every sidecar trusts all ${roots.length} root(s)`, (r) => {
    const lacks = roots.filter((f) => !r.certs.roots.includes(f)).length;
    return lacks ? `trusts ${r.certs.roots.length} root(s), lacks ${lacks}` : null;
  });
}

/**
 * Every proxy's workload certificate is issued by the new intermediate. A leaf read from any proxy that chains to
 * it proves istiod signs with it (only istiod holds its key), which the evidence says.
 */
export function proxiesSignedByGate(c: GateContext): Gate {
  const signer = c.expect.signer;
  const judge: Judge = (r) => (r.certs.chain[1] === signer ? null : 'holds a certificate from another intermediate');
  return proxyGate(
    c,
    'proxies-signed-by',
    'every sidecar holds a certificate issued by the new intermediate',
    judge,
    judge,
  );
}

/** `verify` passes (with --proxies when a reader is given): rotate and verify agree on what done means. */
export function verifyPassesGate(c: GateContext): Gate {
  return {
    name: 'verify-passes',
    waitsFor: `kubectl istio-ca verify${c.reader ? ' --proxies' : ''} passes`,
    readsProxies: c.reader !== null,
    async check() {
      const now = c.now();
      const scoped = podNamespaces(c.scope);
      const snapshot = await takeSnapshot(c.client, {
        istioNamespace: c.scope.istioNamespace,
        now,
        ...(scoped ? { namespaces: [...new Set([c.scope.istioNamespace, ...scoped])] } : {}),
      });
      let result = runChecks(snapshot, now);
      if (c.reader) {
        const { readProxies } = await import('../proxies/read.js');
        const readings = await readProxies(c.reader, snapshot.sidecarPods, 8);
        const signer = snapshot.bundle?.signingCert?.fingerprintSha256 ?? null;
        const extra = proxyChecks(readings, snapshot.referenceRoots, signer);
        result = summarize({ ...result, checks: [...result.checks, ...extra] });
      }
      const failed = result.checks.filter((x) => x.status === 'fail');
      return {
        passed: result.passed,
        reread: failed.some((x) => x.id.startsWith('proxies.')),
        waitingFor: failed.map(
          (x) => `${x.id}: ${x.message}${x.items?.length ? ` (${x.items.slice(0, MAX_LISTED).join(', ')})` : ''}`,
        ),
        evidence: `verify: ${result.summary.ok} ok, ${result.summary.warn} warning(s), ${result.summary.fail} failed`,
      };
    },
  };
}

const FACTORIES: Record<GateName, (c: GateContext) => Gate> = {
  'istiod-ready': istiodReadyGate,
  'namespaces-trust': namespacesTrustGate,
  'cluster-trust-bundle': clusterTrustBundleGate,
  'proxies-trust': proxiesTrustGate,
  'proxies-signed-by': proxiesSignedByGate,
  'verify-passes': verifyPassesGate,
};

/** The gate called `name` for one cluster and phase. */
export function makeGate(name: GateName, c: GateContext): Gate {
  return FACTORIES[name](c);
}
