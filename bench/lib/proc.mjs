// Running one measured process: wall time from spawn to exit, peak RSS from GNU time (%M, KiB), a hard timeout.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TIME = '/usr/bin/time';
const scratch = mkdtempSync(join(tmpdir(), 'istio-ca-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;

/**
 * Runs cmd args under /usr/bin/time -f '%M %U %S'. Resolves { code, ms, rssKiB, cpuMs, stdout, stderr }; never rejects for a
 * non-zero exit. GNU time reports the largest RSS of the process and of every descendant it waited for, so a
 * shell loop reports the largest of its processes (they run one at a time).
 */
export function measure(cmd, args, { env, input, timeoutMs = 600_000, cwd, keepStdout = true } = {}) {
  const rssFile = join(scratch, `rss-${seq++}`);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(TIME, ['-q', '-f', '%M %U %S', '-o', rssFile, cmd, ...args], {
      cwd,
      env: env ?? process.env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child.pid);
    const out = [];
    const err = [];
    let outBytes = 0;
    child.stdout.on('data', (c) => {
      outBytes += c.length;
      if (keepStdout) out.push(c);
    });
    child.stderr.on('data', (c) => err.push(c));
    if (input !== undefined) child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let rssKiB = NaN;
      let cpuMs = NaN;
      try {
        const [m, u, sys] = readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
        rssKiB = m;
        cpuMs = (u + sys) * 1000;
      } catch {
        /* killed before time wrote it */
      }
      resolve({
        code: timedOut ? 124 : (code ?? 128),
        signal,
        timedOut,
        ms,
        rssKiB,
        cpuMs,
        stdoutBytes: outBytes,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Runs a command without measuring it; throws with its stderr when it fails. */
export async function must(cmd, args, opts = {}) {
  const r = await measure(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').slice(-8).join('\n')}`,
    );
  return r;
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Process groups still running, so a watchdog can end them (only those this benchmark started). */
export const live = new Set();
