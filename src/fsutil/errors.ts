/** File-system failures said in words: which path, what went wrong, what to do. Never a bare errno. */
import { IstioCaError, OperationError, RefusedError } from '../errors.js';

const WHAT: Record<string, [string, string]> = {
  EEXIST: ['already exists', 'choose another path, or remove it first'],
  ENOENT: ['does not exist', 'check the path; create the folders it names first'],
  EACCES: ['is not accessible: permission denied', 'choose a path you may write, or fix its permissions (ls -ld)'],
  EPERM: ['is not accessible: operation not permitted', 'choose a path you may write, or fix its permissions'],
  ENOTDIR: ['is not a directory (a file is in the way)', 'choose another path, or move that file'],
  EISDIR: ['is a directory', 'name a file, not a directory'],
  EROFS: ['is on a read-only file system', 'choose a path on a writable file system'],
  ENOSPC: ['is on a full file system (no space left)', 'free some space or choose another path'],
  EDQUOT: ['is on a file system whose quota is used up', 'free some space or choose another path'],
  ENAMETOOLONG: ['is too long a name', 'choose a shorter path'],
  ELOOP: ['has a symbolic-link loop', 'fix the links or choose another path'],
};

const READ_HINTS: Record<string, [string, string]> = {
  EACCES: ['is not readable: permission denied', 'check its permissions (ls -l), or run as a user who may read it'],
  EPERM: ['is not readable: operation not permitted', 'check its permissions (ls -l)'],
};

/**
 * The error to report for `e` met while `doing` (e.g. "create directory") `path`. `refused`: nothing was written yet
 * (exit 2); otherwise the operation failed midway (exit 1).
 */
export function fileSystemError(e: unknown, path: string, doing: string, refused = false): IstioCaError {
  if (e instanceof IstioCaError) return e;
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  const reading = doing.startsWith('read') || doing === 'use';
  const [what, hint] = (reading ? READ_HINTS[code] : undefined) ??
    WHAT[code] ?? [`failed (${code || (e as Error)?.message || 'unknown error'})`, 'check the path and try again'];
  const message = `cannot ${doing} ${path}: it ${what}${code && WHAT[code] ? ` (${code})` : ''}`;
  return refused ? new RefusedError(message, hint) : new OperationError(message, hint);
}
