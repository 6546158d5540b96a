#!/usr/bin/env node
// npm run demo: the recipe of replacing an Istio CA, done with kubectl istio-ca on the project's own test cluster.
// Starts the cluster (scripts/test-cluster up), applies the fixture mesh, then runs generate, backup, replace,
// restart, verify and status, printing each step as a user would see it. Needs Go (the cluster is built from Go
// modules) and runs Istio's real istiod (test/istiod, built from the istio.io/istio module) as a process against it:
// istiod starts self-signed, reloads or restarts with cacerts, and publishes istio-ca-root-cert to every namespace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\u001b[1m${s}\u001b[22m` : s);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? root,
    encoding: 'utf8',
    stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : opts.input ? ['pipe', 'inherit', 'inherit'] : 'inherit',
    input: opts.input,
    env: { ...process.env, ...opts.env },
  });
  if (r.status !== 0 && !opts.allowFail) {
    console.error(`demo: ${cmd} ${args.join(' ')} exited ${r.status}`);
    process.exit(1);
  }
  return r;
}

console.log(bold('== starting the test cluster (first run builds it from Go modules) =='));
const up = sh(join(root, 'scripts/test-cluster'), ['up'], { capture: true });
const kubeconfig = up.stdout.trim().split('\n').pop();
const kubectl = sh(join(root, 'scripts/test-cluster'), ['kubectl-path'], { capture: true }).stdout.trim();
const env = { KUBECONFIG: kubeconfig };
sh('npm', ['run', '--silent', 'build']);
const k = (...args) => sh(kubectl, args, { env });
k('apply', '-f', 'test/fixtures/mesh.yaml');
for (const [kind, ns, name] of [
  ['deployment', 'istio-system', 'istiod'],
  ['deployment', 'mesh-inject', 'productpage'],
  ['statefulset', 'mesh-rev', 'cache'],
]) {
  k('rollout', 'status', `${kind}/${name}`, '-n', ns, '--timeout=120s');
}

console.log(bold('== building and starting the real istiod (istio.io/istio pilot-discovery) =='));
sh('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', 'bin/istiod', '.'], {
  env: { CGO_ENABLED: '0' },
  cwd: join(root, 'test/istiod'),
});
process.env.ISTIO_CA_E2E_KUBECONFIG = kubeconfig;
process.env.ISTIO_CA_E2E_KUBECTL = kubectl;
const { startIstiod } = await import('../build/test/e2e/support/istiod.js');
const istiod = await startIstiod({ namespace: 'istio-system', syncDelayMs: 2000 });

console.log(bold('== real workloads: Istio pilot-agent per pod (no Envoy) and an mTLS probe between them =='));
const mesh = await import('../build/test/e2e/support/mesh.js');
const kubelet = await mesh.startSidecarKubelet({ istiod, namespaces: ['mesh-inject', 'mesh-rev'], secretTtl: '24h' });
await mesh.applyRealWorkloads(kubelet.podsDir, [
  { namespace: 'mesh-inject', name: 'real-a' },
  { namespace: 'mesh-inject', name: 'real-b' },
  { namespace: 'mesh-rev', name: 'real-c' },
]);
const probe = await mesh.startProbe(kubelet.podsDir, mkdtempSync(join(tmpdir(), 'istio-ca-demo-probe-')));
const probeLine = () => {
  const t = probe.totals();
  return t
    ? `probe: ${t.failures} failed of ${t.handshakes} mTLS handshakes between ${t.workloads} real workloads`
    : '';
};

const work = mkdtempSync(join(tmpdir(), 'istio-ca-demo-'));
const ca = join(work, 'ca');
function step(title, args, allowFail = false) {
  console.log(`\n${bold(`== ${title}`)}   (${probeLine()})\n$ kubectl istio-ca ${args.join(' ')}`);
  return sh(process.execPath, [join(root, 'bin/kubectl-istio_ca'), ...args], { env, allowFail });
}
const scope = ['-n', 'istio-system', '-n', 'mesh-inject', '-n', 'mesh-rev', '-n', 'mesh-plain'];
try {
  step('0. status before: istiod runs with its self-signed CA', ['status']);
  step('1. generate a new root and intermediate', ['generate', '--out-dir', ca]);
  step('2. back up what the cluster holds today', ['backup', '--out-dir', join(work, 'backups')]);
  step('3. replace: validated, backed up, one guarded update (a new root: the flag accepts the outage)', [
    'replace',
    '--from-dir',
    ca,
    '--backup-dir',
    join(work, 'backups'),
    '--yes',
    '--allow-root-change',
  ]);
  step('4. verify: not done yet (istiod has not switched; workloads hold the old root)', ['verify', ...scope], true);
  step('5. restart the control plane, then every workload with a sidecar', ['restart', '--timeout', '3m']);
  console.log('\n(waiting for istiod to publish the new root to every namespace)');
  for (let i = 0; i < 60; i++) {
    if (
      sh(process.execPath, [join(root, 'bin/kubectl-istio_ca'), 'verify', ...scope, '-o', 'json'], {
        env,
        allowFail: true,
        capture: true,
      }).status === 0
    )
      break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  step('6. verify again', ['verify', ...scope]);
  step('7. status', ['status']);
  console.log(
    `\nistiod's log: ${istiod
      .log()
      .split('\n')
      .filter((l) => /cacerts|CA cert|root cert|Use local CA/i.test(l))
      .slice(-6)
      .join('\n')}`,
  );
  const t = await probe.stop();
  console.log(
    `\n${bold('== the probe over the whole run')}: ${t.failures} failed of ${t.handshakes} handshakes` +
      (t.firstFailure ? `, from ${t.firstFailure.time} to ${t.lastFailure.time}: ${t.firstFailure.error}` : ''),
  );
} finally {
  await kubelet.stop();
  await istiod.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(`\nThe cluster keeps running: scripts/test-cluster down stops it. kubeconfig: ${kubeconfig}`);
}
