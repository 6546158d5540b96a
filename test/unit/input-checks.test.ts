/**
 * Every flag is checked before anything is written: each case below is refused with exit 2, a message naming the
 * flag, and nothing on disk. File-system failures name the path and say what to do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';
import { joinDashedValues } from '../../src/cli.js';
import { fileSystemError } from '../../src/fsutil/errors.js';
import { parseDuration } from '../../src/duration.js';

const tmp = () => mkdtemp(join(tmpdir(), 'istio-ca-input-'));
const errno = (code: string) => Object.assign(new Error(`${code}: raw`), { code });

const generateRefusals: [string, string[], RegExp][] = [
  ['--size abc', ['--size', 'abc'], /--size "abc" is not a whole number/],
  ['--size 2048.5', ['--size', '2048.5'], /--size "2048.5" is not a whole number/],
  ['--intermediate-validity 1ms', ['--intermediate-validity', '1ms'], /too short: a CA must be valid for at least 1h/],
  ['--root-validity past 9999', ['--root-validity', '3000000d'], /ends after 9999-12-31/],
  ['--root-validity 0h', ['--root-validity', '0h'], /longer than zero/],
  ['a 300-character --root-cn', ['--root-cn', 'x'.repeat(300)], /--root-cn is 300 characters long; .* at most 64/],
  ['a 65-character --intermediate-cn', ['--intermediate-cn', 'é'.repeat(65)], /at most 64/],
  ['an empty --org', ['--org', ''], /--org needs a value/],
  ['an empty --root-cn', ['--root-cn', '  '], /--root-cn needs a value/],
  [
    '-i with a name the API server refuses',
    ['-i', 'Bad_NS!'],
    /-i\/--istio-namespace "Bad_NS!" is not a valid namespace/,
  ],
  ['an empty -i', ['-i', ''], /-i\/--istio-namespace "" is not a valid namespace/],
  ['--cluster without a value', ['--cluster'], /--cluster needs a value/],
  ['--cluster with an empty value', ['--cluster', 'east', '--cluster', ''], /--cluster needs a value/],
  [
    '--root-cn with --root-cert',
    ['--root-cert', 'r.pem', '--root-key', 'k.pem', '--root-cn', 'X'],
    /--root-cn cannot be used with --root-cert/,
  ],
  [
    '--root-validity with --root-cert',
    ['--root-cert', 'r.pem', '--root-key', 'k.pem', '--root-validity', '10d'],
    /--root-validity cannot be used with --root-cert/,
  ],
  [
    'a --root-cert that does not exist',
    ['--root-cert', '/nonexistent/r.pem', '--root-key', 'k.pem'],
    /cannot read --root-cert \/nonexistent\/r.pem: it does not exist \(ENOENT\)/,
  ],
  ['an empty --out-dir', ['--out-dir', ''], /--out-dir needs a value/],
];
for (const [why, argv, message] of generateRefusals) {
  test(`generate refuses ${why} with exit 2 and writes nothing`, async () => {
    const dir = await tmp();
    try {
      const out = argv.includes('--out-dir') ? [] : ['-d', join(dir, 'out')];
      const ec = argv.includes('--size') ? [] : ['--kty', 'EC'];
      const r = await cli(['generate', ...out, ...ec, ...argv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^error: /);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

const otherRefusals: [string, string[], RegExp][] = [
  ['status --fail-within -5d', ['status', '--fail-within', '-5d'], /--fail-within "-5d" is negative/],
  ['status --fail-within with no value', ['status', '--fail-within'], /--fail-within needs a value/],
  ['verify --namespace with no value', ['verify', '--namespace'], /--namespace needs a value/],
  ['verify -n with an invalid name', ['verify', '-n', 'Shop'], /-n "Shop" is not a valid namespace/],
  ['verify --proxy-concurrency abc', ['verify', '--proxy-concurrency', 'abc'], /--proxy-concurrency "abc"/],
  ['restart --concurrency 0', ['restart', '--concurrency', '0'], /--concurrency "0" is not a whole number from 1/],
  ['restart --qps abc', ['restart', '--qps', 'abc'], /--qps "abc" is not a number above 0/],
  ['restart --timeout 30d (beyond what a timer can wait)', ['restart', '--timeout', '30d'], /at most 7d/],
  ['restart -n with no value', ['restart', '-n'], /--namespace needs a value/],
  ['rotate --concurrency 1.5', ['rotate', '-f', 'x', '--concurrency', '1.5'], /--concurrency "1.5"/],
  ['rotate --gate-timeout -1m', ['rotate', '-f', 'x', '--gate-timeout', '-1m'], /--gate-timeout "-1m" is negative/],
  ['replace --from-dir with no value', ['replace', '--from-dir', '', '--yes'], /--from-dir needs a value/],
  ['inspect --at with no value', ['inspect', '.', '--at', ''], /--at needs a value/],
  ['inspect --expiry-warning 1e9d', ['inspect', '.', '--expiry-warning', '99999999d'], /too long/],
];
for (const [why, argv, message] of otherRefusals) {
  test(`${why} is refused with exit 2 before any connection`, async () => {
    const r = await cli(argv, { env: { KUBECONFIG: '/nonexistent/kubeconfig' } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stderr, new RegExp(`kubectl istio-ca ${argv[0]} --help`), 'the hint names the command');
  });
}

test('a dash-and-digit value belongs to the flag before it, not to yargs as short flags', () => {
  assert.deepEqual(joinDashedValues(['status', '--fail-within', '-5d', '-o', 'json']), [
    'status',
    '--fail-within=-5d',
    '-o',
    'json',
  ]);
  assert.deepEqual(joinDashedValues(['verify', '-n', 'a', '-A']), ['verify', '-n', 'a', '-A']);
});

test('durations are bounded: negative, zero and beyond the maximum are refused', () => {
  assert.throws(() => parseDuration('-5d', 'x'), /negative/);
  assert.throws(() => parseDuration('0s', 'x'), /longer than zero/);
  assert.throws(() => parseDuration('8d', 'x', { maxMs: 7 * 86_400_000 }), /at most 7d/);
  assert.throws(() => parseDuration('9'.repeat(400) + 'd', 'x'), /too long|longer than zero/);
  assert.equal(parseDuration('1h30m', 'x'), 5_400_000);
});

test('generate -d /proc/x is refused at once instead of spinning (Node mkdir -p loops there)', async () => {
  const started = Date.now();
  const r = await cli(['generate', '-d', '/proc/istio-ca-test/x', '--kty', 'EC']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cannot create directory \/proc\/istio-ca-test/);
  assert.ok(Date.now() - started < 5000);
});

test('a file in the way of --out-dir is named (ENOTDIR), not reported raw', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'file'), 'x');
    const r = await cli(['generate', '-d', join(dir, 'file', 'ca'), '--kty', 'EC']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${join(dir, 'file')} is not a directory \\(a file is in the way\\)`));
    const e = await cli(['generate', '-d', join(dir, 'file'), '--kty', 'EC']);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /is not a directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an --out-dir without write permission is refused naming the directory, before any key is made', async () => {
  const dir = await tmp();
  try {
    await mkdir(join(dir, 'locked'));
    await chmod(join(dir, 'locked'), 0o555);
    const argv = [
      join(process.cwd(), 'bin', 'kubectl-istio_ca'),
      'generate',
      '-d',
      join(dir, 'locked', 'ca'),
      '--kty',
      'EC',
    ];
    // root may write anywhere: drop the capabilities that let it (setpriv is in util-linux).
    const asRoot = process.getuid?.() === 0;
    const r = asRoot
      ? spawnSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, ...argv], {
          encoding: 'utf8',
        })
      : spawnSync(process.execPath, argv, { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `--out-dir ${join(dir, 'locked', 'ca')}: cannot create it in ${join(dir, 'locked')}: permission denied`,
      ),
    );
    assert.deepEqual(await readdir(join(dir, 'locked')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('file-system errors name the path and what to do, for every errno a user meets', () => {
  for (const [code, words] of [
    ['EEXIST', /already exists \(EEXIST\).*choose another path/],
    ['ENOENT', /does not exist \(ENOENT\).*check the path/],
    ['EACCES', /permission denied \(EACCES\).*fix its permissions/],
    ['EROFS', /read-only file system/],
    ['ENOSPC', /no space left/],
  ] as const) {
    const e = fileSystemError(errno(code), '/some/path', 'write');
    assert.match(`${e.message} ${e.hint}`, words, code);
    assert.match(e.message, /^cannot write \/some\/path: /);
    assert.doesNotMatch(e.message, /raw/);
  }
  assert.equal(fileSystemError(errno('EACCES'), '/p', 'write', true).exitCode, 2);
  assert.equal(fileSystemError(errno('EACCES'), '/p', 'write').exitCode, 1);
});
