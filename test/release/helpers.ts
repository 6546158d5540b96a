/** Shared by the release tests: paths, running programs, reading the release archives, telling binaries apart. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
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
  targets: { os: string; arch: string; node: string; signing?: string }[];
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
    const str = (a: number, n: number) => header.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
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
