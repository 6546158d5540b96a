/** Help as a kubectl user reads it: defaults shown, examples whole, global flags apart, help CMD, hints per command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './support/run-cli.js';
import { commands } from '../../src/commands/index.js';

const visible = commands.filter((c) => c.describe !== false);
const nameOf = (c: (typeof commands)[number]) => c.command.split(' ')[0];

test('help CMD prints the same as CMD --help, and help alone the same as --help', async () => {
  for (const c of visible) {
    const viaHelp = await cli(['help', nameOf(c)]);
    assert.equal(viaHelp.code, 0, `help ${nameOf(c)}: ${viaHelp.stderr}`);
    assert.equal(viaHelp.stdout, (await cli([nameOf(c), '--help'])).stdout);
  }
  assert.equal((await cli(['help'])).stdout, (await cli(['--help'])).stdout);
});

test('every example is printed whole on one line, under a comment saying what it does', async () => {
  for (const c of visible) {
    const out = (await cli([nameOf(c), '--help'])).stdout;
    for (const [cmd, what] of c.examples ?? []) {
      const line = cmd.replace(/\$0\b/g, 'kubectl istio-ca');
      assert.ok(out.split('\n').includes(`  ${line}`), `${nameOf(c)}: example not on one line: ${line}`);
      assert.ok(out.includes(`  # ${what}\n  ${line}`), `${nameOf(c)}: ${what}`);
    }
  }
});

test('defaults are shown where they apply, and never as "[default: false]"', async () => {
  const help = async (c: string) => (await cli([c, '--help'])).stdout;
  const generate = await help('generate');
  for (const d of ['istio-ca', 'RSA', '4096', 'P-256', 'Root CA', 'Intermediate CA', 'Istio', '87600h', '43800h'])
    assert.match(generate, new RegExp(`\\[default: ${d}\\]`), d);
  assert.match(await help('inspect'), /\[default: 30d\]/);
  assert.match(await help('verify'), /--proxy-concurrency .*\[default: 8\]/);
  assert.match(await help('rotate'), /--gate-timeout .*\[default: 10m\]/);
  for (const c of visible) {
    const out = await help(nameOf(c));
    assert.doesNotMatch(out, /\[default: false\]/, nameOf(c));
    assert.doesNotMatch(out, /--color .*\[default: true\]/, nameOf(c));
    assert.match(out, /^Global flags:\n {2}-i, --istio-namespace .*\[default: "istio-system"\]/m, nameOf(c));
  }
});

test('restart and rotate have the same --concurrency default', async () => {
  const concurrency = async (c: string) =>
    /--concurrency .*\[default: (\d+)\]/.exec((await cli([c, '--help'])).stdout)?.[1];
  assert.equal(await concurrency('restart'), '10');
  assert.equal(await concurrency('rotate'), '10');
});

test("a refused command line points to that command's --help", async () => {
  for (const [argv, hint] of [
    [['generate', '--colour'], 'kubectl istio-ca generate --help'],
    [['restart', '--timeout'], 'kubectl istio-ca restart --help'],
    [['frobnicate'], 'kubectl istio-ca --help'],
  ] as const) {
    const r = await cli([...argv]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`hint: .*${hint.replace(/ /g, ' ')}`), argv.join(' '));
  }
});

/** The lines of one group ("Options:", "Connection flags (as kubectl's):") of a help text. */
function group(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(title);
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start + 1, end < 0 ? undefined : end);
}
const CONNECTION = "Connection flags (as kubectl's):";

test('generate --cluster is a mesh cluster, listed once under its own options; generate shows no connection flags', async () => {
  const help = (await cli(['generate', '--help'])).stdout;
  assert.deepEqual(group(help, CONNECTION), [], 'no connection flags group');
  const cluster = help.split('\n').filter((l) => /--cluster\b/.test(l) && !/^\s+(#|kubectl)/.test(l));
  assert.equal(cluster.length, 1, cluster.join('\n'));
  assert.match(cluster[0], /one intermediate per cluster/);
  assert.ok(group(help, 'Options:').includes(cluster[0]), '--cluster is under Options');
  assert.doesNotMatch(help, /kubeconfig cluster|--kubeconfig|--server/);
});

test('commands that talk to a cluster list kubectl connection flags, --cluster among them as the kubeconfig cluster', async () => {
  for (const name of ['backup', 'replace', 'restart', 'verify', 'status', 'rotate']) {
    const flags = group((await cli([name, '--help'])).stdout, CONNECTION).join('\n');
    assert.match(flags, /--kubeconfig/, name);
    assert.match(flags, /--cluster +The kubeconfig cluster to use/, name);
    assert.match(flags, /-s, --server/, name);
  }
  const root = (await cli(['--help'])).stdout;
  assert.doesNotMatch(root, /--cluster +The kubeconfig cluster/, 'the root help lists no flag of one command');
  assert.match(root, /take kubectl's connection flags\s.*see COMMAND --help/s);
});

test('a connection flag given to a command that never connects is refused by name, --kubeconfig and --context too', async () => {
  for (const argv of [
    ['generate', '--kubeconfig', 'k', '-d', 'x'],
    ['generate', '--context', 'c', '-d', 'x'],
    ['inspect', '.', '--server', 'https://k'],
    ['version', '--as-group', 'g'],
    ['completion', 'bash', '--context', 'c'],
  ]) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, /does not talk to a cluster; connection flags do not apply to it/);
    assert.match(r.stderr, /hint: drop --(kubeconfig|context|server|as-group)/);
    assert.equal(r.stdout, '');
  }
});
