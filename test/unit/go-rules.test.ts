/**
 * What Go reads, not what Node reads: PEM framing as encoding/pem, inspect FILE on files that are not certificates,
 * and generate refusing a root whose name constraints would break the intermediate it signs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goPemBlocks } from '../../src/ca/pem.js';
import { cli } from './support/run-cli.js';

const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'go-rules-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const block = (label: string, body = 'AAAA') => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;

for (const [what, text, labels] of [
  ['two blocks on separate lines', `${block('A')}\n${block('B')}\n`, ['A', 'B']],
  ['no final line break', block('A'), ['A']],
  ['CRLF line ends', `${block('A')}\n${block('B')}\n`.replace(/\n/g, '\r\n'), ['A', 'B']],
  ['text before, between and after', `hello\n${block('A')}\nnotes\n${block('B')}\nbye`, ['A', 'B']],
  ['blocks joined on one line: both lost', `${block('A')}${block('B')}\n`, []],
  ['joined pair then a third block: only the third', `${block('A')}${block('B')}\n${block('C')}\n`, ['C']],
  ['an indented BEGIN line: lost', `  ${block('A')}\n`, []],
  ['BEGIN without END: lost', '-----BEGIN A-----\nAAAA\n', []],
  ['bad base64: lost', `${block('A', 'A*AA')}\n`, []],
  ['spaces after BEGIN and END: read', `-----BEGIN A-----  \nAAAA\n-----END A-----  \n`, ['A']],
] as const) {
  test(`Go's PEM decoder, ported: ${what}`, () => {
    assert.deepEqual(
      goPemBlocks(text).map((b) => b.label),
      labels,
    );
  });
}

test('inspect FILE refuses (exit 2) a CSR, a public key and a BEGIN line without END, naming what the file is', async () => {
  await withDir(async (dir) => {
    const key = join(dir, 'k.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key);
    openssl('req', '-new', '-key', key, '-subj', '/CN=x', '-out', join(dir, 'csr.pem'));
    openssl('pkey', '-in', key, '-pubout', '-out', join(dir, 'pub.pem'));
    await writeFile(join(dir, 'cut.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n');
    for (const [file, says] of [
      ['csr.pem', /certificate signing request/],
      ['pub.pem', /public key/],
      ['cut.pem', /cannot be read/],
    ] as const) {
      const r = await cli(['inspect', join(dir, file)]);
      assert.equal(r.code, 2, `${file}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, says);
      assert.doesNotMatch(r.stdout, /valid/);
    }
    const r = await cli(['inspect', key]);
    assert.equal(r.code, 0, 'a private key file is still described');
    assert.doesNotMatch(r.stdout + r.stderr, /BEGIN|MIG/);
  });
});

test('generate --root-cert refuses (exit 2, no file written) a root whose name constraints exclude istiod', async () => {
  await withDir(async (dir) => {
    const cnf = join(dir, 'x.cnf');
    await writeFile(
      cnf,
      '[req]\ndistinguished_name=dn\n[dn]\n[r]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' +
        'nameConstraints=critical,permitted;DNS:.example.com,permitted;URI:cluster.local\nsubjectKeyIdentifier=hash\n',
    );
    const key = join(dir, 'root-key.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key);
    const cert = join(dir, 'root-cert.pem');
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      '/CN=Constrained',
      '-config',
      cnf,
      '-extensions',
      'r',
      '-days',
      '36500',
      '-out',
      cert,
    );
    const out = join(dir, 'out');
    const r = await cli(['generate', '--kty', 'EC', '--root-cert', cert, '--root-key', key, '-d', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /NAME_CONSTRAINTS_VIOLATED.*istiod\.istio-system\.svc/);
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], 'no file was written');
  });
});
