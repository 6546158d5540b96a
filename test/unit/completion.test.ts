/**
 * The completion scripts, sourced in a real bash, zsh and fish (all required: CI installs zsh and fish), completing
 * through the plugin's own __complete: command names, flag values (--kty, --curve, -o, --dry-run, contexts),
 * directories for *-dir flags, files for inspect.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';

let dir: string;
let env: NodeJS.ProcessEnv;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'istio-ca-completion-'));
  await mkdir(join(dir, 'bin'));
  await symlink(join(process.cwd(), 'bin', 'kubectl-istio_ca'), join(dir, 'bin', 'kubectl-istio_ca'));
  await mkdir(join(dir, 'work', 'subdir'), { recursive: true });
  await writeFile(join(dir, 'work', 'somefile.pem'), '');
  await writeFile(
    join(dir, 'kubeconfig'),
    'apiVersion: v1\nkind: Config\ncontexts:\n- name: east\n  context: {cluster: c, user: u}\n- name: west\n  context: {cluster: c, user: u}\n',
  );
  env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, KUBECONFIG: join(dir, 'kubeconfig') };
});
after(() => rm(dir, { recursive: true, force: true }));

async function script(shell: string): Promise<string> {
  const r = await cli(['completion', shell]);
  assert.equal(r.code, 0, r.stderr);
  const path = join(dir, `completion.${shell}`);
  await writeFile(path, r.stdout);
  return path;
}

/** COMPREPLY for COMP_WORDS = words (the last is the word under the cursor), in a real bash. */
async function bashComplete(words: string[]): Promise<string[]> {
  const path = await script('bash');
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync(
    'bash',
    [
      '--norc',
      '-c',
      `source ${path} && COMP_WORDS=(kubectl-istio_ca ${quoted}) && COMP_CWORD=${words.length} && _kubectl_istio_ca && printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8', env, cwd: join(dir, 'work') },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

/** What the zsh function hands to _describe / _files for `words`, with those two recorded instead of run. */
async function zshComplete(words: string[]): Promise<string[]> {
  const path = await script('zsh');
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync(
    'zsh',
    [
      '-f',
      '-c',
      [
        'autoload -U compinit && compinit -u -D',
        `source ${path}`,
        '[[ $_comps[kubectl-istio_ca] == _kubectl_istio_ca ]] || { print "not registered"; exit 3 }',
        '_describe() { local name=${@[-1]}; print -rl -- "${(@P)name}" }',
        '_files() { print -r -- "_files $*" }',
        `words=(kubectl-istio_ca ${quoted}); CURRENT=${words.length + 1}; _kubectl_istio_ca`,
      ].join('\n'),
    ],
    { encoding: 'utf8', env, cwd: join(dir, 'work') },
  );
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r.stdout
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean);
}

test('completion bash|zsh|fish|powershell print a script; bash -n and zsh -n find no error', async () => {
  for (const shell of ['bash', 'zsh', 'fish', 'powershell']) {
    const r = await cli(['completion', shell]);
    assert.equal(r.code, 0, `${shell}: ${r.stderr}`);
    assert.match(r.stdout, /__complete --/);
  }
  for (const shell of ['bash', 'zsh']) {
    const r = spawnSync(shell, ['-n', await script(shell)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${shell} -n: ${r.stderr}`);
  }
});

test('completion without a shell, or an unknown one, is refused; completion --help is help, not a script', async () => {
  assert.equal((await cli(['completion'])).code, 2);
  const tcsh = await cli(['completion', 'tcsh']);
  assert.equal(tcsh.code, 2);
  assert.match(tcsh.stderr, /Choices: "bash", "zsh", "fish", "powershell"/);
  const help = await cli(['completion', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /completion <shell>/);
  assert.doesNotMatch(help.stdout, /_kubectl_istio_ca/);
});

test('bash: sourcing registers the function for kubectl-istio_ca', async () => {
  const r = spawnSync('bash', ['--norc', '-c', `source ${await script('bash')} && complete -p kubectl-istio_ca`], {
    encoding: 'utf8',
    env,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'complete -F _kubectl_istio_ca kubectl-istio_ca');
});

const cases: [string, string[], string[]][] = [
  ['command names', ['ge'], ['generate']],
  ['--kty values', ['generate', '--kty', ''], ['RSA', 'EC']],
  ['--curve values', ['generate', '--kty', 'EC', '--curve', 'P-3'], ['P-384']],
  ['-o values', ['version', '-o', 'j'], ['json']],
  ['--dry-run values', ['restart', '--dry-run', '=', 's'], ['server']],
  ['contexts of the kubeconfig', ['status', '--context', ''], ['east', 'west']],
  ['directories for --out-dir', ['generate', '--out-dir', 's'], ['subdir']],
  ['files for inspect', ['inspect', 'some'], ['somefile.pem']],
  ['flags', ['generate', '--roo'], ['--root-cn', '--root-validity', '--root-cert', '--root-key']],
];
for (const [what, words, want] of cases) {
  test(`bash completes ${what}: ${words.join(' ')}`, async () => {
    assert.deepEqual((await bashComplete(words)).sort(), [...want].sort());
  });
}

const zshCases: [string, string[], string[]][] = [
  ['command names', ['ge'], ['generate:Generate a new root CA and intermediate CA bundle (no openssl or step needed)']],
  ['--kty values', ['generate', '--kty', ''], ['RSA:RSA key (default)', 'EC:ECDSA key']],
  ['--dry-run=VALUE', ['replace', '--dry-run=c'], ['--dry-run=client:show the plan; send nothing']],
  ['contexts of the kubeconfig', ['status', '--context', ''], ['east', 'west']],
  ['directories for --out-dir', ['generate', '--out-dir', ''], ['_files -/']],
  ['files for inspect', ['inspect', ''], ['_files']],
];
for (const [what, words, want] of zshCases) {
  test(`zsh completes ${what}: ${words.join(' ')}`, async () => {
    assert.deepEqual(await zshComplete(words), want);
  });
}

/** What fish itself offers for the command line `line` (complete -C), candidates only. */
async function fishComplete(line: string): Promise<string[]> {
  const path = await script('fish');
  const r = spawnSync('fish', ['--no-config', '-c', `source ${path}; complete -C '${line}'`], {
    encoding: 'utf8',
    env,
    cwd: join(dir, 'work'),
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0])
    .sort();
}

test('fish completes values, --flag=VALUE and directories through the plugin', async () => {
  const r = spawnSync('fish', ['--no-execute', await script('fish')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(await fishComplete('kubectl-istio_ca generate --kty '), ['EC', 'RSA']);
  assert.deepEqual(await fishComplete('kubectl-istio_ca restart --dry-run=se'), ['--dry-run=server']);
  assert.deepEqual(await fishComplete('kubectl-istio_ca generate -d s'), ['subdir/']);
});
