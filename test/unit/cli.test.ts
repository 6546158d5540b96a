import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';
import { VERSION } from '../../src/version.js';
import { parseDuration } from '../../src/duration.js';
import { parsePem, PemError } from '../../src/ca/pem.js';

test('version matches package.json and prints JSON with -o json', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
  assert.equal(VERSION, pkg.version);
  const r = await cli(['version', '-o', 'json']);
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.stdout).version, VERSION);
  const y = await cli(['version', '-o', 'yaml']);
  assert.match(y.stdout, new RegExp(`^version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
});

test('help and errors speak of "kubectl istio-ca"', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout + r.stderr, /kubectl istio-ca <command>/);
  const bad = await cli(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /kubectl istio-ca --help/);
  const none = await cli([]);
  assert.equal(none.code, 2);
});

test('an invalid -o value is refused with exit 2', async () => {
  const r = await cli(['version', '-o', 'xml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Invalid values/);
});

test('colour only on a TTY, never with NO_COLOR or --no-color', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-color-'));
  try {
    await cli(['generate', '-d', dir, '--kty', 'EC']);
    const esc = /\u001b\[/;
    assert.match((await cli(['inspect', dir], { tty: true })).stdout, esc);
    assert.doesNotMatch((await cli(['inspect', dir], { tty: false })).stdout, esc);
    assert.doesNotMatch((await cli(['inspect', dir], { tty: true, env: { NO_COLOR: '1' } })).stdout, esc);
    assert.doesNotMatch((await cli(['inspect', dir, '--no-color'], { tty: true })).stdout, esc);
    assert.doesNotMatch((await cli(['inspect', dir, '-o', 'json'], { tty: true })).stdout, esc);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('inspect of a missing path or a non-PEM file is refused with exit 2', async () => {
  const r = await cli(['inspect', '/nonexistent/bundle']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /does not exist/);
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-empty-'));
  try {
    const e = await cli(['inspect', dir]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /holds no bundle files/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('inspect of one PEM file lists each certificate and describes a key without its material', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-file-'));
  try {
    await cli(['generate', '-d', dir, '--kty', 'EC']);
    const r = await cli(['inspect', join(dir, 'cert-chain.pem'), '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout);
    assert.equal(data.kind, 'InspectFileResult');
    assert.deepEqual(
      data.certificates.map((c: { subject: string }) => c.subject),
      ['O=Istio, CN=Intermediate CA', 'O=Istio, CN=Root CA'],
    );
    for (const field of [
      'subject',
      'issuer',
      'serial',
      'fingerprintSha256',
      'key',
      'notBefore',
      'notAfter',
      'daysLeft',
      'isCA',
      'pathLen',
      'keyUsage',
      'extKeyUsage',
      'subjectKeyId',
      'authorityKeyId',
    ]) {
      assert.ok(field in data.certificates[0], field);
    }
    const k = await cli(['inspect', join(dir, 'ca-key.pem')]);
    assert.equal(k.code, 0);
    assert.match(k.stdout, /private key\s+EC P-256 \(material not shown\)/);
    const key = await readFile(join(dir, 'ca-key.pem'), 'utf8');
    for (const line of key.split('\n').filter((l) => l.length > 30 && !l.startsWith('-----')))
      assert.ok(!k.stdout.includes(line));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('generate prints a table of role, subject, key, not after and fingerprint, and JSON without key material', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-out-'));
  try {
    const t = await cli(['generate', '-d', join(dir, 't'), '--kty', 'EC']);
    assert.match(t.stdout, /ROLE\s+SUBJECT\s+KEY\s+NOT AFTER\s+SHA-256 FINGERPRINT/);
    assert.match(t.stdout, /^root\s+O=Istio, CN=Root CA\s+EC P-256/m);
    const j = await cli(['generate', '-d', join(dir, 'j'), '--kty', 'EC', '-o', 'json']);
    for (const [out, sub] of [
      [t.stdout + t.stderr, 't'],
      [j.stdout + j.stderr, 'j'],
    ] as const) {
      assert.doesNotMatch(out, /BEGIN [A-Z ]*PRIVATE KEY/);
      for (const f of ['ca-key.pem', 'root-key.pem']) {
        const key = await readFile(join(dir, sub, f), 'utf8');
        for (const line of key.split('\n').filter((l) => l.length > 30 && !l.startsWith('-----')))
          assert.ok(!out.includes(line), 'key bytes in output');
      }
    }
    assert.deepEqual(
      (await readdir(join(dir, 'j'))).filter((f) => f.includes('.tmp')),
      [],
      'no temp files left behind',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('durations: 87600h, 3650d, 1h30m, 500ms; nonsense is refused', () => {
  assert.equal(parseDuration('87600h', 'x'), 87600 * 3_600_000);
  assert.equal(parseDuration('3650d', 'x'), 3650 * 86_400_000);
  assert.equal(parseDuration('1h30m', 'x'), 90 * 60_000);
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.throws(() => parseDuration('10', 'timeout'), /--timeout "10" is not a duration/);
  assert.throws(() => parseDuration('0s', 'timeout'), /longer than zero/);
});

test('PEM: every block is decoded; a mismatched END is an error', () => {
  const two =
    '-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\nnoise\n-----BEGIN X-----\nAwQF\n-----END X-----\n';
  assert.deepEqual(
    parsePem(two).map((b) => [b.label, [...b.der]]),
    [
      ['CERTIFICATE', [0, 1, 2]],
      ['X', [3, 4, 5]],
    ],
  );
  assert.throws(() => parsePem('-----BEGIN A-----\nAAEC\n-----END B-----\n'), PemError);
});
