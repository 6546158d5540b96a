/** Runs the CLI in-process with captured streams, for tests that assert on output and exit codes. */
import { Readable, Writable } from 'node:stream';
import { runCli } from '../../../src/cli.js';
import { checkPrinted } from './documents.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export async function cli(
  argv: string[],
  opts: { tty?: boolean; env?: NodeJS.ProcessEnv; now?: Date; stdin?: string | Buffer } = {},
): Promise<CliRun> {
  const stdout = new Capture(opts.tty ?? false);
  const stderr = new Capture(opts.tty ?? false);
  const code = await runCli(argv, {
    stdout,
    stderr,
    env: opts.env ?? {},
    ...(opts.stdin !== undefined ? { stdin: Readable.from([Buffer.from(opts.stdin)]) } : {}),
    ...(opts.now ? { now: () => opts.now! } : {}),
  });
  // Every -o json / -o yaml a unit test prints is checked against the schema of its kind.
  checkPrinted(argv, stdout.text);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
