/**
 * Real workloads for the end-to-end tests: Istio's real pilot-agent (test/istiod/cmd/pilot-agent, no Envoy) as the
 * istio-proxy of every pod labelled `istio-ca.test/agent`, run by test/istiod/cmd/sidecar-kubelet against a real
 * istiod (./istiod.ts), and the mTLS continuity probe (test/istiod/cmd/mtls-probe) that handshakes between them
 * every 100 ms. See test/cluster/README.md, "Real workloads".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eEnv, kubectlOk, repoRoot, waitFor } from './cluster.js';
import type { Istiod } from './istiod.js';

/** The label that gives a pod a real agent (kwok then starts it unready: test/cluster/kwokconfig.go). */
export const REAL_AGENT_LABEL = 'istio-ca.test/agent';

/** The Go main packages of test/istiod this world runs. */
export type MeshBinary = 'pilot-agent' | 'sidecar-kubelet' | 'mtls-probe';

/**
 * Builds test/istiod/cmd/<name> into test/istiod/bin/<name> and returns its path. `go build` is incremental: when
 * the binary is current it only checks (about a second); otherwise it links from the Go build cache.
 */
export function meshBinary(name: MeshBinary): string {
  const dir = join(repoRoot(), 'test', 'istiod');
  const bin = join(dir, 'bin', name);
  const r = spawnSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', bin, `./cmd/${name}`], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (r.error) throw new Error(`building ${name}: cannot run go (${r.error.message}); Go 1.26 is required`);
  if (r.status !== 0) throw new Error(`building ${name} in ${dir} failed (go build exit ${r.status})`);
  return bin;
}

/** One pod whose agent is ready, as the sidecar-kubelet describes it in <pod dir>/ready.json. */
export interface ReadyWorkload {
  namespace: string;
  pod: string;
  uid: string;
  serviceAccount: string;
  statusPort: number;
  pid: number;
  /** The pod's directory: the agent's cwd, and where `kubectl exec -c istio-proxy` runs. */
  dir: string;
  /** pilot-agent's OUTPUT_CERTS folder: cert-chain.pem (leaf, intermediates, roots), key.pem, root-cert.pem. */
  certDir: string;
}

/** The pods whose agents are ready now, sorted by namespace/pod. */
export function readyWorkloads(podsDir: string): ReadyWorkload[] {
  const out: ReadyWorkload[] = [];
  if (!existsSync(podsDir)) return out;
  for (const ns of readdirSync(podsDir)) {
    for (const pod of readdirSync(join(podsDir, ns))) {
      const dir = join(podsDir, ns, pod);
      try {
        const m = JSON.parse(readFileSync(join(dir, 'ready.json'), 'utf8')) as Omit<
          ReadyWorkload,
          'dir' | 'certDir'
        > & {
          certDir: string;
        };
        out.push({ ...m, dir, certDir: join(dir, m.certDir) });
      } catch {
        /* not ready, or going away */
      }
    }
  }
  return out.sort((a, b) => `${a.namespace}/${a.pod}`.localeCompare(`${b.namespace}/${b.pod}`));
}

export interface SidecarKubeletOptions {
  istiod: Istiod;
  /** Namespaces whose labelled pods get a real agent. */
  namespaces: string[];
  /** SECRET_TTL of the agents (default 24h: only restarts re-issue certificates). */
  secretTtl?: string;
  /** Delay between an istio-ca-root-cert change and the mounted file changing (default 1.5 s). */
  mountDelayMs?: number;
  /** Extra env for every agent. */
  agentEnv?: Record<string, string>;
  /** Also mount roots from ClusterTrustBundles for pods that project one (the API must be served). */
  clusterTrustBundles?: boolean;
  stateDir?: string;
  kubeconfig?: string;
}

export interface SidecarKubelet {
  /** <state>/pods: one directory per running pod, <namespace>/<pod>-<uid prefix>. */
  podsDir: string;
  stateDir: string;
  logPath: string;
  log(): string;
  pid: number;
  /** Stops every agent, then the sidecar-kubelet. */
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

/** Starts the sidecar-kubelet and waits until it watches pods. */
export async function startSidecarKubelet(opts: SidecarKubeletOptions): Promise<SidecarKubelet> {
  const agent = meshBinary('pilot-agent');
  const bin = meshBinary('sidecar-kubelet');
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'istio-ca-mesh-'));
  mkdirSync(stateDir, { recursive: true });
  const logPath = join(stateDir, 'sidecar-kubelet.log');
  const logStream = createWriteStream(logPath, { flags: 'a' });
  const args = [
    '--kubeconfig',
    opts.kubeconfig ?? e2eEnv().kubeconfig,
    '--namespaces',
    opts.namespaces.join(','),
    '--state',
    stateDir,
    '--agent',
    agent,
    '--discovery-address',
    opts.istiod.discoveryAddress,
    '--istiod-san',
    opts.istiod.serverName,
    '--secret-ttl',
    opts.secretTtl ?? '24h',
    '--mount-delay',
    `${opts.mountDelayMs ?? 1500}ms`,
    ...Object.entries(opts.agentEnv ?? {}).flatMap(([k, v]) => ['--agent-env', `${k}=${v}`]),
    ...(opts.clusterTrustBundles ? ['--cluster-trust-bundles'] : []),
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(logStream, { end: false });
  child.stderr.pipe(logStream, { end: false });
  const synced = join(stateDir, 'sidecar-kubelet.synced');
  await waitFor(
    () => {
      if (child.exitCode !== null)
        throw new Error(`sidecar-kubelet exited ${child.exitCode}: ${readFileSync(logPath, 'utf8')}`);
      return existsSync(synced);
    },
    60_000,
    { message: 'the sidecar-kubelet to watch pods' },
  );
  return {
    podsDir: join(stateDir, 'pods'),
    stateDir,
    logPath,
    pid: child.pid!,
    log: () => readFileSync(logPath, 'utf8'),
    async stop() {
      await stopChild(child, 20_000);
      logStream.end();
    },
  };
}

/** One failed handshake as the probe records it. */
export interface ProbeFailure {
  time: string;
  client: string;
  server: string;
  error: string;
}

/** The probe's totals (its --out file, rewritten every second). */
export interface ProbeTotals {
  handshakes: number;
  failures: number;
  firstFailure: ProbeFailure | null;
  lastFailure: ProbeFailure | null;
  /** From the first failure to the last. */
  failingSeconds: number;
  workloads: number;
  rounds: number;
  skippedRounds: number;
  startedAt: string;
  updatedAt: string;
  handshakesPerSecond: number;
  byError: { error: string; count: number }[];
}

export interface MeshProbe {
  totalsPath: string;
  failuresPath: string;
  pid: number;
  /** The totals written last (up to a second old), null before the first write. */
  totals(): ProbeTotals | null;
  failures(): ProbeFailure[];
  /** Starts counting again from zero (SIGHUP). */
  reset(): Promise<void>;
  /** Stops the probe and returns its final totals. */
  stop(): Promise<ProbeTotals>;
}

/** Starts the continuity probe over the ready pods under podsDir. */
export async function startProbe(podsDir: string, outDir: string): Promise<MeshProbe> {
  const bin = meshBinary('mtls-probe');
  mkdirSync(outDir, { recursive: true });
  const totalsPath = join(outDir, 'totals.json');
  const failuresPath = join(outDir, 'failures.jsonl');
  const child = spawn(bin, ['--pods', podsDir, '--out', totalsPath, '--failures', failuresPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  const read = (): ProbeTotals | null => {
    try {
      return JSON.parse(readFileSync(totalsPath, 'utf8')) as ProbeTotals;
    } catch {
      return null;
    }
  };
  await waitFor(() => read(), 10_000, { message: 'the probe to write its totals' });
  return {
    totalsPath,
    failuresPath,
    pid: child.pid!,
    totals: read,
    failures: () =>
      existsSync(failuresPath)
        ? readFileSync(failuresPath, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as ProbeFailure)
        : [],
    async reset() {
      const before = read()?.startedAt;
      child.kill('SIGHUP');
      await waitFor(() => read()?.startedAt !== before, 5_000, { message: 'the probe to start counting again' });
    },
    async stop() {
      await stopChild(child, 5_000);
      const last = stdout.trim().split('\n').pop();
      return last ? (JSON.parse(last) as ProbeTotals) : read()!;
    },
  };
}

/**
 * The Istio namespace with an istiod Deployment (its pod template is what the istiod harness watches for a rollout
 * restart; ISTIO_MULTIROOT_MESH in its env is what the real istiod gets) and the mesh config, and the injected
 * namespaces for real workloads.
 */
export function controlPlaneManifest(
  ns: string,
  workloadNamespaces: string[],
  opts: { clusterTrustBundle?: boolean; multiRoot?: boolean; image?: string } = {},
): string {
  const env = [{ name: 'ISTIO_MULTIROOT_MESH', value: opts.multiRoot ? 'true' : 'false' }];
  if (opts.clusterTrustBundle) env.push({ name: 'ENABLE_CLUSTER_TRUST_BUNDLE_API', value: 'true' });
  const items = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    ...workloadNamespaces.map((name) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'istio-injection': 'enabled' } },
    })),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: ns, labels: { app: 'istiod', 'istio.io/rev': 'default' } },
      data: { mesh: `rootNamespace: ${ns}\ntrustDomain: cluster.local\n`, meshNetworks: 'networks: {}' },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'istiod', namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: ns, labels: { app: 'istiod', istio: 'pilot', 'istio.io/rev': 'default' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'istiod' } },
        template: {
          metadata: { labels: { app: 'istiod', istio: 'pilot', 'istio.io/rev': 'default' } },
          spec: {
            serviceAccountName: 'istiod',
            containers: [
              {
                name: 'discovery',
                image: opts.image ?? 'docker.io/istio/pilot:1.28.0',
                args: ['discovery'],
                env,
                volumeMounts: [{ name: 'cacerts', mountPath: '/etc/cacerts', readOnly: true }],
              },
            ],
            volumes: [{ name: 'cacerts', secret: { secretName: 'cacerts', optional: true } }],
          },
        },
      },
    },
  ];
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

export interface RealWorkload {
  namespace: string;
  /** Deployment and ServiceAccount name. */
  name: string;
  replicas?: number;
  /**
   * Mount root-cert.pem from istiod's ClusterTrustBundle (a projected volume, as Istio's injection template does with
   * ENABLE_CLUSTER_TRUST_BUNDLE_API) instead of the namespace's istio-ca-root-cert ConfigMap.
   */
  clusterTrustBundle?: boolean;
  /** Extra pod-template annotations (e.g. proxy.istio.io/config). */
  annotations?: Record<string, string>;
}

/** The ClusterTrustBundle istiod writes with ENABLE_CLUSTER_TRUST_BUNDLE_API (pilot/pkg/config/kube/clustertrustbundle). */
export const ISTIOD_TRUST_BUNDLE = 'istio.io:istiod-ca:root-cert';

/**
 * Deployments whose pods get a real agent: container istio-proxy (and app), annotation sidecar.istio.io/status as
 * after injection, each with its own ServiceAccount (so its own SPIFFE ID).
 */
export function realWorkloadsManifest(workloads: RealWorkload[]): string {
  const items = workloads.flatMap((w) => [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: w.name, namespace: w.namespace } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: w.name, namespace: w.namespace, labels: { app: w.name } },
      spec: {
        replicas: w.replicas ?? 1,
        selector: { matchLabels: { app: w.name } },
        template: {
          metadata: {
            labels: { app: w.name, [REAL_AGENT_LABEL]: 'pilot-agent', 'security.istio.io/tlsMode': 'istio' },
            annotations: {
              'sidecar.istio.io/status': '{"containers":["istio-proxy"],"initContainers":["istio-init"]}',
              ...w.annotations,
            },
          },
          spec: {
            serviceAccountName: w.name,
            terminationGracePeriodSeconds: 5,
            containers: [
              { name: 'app', image: 'registry.k8s.io/pause:3.10' },
              { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.28.0', args: ['proxy', 'sidecar'] },
            ],
            ...(w.clusterTrustBundle
              ? {
                  volumes: [
                    {
                      name: 'istiod-ca-cert',
                      projected: {
                        sources: [{ clusterTrustBundle: { name: ISTIOD_TRUST_BUNDLE, path: 'root-cert.pem' } }],
                      },
                    },
                  ],
                }
              : {}),
          },
        },
      },
    },
  ]);
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** Applies the workloads; returns when `count` agents are ready (default: one per replica). */
export async function applyRealWorkloads(
  podsDir: string,
  workloads: RealWorkload[],
  opts: { kubeconfig?: string; timeoutMs?: number } = {},
): Promise<ReadyWorkload[]> {
  await kubectlOk(['apply', '-f', '-'], {
    input: realWorkloadsManifest(workloads),
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  });
  const want = workloads.reduce((n, w) => n + (w.replicas ?? 1), 0);
  const names = new Set(workloads.map((w) => w.namespace));
  return waitFor(
    () => {
      const ready = readyWorkloads(podsDir).filter((r) => names.has(r.namespace));
      return ready.length >= want ? ready : null;
    },
    opts.timeoutMs ?? 120_000,
    { message: `${want} real agents ready`, intervalMs: 250 },
  );
}

/** Resident memory (VmRSS, KiB) of a process, 0 when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
