#!/usr/bin/env node
// The project's test command (npm test): unit tests, release tests on the packaged binary, then the end-to-end
// suite on a real test cluster started once for the run by scripts/test-cluster.
//   --unit-only / --e2e-only / --release-only   run one phase
//   SKIP_E2E=1                                   skip everything that needs Go: the cluster phase, and the
//                                                differential test against istiod's own bundle loading (its
//                                                oracle, test/istiod/cmd/bundle-oracle, is built before the unit tests)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const only = ['--unit-only', '--e2e-only', '--release-only'].find((a) => args.has(a));
const want = (phase) => !only || only === `--${phase}-only`;

function run(cmd, argv, env = {}, cwd = root) {
  const r = spawnSync(cmd, argv, { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function testFiles(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true })
    .filter((f) => String(f).endsWith('.test.js'))
    .map((f) => join(dir, String(f)))
    .sort();
}

/** Runs the phase's compiled tests; a phase with none is a failure (nothing built is not a pass). */
function nodeTest(files, env = {}, concurrency = 1, phase = 'unit') {
  if (files.length === 0) {
    console.error(`no compiled ${phase} tests under build/test/${phase}: run npm run build first (npm test does)`);
    return 1;
  }
  return run(process.execPath, ['--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files], env);
}

/** Builds a main package of the test/istiod module (istio.io/istio pin; the Go build cache is reused). */
function buildIstioModule(pkg, out) {
  return run(
    'go',
    ['build', '-trimpath', '-ldflags', '-s -w', '-o', out, pkg],
    { CGO_ENABLED: '0' },
    join(root, 'test/istiod'),
  );
}

let failed = 0;
if (want('unit')) {
  const unitEnv = {};
  if (process.env.SKIP_E2E !== '1') {
    // The differential test runs the plugin's validator against Istio's own CA loading code.
    console.log('building test/istiod/cmd/bundle-oracle (istiod bundle loading from istio.io/istio)…');
    if (buildIstioModule('./cmd/bundle-oracle', 'bin/bundle-oracle') !== 0) {
      console.error('building the bundle oracle failed: the differential test against istiod cannot run');
      process.exit(1);
    }
    unitEnv.ISTIO_CA_BUNDLE_ORACLE = join(root, 'test/istiod/bin/bundle-oracle');
  } else {
    console.log('SKIP_E2E=1: the differential test against istiod is skipped (it needs Go to build its oracle)');
  }
  console.log('\n== unit tests ==');
  failed |= nodeTest(testFiles('build/test/unit'), unitEnv, 2);
}

if (want('release') && testFiles('build/test/release').length > 0) {
  console.log('\n== packaging and release tests ==');
  if (run('npm', ['run', '--silent', 'package']) !== 0) {
    console.error('npm run package failed');
    failed = 1;
  } else {
    failed |= nodeTest(testFiles('build/test/release'), {}, 1, 'release');
  }
}

if (want('e2e') && process.env.SKIP_E2E !== '1') {
  console.log('\n== end-to-end tests on the real test cluster ==');
  // The real istiod for the rotation tests, built from the istio.io/istio module (Go build cache reused).
  console.log('building test/istiod (istio.io/istio pilot-discovery)…');
  if (buildIstioModule('.', 'bin/istiod') !== 0) {
    console.error('building test/istiod failed: the rotation tests cannot run');
    process.exit(1);
  }
  // The real workloads: Istio's pilot-agent, the sidecar-kubelet that runs it per pod, the mTLS probe (links only).
  for (const name of ['pilot-agent', 'sidecar-kubelet', 'mtls-probe']) {
    if (
      run(
        'go',
        ['build', '-trimpath', '-ldflags', '-s -w', '-o', `bin/${name}`, `./cmd/${name}`],
        { CGO_ENABLED: '0' },
        join(root, 'test/istiod'),
      ) !== 0
    ) {
      console.error(`building test/istiod/cmd/${name} failed: the real-workload tests cannot run`);
      process.exit(1);
    }
  }
  const up = spawnSync(join(root, 'scripts/test-cluster'), ['up'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (up.status !== 0) {
    console.error('scripts/test-cluster up failed: the end-to-end suite cannot run');
    process.exit(1);
  }
  const kubeconfig = up.stdout.trim().split('\n').pop();
  const kubectl = spawnSync(join(root, 'scripts/test-cluster'), ['kubectl-path'], {
    cwd: root,
    encoding: 'utf8',
  }).stdout.trim();
  try {
    failed |= nodeTest(
      testFiles('build/test/e2e'),
      {
        ISTIO_CA_E2E_KUBECONFIG: kubeconfig,
        ISTIO_CA_E2E_KUBECTL: kubectl,
      },
      1,
      'e2e',
    );
  } finally {
    if (process.env.KEEP_TEST_CLUSTER !== '1') run(join(root, 'scripts/test-cluster'), ['down']);
  }
}
process.exit(failed ? 1 : 0);
