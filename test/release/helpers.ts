/** Shared by the release tests: paths, running programs, reading the release archives, telling binaries apart. */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { parse } from 'yaml';

/** The repository root (this file runs from build/test/release/). */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const binary = join(root, 'dist', 'kubectl-istio_ca');
export const releaseDir = join(root, 'dist', 'release');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `istio-ca-${prefix}-`));
}

export interface ReleaseConfig {
  version: string;
  targets: { os: string; arch: string; node: string; signing?: 'adhoc' | 'unsigned' }[];
  krew: { name: string; manifest: string };
}

/** What the tests need of .goreleaser-like-release.yml, read independently of the release scripts. */
export function releaseConfig(): ReleaseConfig {
  const raw = parse(readFileSync(join(root, '.goreleaser-like-release.yml'), 'utf8')) as Omit<ReleaseConfig, 'version'>;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { ...raw, version: pkg.version };
}

/** The Node version a target embeds, from its `node: name@version` entry. */
export function nodeVersionOf(target: { node: string }): string {
  return target.node.slice(target.node.lastIndexOf('@') + 1);
}

/** A command on PATH, or undefined. */
export function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/**
 * The kubectl to use: the test cluster's (test/cluster/bin/kubectl) when built, else kubectl on PATH, else the one
 * `scripts/test-cluster kubectl-path` builds. Undefined when there is none; the tests that need it then skip, saying so.
 */
export function findKubectl(): string | undefined {
  const built = join(root, 'test', 'cluster', 'bin', 'kubectl');
  if (existsSync(built)) return built;
  const onPath = which('kubectl');
  if (onPath) return onPath;
  const helper = join(root, 'scripts', 'test-cluster');
  if (existsSync(helper)) {
    const r = run(helper, ['kubectl-path'], { cwd: root, timeout: 900_000 });
    const path = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status === 0 && path && existsSync(path)) return path;
  }
  return undefined;
}

/** A directory of symlinks, to be the whole PATH of a command: it holds only what is named (no Node.js). */
export function isolatedBin(links: Record<string, string>): string {
  const dir = tempDir('bin');
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dir, name));
  return dir;
}

export interface ArchiveEntry {
  name: string;
  mode: number;
  data: Buffer;
}

/** Reads a (gzipped) ustar archive: regular files only. */
export function readTarGz(file: string): Map<string, ArchiveEntry> {
  const buf = gunzipSync(readFileSync(file));
  const out = new Map<string, ArchiveEntry>();
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a: number, n: number) =>
      header
        .subarray(a, a + n)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = str(345, 155);
    const name = (prefix ? `${prefix}/` : '') + str(0, 100);
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const mode = parseInt(str(100, 8).trim() || '0', 8);
    const type = str(156, 1) || '0';
    if (type === '0') out.set(name, { name, mode, data: buf.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Reads a zip archive (stored or deflated entries). */
export function readZip(file: string): Map<string, ArchiveEntry> {
  const buf = readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${file}: no zip end record`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, ArchiveEntry>();
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const attrs = buf.readUInt32LE(p + 38);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + csize);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : Buffer.alloc(0);
    out.set(name, { name, mode: (attrs >>> 16) & 0o7777, data });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The os/arch (Go names) of an executable, from its ELF, Mach-O or PE header. */
export function executableKind(data: Buffer): { os: string; arch: string } | undefined {
  if (data.readUInt32BE(0) === 0x7f454c46) {
    const machine = data.readUInt16LE(18);
    return { os: 'linux', arch: machine === 0x3e ? 'amd64' : machine === 0xb7 ? 'arm64' : `elf-${machine}` };
  }
  if (data.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = data.readUInt32LE(4);
    return { os: 'darwin', arch: cpu === 0x01000007 ? 'amd64' : cpu === 0x0100000c ? 'arm64' : `macho-${cpu}` };
  }
  if (data.toString('latin1', 0, 2) === 'MZ') {
    const pe = data.readUInt32LE(0x3c);
    if (data.toString('latin1', pe, pe + 4) !== 'PE\0\0') return undefined;
    const machine = data.readUInt16LE(pe + 4);
    return { os: 'windows', arch: machine === 0x8664 ? 'amd64' : machine === 0xaa64 ? 'arm64' : `pe-${machine}` };
  }
  return undefined;
}

/** Node's single-executable fuse: `…:1` once a blob was injected, `…:0` in a plain node binary. */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Checks the embedded code signature of a thin 64-bit Mach-O executable against the file, as the macOS kernel does
 * page by page: LC_CODE_SIGNATURE at the end of __LINKEDIT, a SHA-256 CodeDirectory over 4 KiB pages up to the
 * signature, and the hash of the requirements blob. Returns the CodeDirectory's flags and identifier.
 */
export function machoSignature(data: Buffer): { flags: number; identifier: string; pages: number } {
  assert(data.readUInt32LE(0) === 0xfeedfacf, 'a thin 64-bit Mach-O');
  let p = 32;
  let sig: { off: number; size: number } | undefined;
  let linkeditEnd = 0;
  for (let i = 0; i < data.readUInt32LE(16); i++) {
    const cmd = data.readUInt32LE(p);
    if (cmd === 0x1d) sig = { off: data.readUInt32LE(p + 8), size: data.readUInt32LE(p + 12) };
    if (cmd === 0x19 && data.toString('latin1', p + 8, p + 24).startsWith('__LINKEDIT\0')) {
      linkeditEnd = Number(data.readBigUInt64LE(p + 40) + data.readBigUInt64LE(p + 48));
    }
    p += data.readUInt32LE(p + 4);
  }
  assert(sig, 'has LC_CODE_SIGNATURE');
  assert(
    sig.off + sig.size === data.length && linkeditEnd === data.length,
    'the signature ends __LINKEDIT and the file',
  );
  const blobs = data.subarray(sig.off, sig.off + sig.size);
  assert(blobs.readUInt32BE(0) === 0xfade0cc0, 'embedded signature superblob');
  const find = (type: number) => {
    for (let i = 0; i < blobs.readUInt32BE(8); i++) {
      if (blobs.readUInt32BE(12 + i * 8) === type) {
        const at = blobs.readUInt32BE(16 + i * 8);
        return blobs.subarray(at, at + blobs.readUInt32BE(at + 4));
      }
    }
    return undefined;
  };
  const cd = find(0);
  assert(cd && cd.readUInt32BE(0) === 0xfade0c02, 'a CodeDirectory');
  const hashOffset = cd.readUInt32BE(16);
  const pages = cd.readUInt32BE(28);
  const codeLimit = cd.readUInt32BE(32);
  assert(cd[36] === 32 && cd[37] === 2 && cd[39] === 12, 'SHA-256 over 4 KiB pages');
  assert(codeLimit === sig.off && pages === Math.ceil(codeLimit / 4096), 'hashes cover the file up to the signature');
  for (let i = 0; i < pages; i++) {
    const page = createHash('sha256')
      .update(data.subarray(i * 4096, Math.min((i + 1) * 4096, codeLimit)))
      .digest();
    assert(page.equals(cd.subarray(hashOffset + i * 32, hashOffset + i * 32 + 32)), `page ${i} matches its hash`);
  }
  const req = find(2);
  if (req)
    assert(
      createHash('sha256')
        .update(req)
        .digest()
        .equals(cd.subarray(hashOffset - 64, hashOffset - 32)),
      'requirements hash',
    );
  const identAt = cd.readUInt32BE(20);
  return { flags: cd.readUInt32BE(12), identifier: cd.toString('utf8', identAt, cd.indexOf(0, identAt)), pages };
}
