#!/usr/bin/env node
// npm run demo: the recipe of replacing an Istio CA, done with kubectl istio-ca on the project's own test cluster.
// Starts the cluster (scripts/test-cluster up), applies the fixture mesh, then runs generate, backup, replace,
// restart, verify and status, printing each step as a user would see it. Needs Go (the cluster is built from Go
// modules). The test cluster runs no istiod: where istiod's namespace controller would publish the new root to
// every namespace's istio-ca-root-cert ConfigMap, the demo does it and says so.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\u001b[1m${s}\u001b[22m` : s);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : opts.input ? ['pipe', 'inherit', 'inherit'] : 'inherit', input: opts.input, env: { ...process.env, ...opts.env } });
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
for (const [kind, ns, name] of [['deployment', 'istio-system', 'istiod'], ['deployment', 'mesh-inject', 'productpage'], ['statefulset', 'mesh-rev', 'cache']]) {
  k('rollout', 'status', `${kind}/${name}`, '-n', ns, '--timeout=120s');
}

const work = mkdtempSync(join(tmpdir(), 'istio-ca-demo-'));
const ca = join(work, 'ca');
function step(title, args, allowFail = false) {
  console.log(`\n${bold(`== ${title}`)}\n$ kubectl istio-ca ${args.join(' ')}`);
  return sh(process.execPath, [join(root, 'bin/kubectl-istio_ca'), ...args], { env, allowFail });
}
function publishRoot() {
  const pem = readFileSync(join(ca, 'root-cert.pem'), 'utf8');
  const nss = ['istio-system', 'mesh-inject', 'mesh-rev', 'mesh-plain'];
  console.log(`\n${bold('== istiod publishes the new root')} (the demo does it for istiod: istio-ca-root-cert in ${nss.join(', ')})`);
  const items = nss.map((ns) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-ca-root-cert', namespace: ns, labels: { 'istio.io/config': 'true' } }, data: { 'root-cert.pem': pem } }));
  sh(kubectl, ['apply', '-f', '-'], { env, input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}
const scope = ['-n', 'istio-system', '-n', 'mesh-inject', '-n', 'mesh-rev', '-n', 'mesh-plain'];
try {
  step('1. generate a new root and intermediate', ['generate', '--out-dir', ca]);
  step('2. back up what the cluster holds today', ['backup', '--out-dir', join(work, 'backups')]);
  step('3. replace cacerts (validated, backed up, one guarded update)', ['replace', '--from-dir', ca, '--backup-dir', join(work, 'backups'), '--yes', '--allow-root-change']);
  publishRoot();
  step('4. verify: not done yet', ['verify', ...scope], true);
  step('5. restart the control plane, then every workload with a sidecar', ['restart', '--timeout', '3m']);
  step('6. verify again', ['verify', ...scope]);
  step('7. status', ['status']);
} finally {
  rmSync(work, { recursive: true, force: true });
  console.log(`\nThe cluster keeps running: scripts/test-cluster down stops it. kubeconfig: ${kubeconfig}`);
}
