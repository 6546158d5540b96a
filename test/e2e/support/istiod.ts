/**
 * A real istiod (Istio's pilot-discovery, built from the istio.io/istio module in test/istiod) as a local process
 * against the test cluster, with what a pod would give it: the cacerts secret mounted the way the kubelet mounts
 * it (an atomic `..data` symlink swap, refreshed `syncDelayMs` after the secret changes) and a restart whenever the
 * istiod Deployment's pod template changes (a rollout restart).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { e2eEnv, repoRoot } from './cluster.js';
import { resolveConnection } from '../../../src/kube/connect.js';
import { HttpKubeClient } from '../../../src/kube/http.js';
import { Resources, type Secret, type Workload } from '../../../src/kube/resources.js';

export interface IstiodOptions {
  /** The Istio namespace; ISTIO_MULTIROOT_MESH is read from its istiod Deployment at every (re)start, as a pod gets it. */
  namespace: string;
  /** Delay between a cacerts change and the mounted files changing (the kubelet's sync). */
  syncDelayMs?: number;
  kubeconfig?: string;
  /** Build istiod with this Istio release version (what its /version answers), as Istio's release build stamps it. */
  version?: string;
}

export interface Istiod {
  /** Everything istiod logged so far, across restarts. */
  log(): string;
  restarts(): number;
  stop(): Promise<void>;
  rootCaDir: string;
  /** istiod's secure gRPC address (xDS and the CA, `--secureGRPCAddr`), what pilot-agent dials: 127.0.0.1:PORT. */
  discoveryAddress: string;
  /** istiod's monitoring listener (`--monitoringAddr`: /metrics, /version), 127.0.0.1:PORT. */
  monitoringAddress: string;
  /** A DNS name in istiod's serving certificate, for pilot-agent's ISTIOD_SAN. */
  serverName: string;
  logPath: string;
}

/**
 * Builds test/istiod/bin/istiod if needed (Go build cache reused) and returns its path. With `version`, a second
 * binary, bin/istiod-<version>, whose pkg/version is stamped by -ldflags -X as Istio's release build does (only a
 * relink): its /version answers "<version>-<revision>-Clean".
 */
export function istiodBinary(version?: string): string {
  const dir = join(repoRoot(), 'test', 'istiod');
  const bin = join(dir, 'bin', version ? `istiod-${version}` : 'istiod');
  const pkg = 'istio.io/istio/pkg/version';
  const stamp = version
    ? ` -X ${pkg}.buildVersion=${version} -X ${pkg}.buildGitRevision=test-build -X ${pkg}.buildStatus=Clean`
    : '';
  if (!existsSync(bin)) {
    const r = spawnSync('go', ['build', '-trimpath', '-ldflags', `-s -w${stamp}`, '-o', bin, '.'], {
      cwd: dir,
      stdio: 'inherit',
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    if (r.status !== 0) throw new Error(`building istiod in ${dir} failed (exit ${r.status})`);
  }
  return bin;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => {
        resolve(p);
      });
    });
    s.on('error', reject);
  });
}

/** Writes `files` into dir as the kubelet's AtomicWriter does: a new timestamped dir, then swap the ..data link. */
function kubeletWrite(dir: string, files: Record<string, Buffer>): void {
  const ts = join(dir, `..${new Date().toISOString().replace(/[:.]/g, '_')}.${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(ts);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(ts, name), bytes);
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(ts.slice(dir.length + 1), tmpLink);
  const old = existsSync(join(dir, '..data'))
    ? readdirSync(dir).filter((f) => f.startsWith('..') && f !== '..data' && f !== '..data_tmp' && join(dir, f) !== ts)
    : [];
  renameSync(tmpLink, join(dir, '..data'));
  for (const name of Object.keys(files)) {
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(join('..data', name), link);
  }
  for (const f of readdirSync(dir)) {
    if (!f.startsWith('..') && !(f in files)) rmSync(join(dir, f), { force: true });
  }
  for (const o of old) rmSync(join(dir, o), { recursive: true, force: true });
}

export async function startIstiod(opts: IstiodOptions): Promise<Istiod> {
  const bin = istiodBinary(opts.version);
  const kubeconfig = opts.kubeconfig ?? e2eEnv().kubeconfig;
  const work = mkdtempSync(join(tmpdir(), 'istiod-'));
  const rootCaDir = join(work, 'cacerts');
  mkdirSync(rootCaDir);
  const logPath = join(work, 'istiod.log');
  const logStream = createWriteStream(logPath);
  const client = new HttpKubeClient(await resolveConnection(kubeconfig, 'admin', {}));
  const ports = await Promise.all(Array.from({ length: 6 }, freePort));
  const syncDelay = opts.syncDelayMs ?? 1500;

  const readSecret = async () => {
    const s = await client.get<Secret>(Resources.secrets, opts.namespace, 'cacerts');
    return s ? Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])) : null;
  };
  const deployment = () => client.get<Workload>(Resources.deployments, opts.namespace, 'istiod');
  const templateOf = async () => JSON.stringify((await deployment())?.spec?.template ?? {});
  /** A literal env value of the Deployment's discovery container: what istiod's pod would get. */
  const envOf = async (name: string) =>
    (await deployment())?.spec?.template?.spec?.containers
      ?.find((c) => c.name === 'discovery')
      ?.env?.find((e) => e.name === name)?.value;

  // Mount as at pod start.
  let mounted = await readSecret();
  if (mounted) kubeletWrite(rootCaDir, mounted);
  let mountedKey = JSON.stringify(mounted);
  let template = await templateOf();

  let child: ChildProcess | null = null;
  let restarts = 0;
  const start = async () => {
    const multiRoot = (await envOf('ISTIO_MULTIROOT_MESH')) === 'true';
    // ENABLE_CLUSTER_TRUST_BUNDLE_API: istiod publishes its roots as a ClusterTrustBundle instead of ConfigMaps.
    const trustBundles = (await envOf('ENABLE_CLUSTER_TRUST_BUNDLE_API')) === 'true';
    const shape = trustBundles ? ', ENABLE_CLUSTER_TRUST_BUNDLE_API=true' : '';
    logStream.write(`\n=== istiod start ${new Date().toISOString()} (ISTIO_MULTIROOT_MESH=${multiRoot}${shape}) ===\n`);
    child = spawn(
      bin,
      [
        'discovery',
        '--kubeconfig',
        kubeconfig,
        `--httpAddr=127.0.0.1:${ports[0]}`,
        `--monitoringAddr=127.0.0.1:${ports[1]}`,
        `--grpcAddr=127.0.0.1:${ports[2]}`,
        `--secureGRPCAddr=127.0.0.1:${ports[3]}`,
        `--httpsAddr=127.0.0.1:${ports[4]}`,
        `--ctrlz_port=${ports[5]}`,
        '--ctrlz_address=127.0.0.1',
        '--domain=cluster.local',
        '--keepaliveMaxServerConnectionAge=30m',
      ],
      {
        cwd: work,
        env: {
          ...process.env,
          KUBECONFIG: kubeconfig,
          POD_NAMESPACE: opts.namespace,
          POD_NAME: 'istiod-local',
          REVISION: 'default',
          CLUSTER_ID: 'Kubernetes',
          ROOT_CA_DIR: rootCaDir,
          ISTIO_MULTIROOT_MESH: multiRoot ? 'true' : 'false',
          ENABLE_CLUSTER_TRUST_BUNDLE_API: trustBundles ? 'true' : 'false',
          ENABLE_LEADER_ELECTION: 'false',
          PILOT_CERT_PROVIDER: 'istiod',
          INJECTION_WEBHOOK_CONFIG_NAME: '',
          VALIDATION_WEBHOOK_CONFIG_NAME: '',
          PILOT_ENABLE_GATEWAY_API: 'false',
          PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER: 'false',
          ISTIOD_CUSTOM_HOST: 'localhost',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.pipe(logStream, { end: false });
    child.stderr!.pipe(logStream, { end: false });
  };
  const stopChild = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => {
        resolve();
      });
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
  };
  await start();

  let stopped = false;
  const pending: NodeJS.Timeout[] = [];
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        const data = await readSecret();
        const key = JSON.stringify(data);
        if (key !== mountedKey) {
          mountedKey = key;
          pending.push(
            setTimeout(() => {
              if (stopped) return;
              mounted = data;
              kubeletWrite(rootCaDir, data ?? {});
            }, syncDelay),
          );
        }
        const t = await templateOf();
        if (t !== template) {
          template = t;
          restarts++;
          await stopChild();
          // A new pod mounts the secret as it is now.
          mounted = await readSecret();
          mountedKey = JSON.stringify(mounted);
          kubeletWrite(rootCaDir, mounted ?? {});
          await start();
        }
      } catch {
        /* the API server may be briefly unavailable; try again */
      }
    }
  })();

  // Ready: /ready answers 200 once caches have synced.
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${ports[0]}/ready`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if ((child as ChildProcess | null)?.exitCode !== null && (child as ChildProcess | null)?.exitCode !== undefined)
      throw new Error(`istiod exited at start; log ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`istiod not ready after 120 s; log ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }

  return {
    rootCaDir,
    discoveryAddress: `127.0.0.1:${ports[3]}`,
    monitoringAddress: `127.0.0.1:${ports[1]}`,
    serverName: `istiod.${opts.namespace}.svc`,
    logPath,
    log: () => readFileSync(logPath, 'utf8'),
    restarts: () => restarts,
    async stop() {
      stopped = true;
      for (const t of pending) clearTimeout(t);
      await loop;
      await stopChild();
      client.close();
      logStream.end();
    },
  };
}

/** Log lines with which istiod rejects a cacerts update (ISTIO-CA.md). */
export const ISTIOD_REJECTIONS = [
  /Multi root is disabled/,
  /Updating new ROOT-CA not supported/,
  /Failed to update new Plug-in CA certs/,
  /failed reading root-cert\.pem/,
  /incomplete signing CA bundle/,
];
