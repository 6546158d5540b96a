/** Writing files atomically with an exact mode: temp file in the same directory, fsync, rename. */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RefusedError, OperationError } from '../errors.js';
import { fileSystemError } from './errors.js';

export const KEY_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;
export const PRIVATE_DIR_MODE = 0o700;

/** Writes `data` to `path` so that readers see the old file or the whole new one, never a part. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  try {
    await writeAtomic(path, data, mode);
  } catch (e) {
    throw fileSystemError(e, path, 'write');
  }
}

async function writeAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed or the default widened it
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The directories of `path` that do not exist yet, outermost first, and the nearest one that does. */
async function missingDirs(path: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      const st = await stat(p);
      if (!st.isDirectory())
        throw new RefusedError(
          `cannot use ${path}: ${p} is not a directory (a file is in the way)`,
          'choose another path, or move that file',
        );
      return { existing: p, missing };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fileSystemError(e, p, 'use', true);
      missing.unshift(p);
      const parent = dirname(p);
      if (parent === p) return { existing: p, missing };
      p = parent;
    }
  }
}

/**
 * Refuses (exit 2, nothing written) a directory that cannot be created or written: a file in the way, or no write
 * permission on the nearest existing directory. Called before any work that would otherwise be thrown away.
 */
export async function checkWritableDir(path: string, flag: string): Promise<void> {
  const { existing, missing } = await missingDirs(path);
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch {
    throw new RefusedError(
      `${flag} ${path}: ${missing.length ? `cannot create it in ${existing}` : 'cannot write in it'}: permission ` +
        `denied`,
      `choose a directory you may write, or fix the permissions of ${existing} (ls -ld ${existing})`,
    );
  }
}

/**
 * Creates a directory (and parents) readable only by its owner when it is new. One mkdir per missing level, not
 * mkdir -p: Node's recursive mkdir spins forever where the parent exists but refuses new entries (/proc/x).
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  const { missing } = await missingDirs(path);
  for (const [i, dir] of missing.entries()) {
    // Nothing is created yet when the first level fails: that is a refusal (exit 2), not a half-done operation.
    const nothingWritten = i === 0;
    try {
      await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'ENOENT') {
        const message = `cannot create directory ${dir}: the file system there does not allow it (ENOENT)`;
        const hint = 'choose a directory on an ordinary file system';
        throw nothingWritten ? new RefusedError(message, hint) : new OperationError(message, hint);
      }
      throw fileSystemError(e, dir, 'create directory', nothingWritten);
    }
    await chmod(dir, PRIVATE_DIR_MODE);
  }
}
