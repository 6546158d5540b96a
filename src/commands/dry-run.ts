/**
 * `--dry-run` as kubectl takes it, shared by every command that writes to a cluster: `none` (the default: write),
 * `client` (plan only: nothing is sent that changes anything), `server` (every write is sent with dryRun=All, so
 * the API server validates and authorizes it and persists nothing). A bare `--dry-run` means `client`, as it did in
 * kubectl before 1.18; the old boolean forms `--dry-run=true|false` mean `client|none` (with a notice), as kubectl
 * still reads them. Anything else is refused (exit 2): a dry-run flag must never turn into a silent write.
 */
import type { Argv } from 'yargs';
import { RefusedError } from '../errors.js';
import { flagText } from './spec.js';

export type DryRun = 'none' | 'client' | 'server';
export const DRY_RUN_VALUES: readonly DryRun[] = ['none', 'client', 'server'];

/** Adds `--dry-run[=none|client|server]` to a command; `what` says what client and server mean for it. */
export function dryRunOption(y: Argv, what: { client: string; server: string }): Argv {
  return y.option('dry-run', {
    type: 'string',
    describe: `none (default): write. client (also bare --dry-run): ${what.client}. server: ${what.server}`,
  });
}

const BOOLEAN_TRUE = new Set(['true', 't', '1']);
const BOOLEAN_FALSE = new Set(['false', 'f', '0']);

/**
 * The dry-run strategy of a command line, or RefusedError naming the value. `notice` hears about the deprecated
 * boolean forms. Refuses `server` when the command has no server-side dry run (`serverSupported` false).
 */
export function parseDryRun(
  args: Record<string, unknown>,
  opts: { command: string; notice?: (line: string) => void; serverSupported?: boolean } = { command: '' },
): DryRun {
  const raw = args['dry-run'];
  if (raw === undefined || raw === false) return 'none';
  if (Array.isArray(raw))
    throw new RefusedError(
      `--dry-run is given ${raw.length} times`,
      `give it once: --dry-run=client or --dry-run=server (see ${hintFor(opts.command)})`,
    );
  const value = raw === true ? '' : flagText(raw);
  let strategy: DryRun;
  if (value === '') strategy = 'client';
  else if ((DRY_RUN_VALUES as readonly string[]).includes(value)) strategy = value as DryRun;
  else if (BOOLEAN_TRUE.has(value.toLowerCase()) || BOOLEAN_FALSE.has(value.toLowerCase())) {
    strategy = BOOLEAN_TRUE.has(value.toLowerCase()) ? 'client' : 'none';
    opts.notice?.(
      `warning: --dry-run=${value} is deprecated (boolean value) and can be replaced with --dry-run=${strategy}`,
    );
  } else {
    throw new RefusedError(
      `invalid --dry-run value ${JSON.stringify(value)}: must be "none", "server" or "client"; nothing was changed`,
      `--dry-run=client shows the plan, --dry-run=server also has the API server check every write (see ` +
        `${hintFor(opts.command)})`,
    );
  }
  if (strategy === 'server' && opts.serverSupported === false)
    throw new RefusedError(
      `${opts.command} has no server-side dry run; nothing was changed`,
      `use --dry-run=client to see the plan (see ${hintFor(opts.command)})`,
    );
  return strategy;
}

function hintFor(command: string): string {
  return command ? `kubectl istio-ca ${command} --help` : 'kubectl istio-ca --help';
}
