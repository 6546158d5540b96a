/** inspect reads what users hand it: stdin, DER, and refuses what is not a certificate file, quickly and clearly. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { cli } from './support/run-cli.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'istio-ca-inspect-'));
  assert.equal((await cli(['generate', '-d', join(dir, 'ca'), '--kty', 'EC'])).code, 0);
});
after(() => rm(dir, { recursive: true, force: true }));

const subjects = (stdout: string) =>
  (JSON.parse(stdout) as { certificates: { subject: string }[] }).certificates.map((c) => c.subject);

test('inspect - reads PEM from standard input', async () => {
  const r = await cli(['inspect', '-', '-o', 'json'], { stdin: await readFile(join(dir, 'ca', 'cert-chain.pem')) });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(subjects(r.stdout), ['O=Istio, CN=Intermediate CA', 'O=Istio, CN=Root CA']);
});

test('inspect reads a DER certificate, from a file and from standard input', async () => {
  const der = new X509Certificate(await readFile(join(dir, 'ca', 'ca-cert.pem'))).raw;
  await writeFile(join(dir, 'ca-cert.der'), der);
  const f = await cli(['inspect', join(dir, 'ca-cert.der'), '-o', 'json']);
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(subjects(f.stdout), ['O=Istio, CN=Intermediate CA']);
  const s = await cli(['inspect', '-', '-o', 'json'], { stdin: der });
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(subjects(s.stdout), ['O=Istio, CN=Intermediate CA']);
});

test('input over 4 MiB is refused with a clear message, from a file and from standard input', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x41);
  await writeFile(join(dir, 'big.pem'), big);
  for (const r of [await cli(['inspect', join(dir, 'big.pem')]), await cli(['inspect', '-'], { stdin: big })]) {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is larger than 4 MiB: not a certificate bundle/);
  }
});

test('a FIFO and a device are refused at once, as a file and inside a bundle directory', async () => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  const started = Date.now();
  const fifo = await cli(['inspect', join(dir, 'fifo')]);
  assert.equal(fifo.code, 2, fifo.stderr);
  assert.match(fifo.stderr, /is a FIFO \(named pipe\); only regular files are read/);
  const dev = await cli(['inspect', '/dev/urandom']);
  assert.equal(dev.code, 2, dev.stderr);
  assert.match(dev.stderr, /\/dev\/urandom is a device/);
  const bundle = join(dir, 'fifo-bundle');
  execFileSync('mkdir', [bundle]);
  execFileSync('mkfifo', [join(bundle, 'ca-cert.pem')]);
  const inDir = await cli(['inspect', bundle]);
  assert.equal(inDir.code, 2, inDir.stderr);
  assert.match(inDir.stderr, /ca-cert.pem is a FIFO/);
  assert.ok(Date.now() - started < 5000, 'no hang');
});

test('an unreadable file is told apart from a missing one', async () => {
  const missing = await cli(['inspect', join(dir, 'nope.pem')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope.pem does not exist/);
  const locked = join(dir, 'locked.pem');
  await writeFile(locked, await readFile(join(dir, 'ca', 'root-cert.pem')));
  await chmod(locked, 0o000);
  const argv = [join(process.cwd(), 'bin', 'kubectl-istio_ca'), 'inspect', locked];
  // root reads anything: drop the capabilities that let it (setpriv is in util-linux).
  const r =
    process.getuid?.() === 0
      ? spawnSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, ...argv], {
          encoding: 'utf8',
        })
      : spawnSync(process.execPath, argv, { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /locked.pem: it is not readable: permission denied \(EACCES\)/);
  assert.doesNotMatch(r.stderr, /does not exist/);
});

test('standard input that is neither PEM nor DER is refused', async () => {
  const r = await cli(['inspect', '-'], { stdin: 'hello\n' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /standard input holds no PEM block and is not a DER certificate/);
});
