// Official Node.js binaries from the npm registry's node-<os>-<arch> packages: fetched with `npm pack` (through
// npm's own cache) into a gitignored cache directory, checked against the integrity pinned in
// .goreleaser-like-release.yml, and unpacked there. Nothing is downloaded from anywhere but the npm registry.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function cacheDir(root) {
  return process.env.ISTIO_CA_NODE_CACHE || join(root, '.cache', 'node');
}

async function integrityOf(file) {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return `sha512-${hash.digest('base64')}`;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-5).join('\n')}`,
    );
  }
  return r.stdout;
}

/** The tarball of `pkg` ({name, version, integrity}) in the cache, fetched if missing, always verified. */
export async function nodeTarball(root, pkg, log = () => {}) {
  const dir = cacheDir(root);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${pkg.name}-${pkg.version}.tgz`);
  if (existsSync(file) && (await integrityOf(file)) === pkg.integrity) return file;
  log(`fetching ${pkg.name}@${pkg.version} from the npm registry`);
  const tmp = join(dir, `.pack-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    run('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', tmp, '--silent', '--ignore-scripts'], {
      cwd: tmp,
    });
    const got = join(tmp, `${pkg.name}-${pkg.version}.tgz`);
    const integrity = await integrityOf(got);
    if (integrity !== pkg.integrity) {
      throw new Error(`${pkg.name}@${pkg.version}: integrity ${integrity} is not the pinned ${pkg.integrity}`);
    }
    renameSync(got, file);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return file;
}

/**
 * Unpacks the node binary (and LICENSE, where the package has one) of `pkg` for `os` into the cache.
 * Returns { binary, license } (license may be null: the windows packages carry none).
 */
export async function nodeBinary(root, pkg, os, log = () => {}) {
  const tgz = await nodeTarball(root, pkg, log);
  const dir = join(cacheDir(root), `${pkg.name}-${pkg.version}`);
  const exe = os === 'windows' ? 'node.exe' : 'node';
  const binary = join(dir, 'package', 'bin', exe);
  const license = join(dir, 'package', 'LICENSE');
  const stamp = join(dir, `.unpacked-${pkg.integrity.slice(7, 23).replace(/[/+]/g, '_')}`);
  if (!existsSync(stamp) || !existsSync(binary)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const members = run('tar', ['-tzf', tgz]).split('\n');
    const want = [`package/bin/${exe}`, 'package/LICENSE'].filter((m) => members.includes(m));
    if (!want.includes(`package/bin/${exe}`)) throw new Error(`${pkg.name}@${pkg.version} has no package/bin/${exe}`);
    run('tar', ['-xzf', tgz, '-C', dir, ...want]);
    writeFileSync(stamp, `${pkg.name}@${pkg.version} ${pkg.integrity}\n`);
  }
  return { binary, license: existsSync(license) ? license : null };
}

/** Runs a Node binary that runs here, returning its stdout. */
export function runNode(binary, args, opts = {}) {
  return run(binary, args, opts);
}
