/**
 * scripts/release and the krew manifest it writes: every rule krew applies to a plugin manifest (checked here, and
 * by krew's own validate-krew-manifest when the Go module proxy serves krew), every sha256 true of the archive on
 * disk, every archive holding its bin and a LICENSE, and a real `kubectl krew install` of the linux/amd64 archive.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import {
  executableKind,
  findKubectl,
  machoSignature,
  isolatedBin,
  readTarGz,
  readZip,
  releaseConfig,
  releaseDir,
  root,
  run,
  SEA_FUSE,
  tempDir,
  type ArchiveEntry,
} from './helpers.js';

interface Platform {
  selector?: {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
  uri?: string;
  sha256?: string;
  bin?: string;
  files?: { from?: string; to?: string }[];
}
interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    version?: string;
    homepage?: string;
    shortDescription?: string;
    description?: string;
    caveats?: string;
    platforms?: Platform[];
  };
}

const config = releaseConfig();
let manifest: Manifest;
let manifestFile: string;

// The os/arch pairs krew supports (validate-krew-manifest's list).
const KREW_PLATFORMS = [
  'windows/386',
  'windows/amd64',
  'windows/arm64',
  'linux/386',
  'linux/amd64',
  'linux/arm',
  'linux/arm64',
  'darwin/386',
  'darwin/amd64',
  'darwin/arm64',
];
const WINDOWS_FORBIDDEN = [
  'CON',
  'PRN',
  'AUX',
  'NUL',
  ...Array.from({ length: 9 }, (_, i) => `COM${i + 1}`),
  ...Array.from({ length: 9 }, (_, i) => `LPT${i + 1}`),
];
const LICENSE_NAMES = [
  'license',
  'license.txt',
  'license.md',
  'licenses',
  'licenses.txt',
  'licenses.md',
  'copying',
  'copying.txt',
];

/** Whether a krew selector matches os/arch (matchLabels AND matchExpressions, as a Kubernetes label selector). */
function matches(sel: NonNullable<Platform['selector']>, os: string, arch: string): boolean {
  const labels: Record<string, string> = { os, arch };
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => {
        resolve(h.digest('hex'));
      })
      .on('error', reject);
  });
}

function archiveOf(p: Platform): string {
  return join(releaseDir, basename(new URL(p.uri!).pathname));
}

function entriesOf(file: string): Map<string, ArchiveEntry> {
  return file.endsWith('.zip') ? readZip(file) : readTarGz(file);
}

before(() => {
  const started = Date.now();
  const r = run(join(root, 'scripts', 'release'), [], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 1_200_000,
  });
  assert.equal(r.status, 0, `scripts/release failed:\n${r.stderr}`);
  for (const line of r.stderr.trim().split('\n')) console.log(`# ${line}`);
  console.log(`# scripts/release took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  manifestFile = join(releaseDir, config.krew.manifest);
  manifest = parse(readFileSync(manifestFile, 'utf8')) as Manifest;
});

test('the top-level plugin.yaml is a krew-release-bot template; the shipped manifest is it rendered with real sha256s', async () => {
  const template = readFileSync(join(root, 'plugin.yaml'), 'utf8');
  // krew-release-bot's actions: the tag, and one archive URL per platform whose uri and sha256 it fills in.
  assert.match(template, /^ {2}version: \{\{ \.TagName \}\}$/m);
  const actions = [...template.matchAll(/^ {6}\{\{addURIAndSha "([^"]+)" \.TagName \}\}$/gm)].map((m) => m[1]);
  assert.equal(actions.length, manifest.spec!.platforms!.length);
  for (const a of actions)
    assert.match(a, /^https:\/\/github\.com\/istio-ca\/kubectl-istio-ca\/releases\/download\/\{\{ \.TagName \}\}\//);
  const { renderKrewTemplate } = (await import(join(root, 'scripts', 'package', 'krew-template.mjs'))) as {
    renderKrewTemplate: (t: string, tag: string, sha: (url: string) => string) => { text: string };
  };
  const sums = new Map(manifest.spec!.platforms!.map((p) => [p.uri!, p.sha256!]));
  const rendered = renderKrewTemplate(template, manifest.spec!.version!, (url) => {
    const sum = sums.get(url);
    assert.ok(sum, `template names ${url}, not in the manifest`);
    return sum;
  });
  assert.equal(rendered.text, readFileSync(manifestFile, 'utf8'), 'the shipped manifest is the rendered template');
});

test('plugin.yaml has what krew requires of a plugin', () => {
  assert.equal(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
  assert.equal(manifest.kind, 'Plugin');
  const name = manifest.metadata?.name ?? '';
  assert.match(name, /^[\w-]+$/, 'plugin name pattern');
  assert.ok(!WINDOWS_FORBIDDEN.includes(name.toUpperCase()), 'not a reserved windows name');
  assert.equal(name, config.krew.name);
  const spec = manifest.spec!;
  assert.equal(spec.version, `v${config.version}`, 'version is v + package.json version');
  assert.match(spec.version, /^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'semver with a leading v');
  assert.match(spec.homepage ?? '', /^https:\/\//);
  assert.ok(spec.shortDescription && !/[\r\n]/.test(spec.shortDescription), 'one-line shortDescription');
  assert.ok(spec.description && spec.caveats);
  // validate-krew-manifest warns past these widths (lines of one word excepted).
  const tooLong = (s: string, max: number) => s.split('\n').filter((l) => l.length > max && l.trim().includes(' '));
  assert.deepEqual(tooLong(spec.shortDescription, 70), []);
  assert.deepEqual(tooLong(spec.description, 80), []);
  assert.deepEqual(tooLong(spec.caveats, 80), []);
  assert.ok((spec.platforms ?? []).length > 0, 'at least one platform');
});

test('one platform per release target, with valid selector, uri, sha256, bin and files', () => {
  const platforms = manifest.spec!.platforms!;
  assert.equal(platforms.length, config.targets.length);
  for (const [i, p] of platforms.entries()) {
    const sel = p.selector;
    assert.ok(
      sel && (Object.keys(sel.matchLabels ?? {}).length > 0 || (sel.matchExpressions ?? []).length > 0),
      `platform ${i}: empty selector`,
    );
    const keys = [...Object.keys(sel.matchLabels ?? {}), ...(sel.matchExpressions ?? []).map((e) => e.key)];
    assert.ok(
      keys.every((k) => k === 'os' || k === 'arch'),
      `platform ${i}: selector keys ${keys.join(',')}`,
    );
    assert.ok(
      KREW_PLATFORMS.some((pa) => matches(sel, ...(pa.split('/') as [string, string]))),
      `platform ${i} matches no platform krew supports`,
    );
    assert.match(p.uri ?? '', /^https:\/\/\S+\.(tar\.gz|zip)$/, `platform ${i}: uri`);
    assert.match(p.sha256 ?? '', /^[a-f0-9]{64}$/, `platform ${i}: sha256`);
    const t = config.targets[i];
    assert.deepEqual(sel.matchLabels, { os: t.os, arch: t.arch });
    assert.equal(p.bin, t.os === 'windows' ? 'kubectl-istio_ca.exe' : 'kubectl-istio_ca', `platform ${i}: bin`);
    assert.ok(
      (p.files ?? []).length > 0 && p.files!.every((f) => f.from && f.to),
      `platform ${i}: files need from and to`,
    );
  }
});

test('no os/arch is selected by two platforms', () => {
  for (const pa of KREW_PLATFORMS) {
    const [os, arch] = pa.split('/');
    const hits = manifest.spec!.platforms!.flatMap((p, i) => (matches(p.selector!, os, arch) ? [i] : []));
    assert.ok(hits.length <= 1, `${pa} is selected by platforms ${hits.join(',')}`);
  }
});

test('every sha256 is that of the archive on disk, and the checksums file agrees', async () => {
  const sums = readdirSync(releaseDir).find((f) => f.endsWith('checksums.txt'));
  assert.ok(sums, 'a checksums file');
  const listed = new Map(
    readFileSync(join(releaseDir, sums), 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.split(/\s+/)[1], l.split(/\s+/)[0]] as const),
  );
  for (const p of manifest.spec!.platforms!) {
    const file = archiveOf(p);
    assert.ok(existsSync(file), `${file} missing`);
    const actual = await sha256Of(file);
    assert.equal(actual, p.sha256, `${basename(file)}: manifest sha256`);
    assert.equal(listed.get(basename(file)), actual, `${basename(file)}: checksums file`);
  }
  assert.equal(listed.size, manifest.spec!.platforms!.length);
});

test('every archive holds its bin (an executable of its os/arch with the blob injected), LICENSE and the completion wrapper', () => {
  for (const p of manifest.spec!.platforms!) {
    const file = archiveOf(p);
    const entries = entriesOf(file);
    const names = [...entries.keys()];
    const bin = entries.get(p.bin!);
    assert.ok(bin, `${basename(file)}: no ${p.bin} in ${names.join(',')}`);
    const { os, arch } = p.selector!.matchLabels!;
    assert.deepEqual(executableKind(bin.data), { os, arch }, `${basename(file)}: binary for the wrong platform`);
    const fuse = bin.data.indexOf(SEA_FUSE);
    assert.ok(
      fuse > 0 && bin.data[fuse + SEA_FUSE.length + 1] === 0x31,
      `${basename(file)}: no single-executable blob injected`,
    );
    if (os !== 'windows') assert.equal(bin.mode & 0o755, 0o755, `${basename(file)}: bin not executable`);
    const signing = config.targets.find((t) => t.os === os && t.arch === arch)?.signing;
    if (os === 'darwin') {
      assert.equal(signing, 'adhoc', 'darwin binaries are signed ad hoc (Apple silicon runs nothing unsigned)');
      const s = machoSignature(bin.data);
      assert.equal(s.flags & 0x2, 0x2, `${basename(file)}: ad-hoc flag`);
      assert.equal(s.identifier, 'kubectl-istio_ca');
    }
    assert.ok(
      names.some((n) => LICENSE_NAMES.includes(n.toLowerCase())),
      `${basename(file)}: no LICENSE among ${names.join(',')}`,
    );
    assert.equal(entries.get('LICENSE')!.data.toString(), readFileSync(join(root, 'LICENSE'), 'utf8'));
    assert.match(entries.get('THIRD-PARTY-NOTICES')?.data.toString() ?? '', /Node\.js v?\d+[\s\S]*yargs/);
    const completion = os === 'windows' ? 'kubectl_complete-istio_ca.cmd' : 'kubectl_complete-istio_ca';
    assert.ok(entries.has(completion), `${basename(file)}: no ${completion}`);
    for (const f of p.files!)
      assert.ok(entries.has(f.from!), `${basename(file)}: files names ${f.from}, not in the archive`);
  }
});

const krewTools = (() => {
  const r = run(process.execPath, [join(root, 'scripts', 'krew-tools.mjs')], { cwd: root, timeout: 900_000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { bin?: string; skip?: string };
  } catch {
    return { skip: `scripts/krew-tools.mjs failed: ${r.stderr.trim()}` };
  }
})();
const kubectl = findKubectl();
const krewSkip = krewTools.skip
  ? `krew's tools could not be built: ${krewTools.skip}`
  : !kubectl
    ? 'no kubectl to run krew through'
    : false;

test(
  "krew's own validate-krew-manifest accepts it, installing every platform from a loopback server",
  { skip: krewSkip },
  async () => {
    // krew installs each platform from its uri: serve the archives on 127.0.0.1 and point a copy of the manifest
    // there (same sha256s). The copy is named <plugin>.yaml, as validate-krew-manifest requires.
    const files = new Set(readdirSync(releaseDir));
    const server: Server = createServer((req, res) => {
      const name = decodeURIComponent((req.url ?? '').slice(1));
      if (!files.has(name)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(join(releaseDir, name)).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const dir = tempDir('validate');
      const copy = join(dir, `${manifest.metadata!.name}.yaml`);
      writeFileSync(copy, readFileSync(manifestFile, 'utf8').replace(/uri: \S+\//g, `uri: ${base}`));
      const bin = isolatedBin({ kubectl: kubectl!, 'kubectl-krew': join(krewTools.bin!, 'kubectl-krew') });
      // Asynchronous: the server must answer while the validator runs.
      const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
        execFile(
          join(krewTools.bin!, 'validate-krew-manifest'),
          ['-manifest', copy],
          { env: { PATH: bin, HOME: dir, TMPDIR: dir }, timeout: 600_000, maxBuffer: 16 << 20 },
          (err, stdout, stderr) => {
            resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
          },
        );
      });
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, new RegExp(`all ${manifest.spec!.platforms!.length} spec.platforms installed fine`));
      console.log(`# validate-krew-manifest: ${r.out.trim().split('\n').pop()}`);
    } finally {
      server.close();
    }
  },
);

test(
  'kubectl krew install --manifest --archive, then kubectl istio-ca version through kubectl (env -i)',
  { skip: krewSkip },
  () => {
    const linux = manifest.spec!.platforms!.find(
      (p) => p.selector?.matchLabels?.os === 'linux' && p.selector.matchLabels.arch === 'amd64',
    );
    assert.ok(linux);
    const krewRoot = tempDir('krewroot');
    const bin = isolatedBin({ kubectl: kubectl!, 'kubectl-krew': join(krewTools.bin!, 'kubectl-krew') });
    const env = ['-i', `PATH=${bin}`, `HOME=${krewRoot}`, `KREW_ROOT=${krewRoot}`];
    const install = run(
      '/usr/bin/env',
      [...env, 'kubectl', 'krew', 'install', `--manifest=${manifestFile}`, `--archive=${archiveOf(linux)}`],
      { timeout: 300_000 },
    );
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.match(install.stdout + install.stderr, /Installed plugin: istio-ca/);
    const r = run('/usr/bin/env', [
      '-i',
      `PATH=${join(krewRoot, 'bin')}:${bin}`,
      `HOME=${krewRoot}`,
      'kubectl',
      'istio-ca',
      'version',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split(' ').slice(0, 3).join(' '), `kubectl istio-ca ${config.version}`);
    console.log(`# through krew: ${r.stdout.trim()}`);
  },
);
