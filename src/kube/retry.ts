/**
 * When a failed API request is sent again, as client-go decides (rest/with_retry.go): a 429 always (the server
 * did not process it) and any 5xx carrying Retry-After, honouring that header; other 5xx answers and connections
 * reset mid-request only for reads (GET), since a write may have been applied. Backoff is exponential with full
 * jitter, bounded in attempts and in each wait.
 */
import { KubeApiError, KubeTransportError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseMs: number;
  /** Longest wait between attempts, Retry-After included. */
  maxMs: number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseMs: 250,
  maxMs: 30_000,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: Math.random,
};

/** A connection reset or broken pipe after the request was sent (transport.ts names the code in the message). */
const RESET = /\((ECONNRESET|EPIPE)\)/;

/** Whether `e`, the failure of a `method` request, may be retried. */
export function retryable(method: string, e: unknown): boolean {
  const read = method === 'GET';
  if (e instanceof KubeApiError) {
    if (e.status === 429) return true;
    if (e.status >= 500 && e.retryAfterSeconds !== undefined) return true;
    return read && e.status >= 500;
  }
  return read && e instanceof KubeTransportError && RESET.test(e.message);
}

/** The wait before attempt `attempt` (1-based retries): Retry-After when given, else jittered exponential backoff. */
export function backoffMs(attempt: number, e: unknown, policy: RetryPolicy): number {
  const after = e instanceof KubeApiError ? e.retryAfterSeconds : undefined;
  if (after !== undefined) return Math.min(policy.maxMs, Math.max(0, after * 1000));
  return Math.round(Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * policy.random());
}

/** Seconds in a Retry-After header (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Runs `send`, retrying as `retryable` allows, at most policy.attempts times in all. */
export async function withRetries<T>(method: string, send: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (e) {
      if (attempt >= policy.attempts || !retryable(method, e)) throw e;
      await policy.sleep(backoffMs(attempt, e, policy));
    }
  }
}

/** A paged list whose continue token expired (410 Gone on a later page): the list starts over, as kubectl does. */
export function continueExpired(e: unknown): boolean {
  return e instanceof KubeApiError && e.status === 410;
}
