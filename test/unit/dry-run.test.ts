import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildParser } from '../../src/cli.js';
import { parseDryRun, type DryRun } from '../../src/commands/dry-run.js';
import { RefusedError } from '../../src/errors.js';
import { cli } from './support/run-cli.js';

/** The args yargs hands to a command for `argv` (nothing runs). */
async function parsed(argv: string[]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> | undefined;
  await buildParser(argv, (_spec, args) => (got = args)).parseAsync(argv, {}, () => undefined);
  assert.ok(got, `a command was selected for ${argv.join(' ')}`);
  return got;
}

const cases: [string[], DryRun][] = [
  [['restart'], 'none'],
  [['restart', '--dry-run'], 'client'],
  [['restart', '--dry-run', '-o', 'json'], 'client'],
  [['restart', '-o', 'json', '--dry-run'], 'client'],
  [['restart', '--dry-run=client'], 'client'],
  [['restart', '--dry-run=server'], 'server'],
  [['restart', '--dry-run', 'server'], 'server'],
  [['restart', '--dry-run=none'], 'none'],
  [['replace', '-f', 'ca', '--dry-run=server', '--yes'], 'server'],
  [['replace', '-f', 'ca', '--dry-run', '--yes'], 'client'],
  [['rotate', '-f', 'ca', '--dry-run=client'], 'client'],
];
for (const [argv, want] of cases) {
  test(`${argv.join(' ')} is a ${want} dry run`, async () => {
    assert.equal(parseDryRun(await parsed(argv), { command: argv[0] }), want);
  });
}

test('the old boolean forms mean client and none, with a deprecation notice as kubectl gives', () => {
  const notices: string[] = [];
  assert.equal(parseDryRun({ 'dry-run': 'true' }, { command: 'restart', notice: (l) => notices.push(l) }), 'client');
  assert.equal(parseDryRun({ 'dry-run': 'false' }, { command: 'restart', notice: (l) => notices.push(l) }), 'none');
  assert.equal(notices.length, 2);
  assert.match(notices[0], /--dry-run=true is deprecated .* --dry-run=client/);
});

test('an unknown or repeated --dry-run value is refused, naming the value and the choices', () => {
  assert.throws(
    () => parseDryRun({ 'dry-run': 'serverr' }, { command: 'restart' }),
    (e: unknown) =>
      e instanceof RefusedError &&
      /"serverr".*"none", "server" or "client"/.test(e.message) &&
      /restart --help/.test(e.hint ?? ''),
  );
  assert.throws(() => parseDryRun({ 'dry-run': ['client', 'server'] }, { command: 'replace' }), RefusedError);
  assert.throws(
    () => parseDryRun({ 'dry-run': 'server' }, { command: 'rotate', serverSupported: false }),
    /rotate has no server-side dry run/,
  );
});

for (const argv of [
  ['restart', '--dry-run=serverr'],
  ['restart', '--dry-run=SERVER'],
  ['replace', '--from-dir', 'ca', '--yes', '--dry-run=yes'],
  ['rotate', '--from-dir', 'ca', '--yes', '--dry-run=server'],
]) {
  test(`${argv.join(' ')} is refused with exit 2 before any connection`, async () => {
    // No kubeconfig exists in this environment: reaching the cluster code would fail differently.
    const r = await cli(argv, { env: { KUBECONFIG: '/nonexistent/kubeconfig' } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /dry-run/);
    assert.doesNotMatch(r.stderr, /kubeconfig/);
  });
}

test('help lists the three values of --dry-run for each command that writes to a cluster', async () => {
  for (const cmd of ['replace', 'restart', 'rotate']) {
    const r = await cli([cmd, '--help']);
    assert.match(r.stdout, /--dry-run\s+none \(default\): write\. client \(also bare --dry-run\)/, cmd);
  }
});
