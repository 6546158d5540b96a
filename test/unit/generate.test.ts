import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';

const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'istio-ca-gen-'));
}

/** Public key of a certificate and of a private key, as openssl prints them. */
function keyMatches(certPath: string, keyPath: string): boolean {
  return openssl('x509', '-in', certPath, '-noout', '-pubkey') === openssl('pkey', '-in', keyPath, '-pubout');
}

for (const [label, flags, keyText] of [
  ['RSA 4096 (default)', [], 'Public-Key: (4096 bit)'],
  ['RSA 2048', ['--size', '2048'], 'Public-Key: (2048 bit)'],
  ['EC P-256', ['--kty', 'EC'], 'NIST CURVE: P-256'],
  ['EC P-384', ['--kty', 'EC', '--curve', 'P-384'], 'NIST CURVE: P-384'],
] as const) {
  test(`generate ${label}: openssl verify -x509_strict accepts it and each key matches its certificate`, async () => {
    const dir = await tmp();
    try {
      const out = join(dir, 'ca');
      const r = await cli(['generate', '--out-dir', out, ...flags, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const data = JSON.parse(r.stdout);
      assert.equal(data.rootGenerated, true);
      assert.deepEqual((await readdir(out)).sort(), [
        'ca-cert.pem',
        'ca-key.pem',
        'cert-chain.pem',
        'root-cert.pem',
        'root-key.pem',
      ]);
      assert.match(
        openssl('verify', '-x509_strict', '-CAfile', join(out, 'root-cert.pem'), join(out, 'ca-cert.pem')),
        /ca-cert.pem: OK/,
      );
      const text = openssl('x509', '-in', join(out, 'ca-cert.pem'), '-noout', '-text');
      assert.ok(text.includes(keyText), text);
      assert.match(text, /CA:TRUE, pathlen:0/);
      assert.match(text, /Certificate Sign, CRL Sign/);
      assert.match(text, /DNS:istiod\.istio-system\.svc/);
      assert.match(text, /Subject Key Identifier/);
      assert.match(text, /Authority Key Identifier/);
      assert.match(text, /Subject: O = Istio, CN = Intermediate CA/);
      const rootText = openssl('x509', '-in', join(out, 'root-cert.pem'), '-noout', '-text');
      assert.match(rootText, /Subject: O = Istio, CN = Root CA/);
      assert.ok(keyMatches(join(out, 'ca-cert.pem'), join(out, 'ca-key.pem')));
      assert.ok(keyMatches(join(out, 'root-cert.pem'), join(out, 'root-key.pem')));
      const chain = await readFile(join(out, 'cert-chain.pem'), 'utf8');
      assert.equal(
        chain,
        (await readFile(join(out, 'ca-cert.pem'), 'utf8')) + (await readFile(join(out, 'root-cert.pem'), 'utf8')),
      );
      for (const f of ['ca-key.pem', 'root-key.pem']) assert.equal((await stat(join(out, f))).mode & 0o777, 0o600, f);
      for (const f of ['ca-cert.pem', 'cert-chain.pem', 'root-cert.pem'])
        assert.equal((await stat(join(out, f))).mode & 0o777, 0o644, f);
      const serial = openssl('x509', '-in', join(out, 'ca-cert.pem'), '-noout', '-serial').trim().split('=')[1];
      assert.ok(serial.length >= 16 && parseInt(serial[0], 16) < 8, `positive serial of >= 64 bits: ${serial}`);
      const end = new Date(
        openssl('x509', '-in', join(out, 'root-cert.pem'), '-noout', '-enddate').trim().split('=')[1],
      );
      assert.ok(Math.abs(end.getTime() - Date.now() - 87600 * 3_600_000) < 5 * 60_000, 'root valid 87600h');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('generate --cluster makes one intermediate per cluster under one root, with L=<cluster>', async () => {
  const dir = await tmp();
  try {
    const r = await cli(['generate', '-d', dir, '--kty', 'EC', '--cluster', 'east', '--cluster', 'west', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['east', 'west']) {
      assert.deepEqual((await readdir(join(dir, c))).sort(), [
        'ca-cert.pem',
        'ca-key.pem',
        'cert-chain.pem',
        'root-cert.pem',
      ]);
      assert.match(
        openssl('verify', '-x509_strict', '-CAfile', join(dir, 'root-cert.pem'), join(dir, c, 'ca-cert.pem')),
        /OK/,
      );
      assert.match(openssl('x509', '-in', join(dir, c, 'ca-cert.pem'), '-noout', '-subject'), new RegExp(`L = ${c}`));
      assert.equal(
        await readFile(join(dir, c, 'root-cert.pem'), 'utf8'),
        await readFile(join(dir, 'root-cert.pem'), 'utf8'),
      );
      assert.ok(keyMatches(join(dir, c, 'ca-cert.pem'), join(dir, c, 'ca-key.pem')));
    }
    const data = JSON.parse(r.stdout);
    assert.deepEqual(
      data.certificates.map((c: { role: string; cluster: string | null }) => `${c.role}:${c.cluster}`),
      ['root:null', 'intermediate:east', 'intermediate:west'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('generate --root-cert/--root-key signs a new intermediate with an existing root and writes no root key', async () => {
  const dir = await tmp();
  try {
    assert.equal((await cli(['generate', '-d', join(dir, 'first'), '--kty', 'EC'])).code, 0);
    const r = await cli([
      'generate',
      '-d',
      join(dir, 'second'),
      '--kty',
      'EC',
      '--root-cert',
      join(dir, 'first/root-cert.pem'),
      '--root-key',
      join(dir, 'first/root-key.pem'),
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).rootGenerated, false);
    assert.deepEqual((await readdir(join(dir, 'second'))).sort(), [
      'ca-cert.pem',
      'ca-key.pem',
      'cert-chain.pem',
      'root-cert.pem',
    ]);
    assert.match(
      openssl('verify', '-x509_strict', '-CAfile', join(dir, 'first/root-cert.pem'), join(dir, 'second/ca-cert.pem')),
      /OK/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('generate refuses to overwrite existing files (exit 2) and leaves them byte-identical; --force overwrites', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'ca-key.pem'), 'precious', { mode: 0o600 });
    const r = await cli(['generate', '-d', dir, '--kty', 'EC']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to overwrite existing files: .*ca-key\.pem/);
    assert.match(r.stderr, /--force/);
    assert.deepEqual(await readdir(dir), ['ca-key.pem']);
    assert.equal(await readFile(join(dir, 'ca-key.pem'), 'utf8'), 'precious');
    assert.equal((await cli(['generate', '-d', dir, '--kty', 'EC', '--force'])).code, 0);
    assert.notEqual(await readFile(join(dir, 'ca-key.pem'), 'utf8'), 'precious');
    assert.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const [why, argv, message] of [
  ['an unknown key type', ['--kty', 'DSA'], /--kty DSA is not supported/],
  ['an RSA size istiod does not take', ['--size', '1024'], /--size 1024 is not supported/],
  ['a curve istiod does not take', ['--kty', 'EC', '--curve', 'P-521'], /--curve P-521 is not supported/],
  ['--curve with RSA', ['--curve', 'P-256'], /--curve applies to --kty EC only/],
  ['a malformed duration', ['--root-validity', '10 years'], /--root-validity "10 years" is not a duration/],
  ['an intermediate outliving the root', ['--root-validity', '10d', '--intermediate-validity', '20d'], /outlive/],
  ['--root-cert without --root-key', ['--root-cert', 'x.pem'], /go together/],
  ['an invalid cluster name', ['--cluster', 'East_1'], /not a valid name/],
  ['an unknown flag', ['--colour'], /Unknown argument/],
] as const) {
  test(`generate refuses ${why} with exit 2 and writes nothing`, async () => {
    const dir = await tmp();
    try {
      const r = await cli(['generate', '-d', join(dir, 'out'), ...argv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^error: /);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('generate --root-key refuses a key that does not match --root-cert', async () => {
  const dir = await tmp();
  try {
    await cli(['generate', '-d', join(dir, 'a'), '--kty', 'EC']);
    await cli(['generate', '-d', join(dir, 'b'), '--kty', 'EC']);
    const r = await cli([
      'generate',
      '-d',
      join(dir, 'c'),
      '--root-cert',
      join(dir, 'a/root-cert.pem'),
      '--root-key',
      join(dir, 'b/root-key.pem'),
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /does not belong to/);
    await assert.rejects(stat(join(dir, 'c')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('generate uses the key pairs started before its certificate core loaded, in order: root first', async () => {
  const { startKeys, keysNeeded } = await import('../../src/ca/keygen.js');
  const { runGenerate } = await import('../../src/generate/run.js');
  const { KeyObject, X509Certificate } = await import('node:crypto');
  const { generateOptions } = await import('../../src/commands/generate.js');
  const dir = await mkdtemp(join(tmpdir(), 'gen-keys-'));
  try {
    const now = new Date();
    const opts = generateOptions({ kty: 'EC', 'out-dir': dir, cluster: ['east', 'west'] }, 'istio-system', now);
    assert.equal(keysNeeded(true, 2), 3);
    assert.equal(keysNeeded(false, 0), 1);
    const source = startKeys(opts.key, keysNeeded(true, opts.clusters.length));
    const started: CryptoKeyPair[] = [];
    for (let i = 0; i < 3; i++) started.push(await source.next());
    const handed: CryptoKeyPair[] = [];
    const keys = {
      spec: opts.key,
      next: () => {
        const k = started.shift();
        if (!k) throw new Error('generate asked for more key pairs than it needs');
        handed.push(k);
        return Promise.resolve(k);
      },
    };
    await runGenerate(opts, { now: () => now, keys });
    assert.equal(handed.length, 3);
    const spki = async (k: CryptoKeyPair) => KeyObject.from(k.publicKey).export({ type: 'spki', format: 'der' });
    const certKey = async (path: string) => {
      return new X509Certificate(await readFile(path)).publicKey.export({ type: 'spki', format: 'der' });
    };
    assert.deepEqual(await certKey(join(dir, 'root-cert.pem')), await spki(handed[0]), 'the root has the first pair');
    assert.deepEqual(await certKey(join(dir, 'east', 'ca-cert.pem')), await spki(handed[1]), 'east the second');
    assert.deepEqual(await certKey(join(dir, 'west', 'ca-cert.pem')), await spki(handed[2]), 'west the third');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
