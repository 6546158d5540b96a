/**
 * The packaged binary prints help texts rendered while its startup snapshot was built (src/cli.ts prerenderHelp):
 * they must be, byte for byte, what yargs renders for the same command line, and only stand in for it where they
 * apply. (Its own process: once prerendered, the texts serve every later run in it.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './support/run-cli.js';
import { helpCommandLines, prerenderHelp, renderHelp } from '../../src/cli.js';
import { commands } from '../../src/commands/index.js';

const names = commands.filter((c) => c.describe !== false).map((c) => c.command.split(' ')[0]);

test('every command has its help prerendered, --help and -h', () => {
  const lines = helpCommandLines().map((a) => a.join(' '));
  for (const n of names) for (const flag of ['--help', '-h']) assert.ok(lines.includes(`${n} ${flag}`), `${n} ${flag}`);
  assert.ok(lines.includes('--help') && lines.includes('-h'));
});

test('prerendered help prints the same bytes and exit code as yargs rendering it; anything else still goes to yargs', async () => {
  const argvs = [...helpCommandLines(), ['help'], ...names.map((n) => ['help', n]), ['generate', '--size', '--help']];
  const live = [];
  for (const argv of argvs) live.push(await cli(argv));
  const refused = await cli(['generate', '--kty']);
  assert.equal(refused.code, 2);
  await prerenderHelp();
  for (const [i, argv] of argvs.entries()) {
    const now = await cli(argv);
    assert.equal(now.code, live[i].code, argv.join(' '));
    assert.equal(now.code, 0, argv.join(' '));
    assert.equal(now.stdout, live[i].stdout, `stdout of ${argv.join(' ')}`);
    assert.equal(now.stderr, '', argv.join(' '));
    if (helpCommandLines().some((a) => a.join(' ') === argv.join(' ')))
      assert.equal(now.stdout, await renderHelp(argv), argv.join(' '));
  }
  assert.deepEqual(await cli(['generate', '--kty']), refused, 'a refusal is not help');
  assert.equal(await renderHelp(['version']), undefined, 'a command is not help');
});
