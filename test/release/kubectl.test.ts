/**
 * The packaged binary as a kubectl plugin: kubectl finds it on PATH, runs it, and completes it through
 * kubectl_complete-istio_ca. PATH holds nothing but kubectl, the plugin and its completion wrapper, and the
 * environment is otherwise empty (env -i): Node.js is not needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { binary, findKubectl, isolatedBin, root, run, tempDir, which } from './helpers.js';

const kubectl = findKubectl();
const skip = kubectl ? false : 'no kubectl: neither scripts/test-cluster kubectl-path nor kubectl on PATH';

function envOnly(bin: string, home: string): string[] {
  return ['-i', `PATH=${bin}`, `HOME=${home}`];
}

test('kubectl plugin list finds kubectl-istio_ca, and Node.js is not on that PATH', { skip }, () => {
  const bin = isolatedBin({ kubectl: kubectl!, 'kubectl-istio_ca': binary });
  const home = tempDir('home');
  const node = run('/usr/bin/env', [...envOnly(bin, home), 'node', '-e', '0']);
  assert.equal(node.status, 127, 'node must not be found on the test PATH');
  const r = run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', 'plugin', 'list']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.split('\n').includes(join(bin, 'kubectl-istio_ca')), r.stdout);
});

test(
  'kubectl istio-ca generate writes a bundle that openssl verifies (env -i, no Node.js)',
  { skip: skip || (!which('openssl') && 'openssl not on PATH') },
  () => {
    const bin = isolatedBin({ kubectl: kubectl!, 'kubectl-istio_ca': binary });
    const home = tempDir('home');
    const out = join(tempDir('kgen'), 'ca');
    const r = run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', 'istio-ca', 'generate', '--out-dir', out], {
      cwd: home,
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/, 'no key bytes on the terminal');
    for (const key of ['root-key.pem', 'ca-key.pem']) assert.equal(statSync(join(out, key)).mode & 0o777, 0o600, key);
    const v = run('openssl', ['verify', '-CAfile', join(out, 'root-cert.pem'), join(out, 'ca-cert.pem')]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const chain = run('openssl', ['verify', '-CAfile', join(out, 'root-cert.pem'), join(out, 'cert-chain.pem')]);
    assert.equal(chain.status, 0, chain.stdout + chain.stderr);
    const version = run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', 'istio-ca', 'version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^kubectl istio-ca \d+\.\d+\.\d+ \(node v\d+/);
  },
);

test('kubectl completes `kubectl istio-ca` through kubectl_complete-istio_ca', { skip }, () => {
  const bin = isolatedBin({
    kubectl: kubectl!,
    'kubectl-istio_ca': binary,
    'kubectl_complete-istio_ca': join(root, 'completion', 'kubectl_complete-istio_ca'),
  });
  const home = tempDir('home');
  const r = run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', '__complete', 'istio-ca', 'gen']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^generate\tGenerate a new root CA/m);
  assert.match(r.stdout, /^:4$/m);
  const o = run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', '__complete', 'istio-ca', 'status', '-o', '']);
  assert.deepEqual(o.stdout.trimEnd().split('\n'), ['table', 'json', 'yaml', 'name', ':4']);
});

test("kubectl's plugin completion completes flag values: --kty, --curve, --dry-run=, directories", { skip }, () => {
  const bin = isolatedBin({
    kubectl: kubectl!,
    'kubectl-istio_ca': binary,
    'kubectl_complete-istio_ca': join(root, 'completion', 'kubectl_complete-istio_ca'),
  });
  const home = tempDir('home');
  const complete = (...words: string[]) =>
    run('/usr/bin/env', [...envOnly(bin, home), 'kubectl', '__complete', 'istio-ca', ...words]).stdout.trimEnd();
  assert.deepEqual(complete('generate', '--kty', '').split('\n'), ['RSA\tRSA key (default)', 'EC\tECDSA key', ':36']);
  assert.match(complete('generate', '--kty', 'EC', '--curve', 'P-3'), /^P-384\tNIST P-384\n:36$/);
  assert.match(complete('restart', '--dry-run=s'), /^--dry-run=server\t/);
  assert.equal(complete('generate', '--out-dir', ''), ':16');
});
