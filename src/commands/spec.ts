/** The one shape every command has: flags (yargs builder), examples, and run(args, ctx) -> result. */
import type { Argv } from 'yargs';
import type { CommandContext } from '../context.js';
import type { CommandResult } from '../output/render.js';

export interface CommandSpec {
  command: string;
  /** false hides the command from --help (the __complete command that shell completion calls). */
  describe: string | false;
  builder(y: Argv): Argv;
  examples?: [string, string][];
  /** Whether the command prints a result that -o applies to (-o json|yaml|name are refused when not). */
  printsResult: boolean;
  /** Whether its result names Kubernetes objects, for `-o name` (refused, exit 2, when not). */
  namesObjects?: boolean;
  run(args: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult>;
}

/**
 * A flag's value as the user gave it, as text: what String() gives for the strings, numbers and arrays (a repeated
 * flag) that yargs produces, without ever printing "[object Object]".
 */
export function flagText(value: unknown): string {
  if (Array.isArray(value)) return value.map(flagText).join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}
