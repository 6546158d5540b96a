/**
 * The process behind `scripts/test-mesh up`: a test mesh with real workloads on the test cluster, kept running until
 * SIGTERM. In order (each step named in errors): apply istio-system and two injected namespaces, plug a CA
 * (`kubectl istio-ca generate`, root A) unless --self-signed, start the real istiod, start the sidecar-kubelet
 * (a real pilot-agent per pod), apply N real workloads and wait for their agents, start the continuity probe.
 * Writes <state>/world.json once everything is ready; on SIGTERM stops the probe, the agents and istiod.
 *
 *   node build/test/e2e/support/mesh-world.js --state DIR --kubeconfig K --kubectl KUBECTL
 *        [--workloads N] [--secret-ttl D] [--self-signed]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kubectlOk, repoRoot } from './cluster.js';
import { startIstiod, type Istiod } from './istiod.js';
import {
  applyRealWorkloads,
  controlPlaneManifest,
  startProbe,
  startSidecarKubelet,
  type MeshProbe,
  type RealWorkload,
  type SidecarKubelet,
} from './mesh.js';

export const ISTIO_NAMESPACE = 'istio-system';
export const WORKLOAD_NAMESPACES = ['real-a', 'real-b'];

/** What `scripts/test-mesh` reads back: where everything is. */
export interface WorldInfo {
  kubeconfig: string;
  istioNamespace: string;
  namespaces: string[];
  workloads: number;
  secretTtl: string;
  caDir: string | null;
  podsDir: string;
  probe: { pid: number; totals: string; failures: string };
  istiod: { log: string; discoveryAddress: string };
  sidecarKubelet: { pid: number; log: string };
  readyAt: string;
  upSeconds: number;
}

async function step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now();
  process.stderr.write(`[test-mesh] ${name}…\n`);
  try {
    const v = await fn();
    process.stderr.write(`[test-mesh] ${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
    return v;
  } catch (e) {
    throw new Error(`step "${name}" failed: ${(e as Error).message}`, { cause: e });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      state: { type: 'string' },
      kubeconfig: { type: 'string' },
      kubectl: { type: 'string' },
      workloads: { type: 'string', default: '4' },
      'secret-ttl': { type: 'string', default: '24h' },
      'self-signed': { type: 'boolean', default: false },
    },
  });
  const state = values.state!;
  const workloads = Number(values.workloads);
  if (!state || !values.kubeconfig || !values.kubectl || !Number.isInteger(workloads) || workloads < 2) {
    process.stderr.write('mesh-world: --state, --kubeconfig, --kubectl and --workloads N (N >= 2) are required\n');
    process.exit(2);
  }
  process.env.ISTIO_CA_E2E_KUBECONFIG = values.kubeconfig;
  process.env.ISTIO_CA_E2E_KUBECTL = values.kubectl;
  const t0 = Date.now();
  let istiod: Istiod | null = null;
  let kubelet: SidecarKubelet | null = null;
  let probe: MeshProbe | null = null;
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const totals = await probe?.stop().catch(() => null);
    if (totals) process.stderr.write(`[test-mesh] probe totals: ${JSON.stringify(totals)}\n`);
    await kubelet?.stop().catch(() => undefined);
    await istiod?.stop().catch(() => undefined);
    rmSync(join(state, 'world.json'), { force: true });
    process.exit(code);
  };
  process.on('SIGTERM', () => void stopAll(0));
  process.on('SIGINT', () => void stopAll(0));

  try {
    mkdirSync(state, { recursive: true });
    const manifest = JSON.parse(controlPlaneManifest(ISTIO_NAMESPACE, WORKLOAD_NAMESPACES)) as {
      items: { kind: string }[];
    };
    // A mesh left by an earlier run (its pods predate the new CA) goes first: every run starts from nothing.
    await step('remove what an earlier test mesh left', () =>
      kubectlOk(['delete', 'namespace', ISTIO_NAMESPACE, ...WORKLOAD_NAMESPACES, '--ignore-not-found', '--wait=true'], {
        timeoutMs: 180_000,
      }),
    );
    // Namespaces first: cacerts must exist before the istiod Deployment's pod starts, as in a cluster.
    await step('apply istio-system and the injected namespaces', () =>
      kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({ ...manifest, items: manifest.items.filter((i) => i.kind === 'Namespace') }),
      }),
    );
    let caDir: string | null = null;
    if (!values['self-signed']) {
      caDir = join(state, 'ca');
      const dir = caDir;
      await step('plug a CA into cacerts (kubectl istio-ca generate, root A)', async () => {
        rmSync(dir, { recursive: true, force: true });
        execFileSync(
          process.execPath,
          [join(repoRoot(), 'bin', 'kubectl-istio_ca'), 'generate', '-d', dir, '--kty', 'EC'],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        await kubectlOk(['delete', 'secret', 'cacerts', '-n', ISTIO_NAMESPACE, '--ignore-not-found']);
        await kubectlOk([
          'create',
          'secret',
          'generic',
          'cacerts',
          '-n',
          ISTIO_NAMESPACE,
          ...['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'].map((f) => `--from-file=${join(dir, f)}`),
        ]);
      });
    }
    await step('apply the istiod Deployment and mesh config', () =>
      kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(manifest) }),
    );
    istiod = await step('start the real istiod', () => startIstiod({ namespace: ISTIO_NAMESPACE }));
    const secretTtl = values['secret-ttl'];
    kubelet = await step('start the sidecar-kubelet (real pilot-agents)', () =>
      startSidecarKubelet({ istiod: istiod!, namespaces: WORKLOAD_NAMESPACES, secretTtl, stateDir: state }),
    );
    const list: RealWorkload[] = Array.from({ length: workloads }, (_, i) => ({
      namespace: WORKLOAD_NAMESPACES[i % WORKLOAD_NAMESPACES.length],
      name: `w${i}`,
    }));
    await step(`apply ${workloads} real workloads and wait for their agents`, () =>
      applyRealWorkloads(kubelet!.podsDir, list, { timeoutMs: 60_000 + workloads * 5_000 }),
    );
    probe = await step('start the mTLS continuity probe', () => startProbe(kubelet!.podsDir, join(state, 'probe')));
    const info: WorldInfo = {
      kubeconfig: values.kubeconfig,
      istioNamespace: ISTIO_NAMESPACE,
      namespaces: WORKLOAD_NAMESPACES,
      workloads,
      secretTtl,
      caDir,
      podsDir: kubelet.podsDir,
      probe: { pid: probe.pid, totals: probe.totalsPath, failures: probe.failuresPath },
      istiod: { log: istiod.logPath, discoveryAddress: istiod.discoveryAddress },
      sidecarKubelet: { pid: kubelet.pid, log: kubelet.logPath },
      readyAt: new Date().toISOString(),
      upSeconds: (Date.now() - t0) / 1000,
    };
    writeFileSync(join(state, 'world.json'), JSON.stringify(info, null, 2) + '\n');
    process.stderr.write(`[test-mesh] ready in ${info.upSeconds.toFixed(1)}s\n`);
  } catch (e) {
    process.stderr.write(`[test-mesh] ERROR: ${(e as Error).message}\n`);
    if (kubelet) process.stderr.write(`[test-mesh] sidecar-kubelet log: ${kubelet.logPath}\n`);
    if (istiod) process.stderr.write(`[test-mesh] istiod log: ${istiod.logPath}\n`);
    await stopAll(1);
  }
}

/** Reads world.json (for scripts). */
export function readWorld(state: string): WorldInfo {
  return JSON.parse(readFileSync(join(state, 'world.json'), 'utf8')) as WorldInfo;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
