/**
 * Flag values checked before a command does anything: numbers, lists, names and non-empty strings. Each check
 * throws RefusedError (exit 2) naming the flag, the value as typed, and an example, with a hint that points to the
 * command's own --help.
 */
import { RefusedError } from '../errors.js';
import { flagText } from './spec.js';

/** What the command line's `-` (standard input) arrives as: a NUL cannot come from a real argv. */
export const STDIN_ARG = '\u0000-';

export const help = (command: string) => `kubectl istio-ca ${command} --help`;

/** A flag yargs demands (demandOption), checked like nonEmpty: present and not empty. */
export function required(args: Record<string, unknown>, flag: string, command: string): string {
  const value = nonEmpty(args, flag, command);
  if (value === undefined) throw new RefusedError(`--${flag} is required`, `give --${flag} (see ${help(command)})`);
  return value;
}

/** A string flag that must not be empty when given (`--out-dir ''`, `--from-dir` with no value). */
export function nonEmpty(args: Record<string, unknown>, flag: string, command: string): string | undefined {
  const v = args[flag];
  if (v === undefined) return undefined;
  if (Array.isArray(v))
    throw new RefusedError(`--${flag} is given ${v.length} times`, `give it once (see ${help(command)})`);
  const s = flagText(v);
  if (s.trim() === '')
    throw new RefusedError(`--${flag} needs a value`, `give --${flag} a value (see ${help(command)})`);
  return s;
}

/**
 * A repeatable, comma-separable list flag (`-n a -n b,c`): undefined when not given; refused when given without a
 * value (`verify --namespace` must not mean "every namespace").
 */
export function listFlag(
  args: Record<string, unknown>,
  flag: string,
  command: string,
  opts: { split?: boolean } = {},
): string[] | undefined {
  const v = args[flag];
  if (v === undefined) return undefined;
  const raw = (Array.isArray(v) ? v : [v]).map(String);
  const items = (opts.split === false ? raw : raw.flatMap((s) => s.split(','))).map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === ''))
    throw new RefusedError(
      `--${flag} needs a value`,
      `give --${flag} a value, e.g. --${flag} NAME (see ${help(command)})`,
    );
  return [...new Set(items)];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace name as the API server accepts it: a DNS-1123 label, at most 63 characters. */
export function namespaceName(value: string, flag: string, command: string): string {
  if (value.length > 63 || !DNS1123_LABEL.test(value))
    throw new RefusedError(
      `${flag} ${JSON.stringify(value)} is not a valid namespace name`,
      `a namespace is at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit ` +
        `(see ${help(command)})`,
    );
  return value;
}

/** A whole number in [min, max], typed as digits only (`--size abc`, `--concurrency 1.5` are refused). */
export function integerFlag(
  args: Record<string, unknown>,
  flag: string,
  command: string,
  bounds: { min: number; max: number; example: number },
): number | undefined {
  const v = args[flag];
  if (v === undefined) return undefined;
  const text = (Array.isArray(v) ? v.map(flagText).join(' ') : flagText(v)).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < bounds.min || n > bounds.max)
    throw new RefusedError(
      `--${flag} ${JSON.stringify(text)} is not a whole number from ${bounds.min} to ${bounds.max}`,
      `for example --${flag} ${bounds.example} (see ${help(command)})`,
    );
  return n;
}

/** A number above 0 and at most max (`--qps 0.5`). */
export function positiveNumberFlag(
  args: Record<string, unknown>,
  flag: string,
  command: string,
  bounds: { max: number; example: number },
): number | undefined {
  const v = args[flag];
  if (v === undefined) return undefined;
  const text = (Array.isArray(v) ? v.map(flagText).join(' ') : flagText(v)).trim();
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0) || n > bounds.max)
    throw new RefusedError(
      `--${flag} ${JSON.stringify(text)} is not a number above 0 and at most ${bounds.max}`,
      `for example --${flag} ${bounds.example} (see ${help(command)})`,
    );
  return n;
}
