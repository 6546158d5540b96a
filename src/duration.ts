/** Durations as operators write them: 87600h, 3650d, 90s, 1h30m, 500ms. */
import { RefusedError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest wait a flag may ask for: Node's timers cannot wait longer than 2^31-1 ms (24.8 days). */
export const MAX_WAIT_MS = 7 * 86_400_000;
/** The longest duration any flag takes unless it says otherwise: 10,000 years (validities end at 9999 anyway). */
const MAX_DURATION_MS = 10_000 * 365 * 86_400_000;

/**
 * Parses a duration into milliseconds; throws RefusedError naming the flag when it is not one, is not above zero,
 * or is longer than `maxMs`.
 */
export function parseDuration(value: string, flag: string, opts: { maxMs?: number; command?: string } = {}): number {
  const maxMs = opts.maxMs ?? MAX_DURATION_MS;
  const see = opts.command ? ` (see kubectl istio-ca ${opts.command} --help)` : '';
  const text = value.trim();
  if (/^-\d/.test(text))
    throw new RefusedError(
      `--${flag} ${JSON.stringify(value)} is negative`,
      `give a positive duration such as 30d${see}`,
    );
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
    throw new RefusedError(
      `--${flag} ${JSON.stringify(value)} is not a duration`,
      `write it as a number with a unit: ms, s, m, h or d (for example 87600h, 3650d, 5m, 1h30m)${see}`,
    );
  }
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]];
  if (!(ms > 0))
    throw new RefusedError(`--${flag} must be longer than zero`, `give a positive duration such as 5m${see}`);
  if (ms > maxMs)
    throw new RefusedError(
      `--${flag} ${text} is too long: at most ${formatDuration(maxMs)}`,
      `give a shorter duration, at most ${formatDuration(maxMs)}${see}`,
    );
  return ms;
}

/** A short human form: 3650d, 5h, 90s. */
export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
