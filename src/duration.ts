/** Durations as operators write them: 87600h, 3650d, 90s, 1h30m, 500ms. */
import { RefusedError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses a duration into milliseconds; throws RefusedError naming the flag when it is not one. */
export function parseDuration(value: string, flag: string): number {
  const text = String(value).trim();
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
    throw new RefusedError(
      `--${flag} ${JSON.stringify(value)} is not a duration`,
      'write it as a number with a unit: ms, s, m, h or d (for example 87600h, 3650d, 5m, 1h30m)',
    );
  }
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  if (ms <= 0) throw new RefusedError(`--${flag} must be longer than zero`, 'give a positive duration such as 5m');
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
