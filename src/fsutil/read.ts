/**
 * Reading input files with limits: regular files only (a FIFO would block and a device never end), at most
 * MAX_INPUT_BYTES, and errors that tell a missing path from an unreadable one.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { RefusedError } from '../errors.js';
import { fileSystemError } from './errors.js';

/** Certificate bundles are a few KiB; a trust bundle of a thousand roots stays under 2 MiB. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;

const tooLarge = (what: string) =>
  new RefusedError(
    `${what} is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB: not a certificate bundle`,
    'pass the PEM or DER file of the certificates (bundle files are a few KiB)',
  );

function kindOf(st: {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}) {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The kind of `path`: 'file', 'directory', or a RefusedError for anything else or a path that cannot be used. */
export async function inputKind(path: string, flag = ''): Promise<'file' | 'directory'> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new RefusedError(`${flag}${path} does not exist`, 'check the path; pass a bundle directory or a PEM file');
    throw fileSystemError(e, `${flag}${path}`, 'read', true);
  }
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  throw new RefusedError(
    `${flag}${path} is ${kindOf(st)}; only regular files are read`,
    'save the input to a file first, or pipe it in with: ... | kubectl istio-ca inspect -',
  );
}

/**
 * Reads a regular file of at most MAX_INPUT_BYTES. Returns undefined when `missingOk` and the file does not exist;
 * refuses FIFOs, devices and sockets without opening them for long (O_NONBLOCK), and anything larger than the cap.
 */
export function readInputFile(path: string, opts?: { missingOk?: false }): Promise<Buffer>;
export function readInputFile(path: string, opts: { missingOk: boolean }): Promise<Buffer | undefined>;
export async function readInputFile(path: string, opts: { missingOk?: boolean } = {}): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.missingOk) return undefined;
    if (code === 'ENOENT') throw new RefusedError(`${path} does not exist`, 'check the path');
    throw fileSystemError(e, path, 'read', true);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new RefusedError(`${path} is a directory`, 'pass a file');
    if (!st.isFile()) throw new RefusedError(`${path} is ${kindOf(st)}; only regular files are read`, 'pass a file');
    if (st.size > MAX_INPUT_BYTES) throw tooLarge(path);
    // Files under /proc report size 0: read to the end, but never past the cap.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_INPUT_BYTES) throw tooLarge(path);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks);
  } catch (e) {
    throw fileSystemError(e, path, 'read', true);
  } finally {
    await fh.close();
  }
}

/** Reads standard input to its end, refusing more than MAX_INPUT_BYTES. */
export async function readInputStream(
  stream: Readable | NodeJS.ReadableStream,
  name = 'standard input',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > MAX_INPUT_BYTES) {
      (stream as Readable).destroy?.();
      throw tooLarge(name);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
