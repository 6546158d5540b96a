/** Rendering a command result once: a human view (tables, check lines) or stable JSON/YAML data. */
import type { ExitCodeValue } from '../errors.js';
import type { Style } from './style.js';

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** What every command returns: its data (the JSON/YAML output), how people see it, and its exit code. */
export interface CommandResult<T = unknown> {
  data: T;
  human(style: Style): string;
  /** Defaults to 0. */
  exitCode?: ExitCodeValue;
}

export async function renderResult(result: CommandResult, format: OutputFormat, style: Style): Promise<string> {
  switch (format) {
    case 'json':
      return JSON.stringify(result.data, null, 2) + '\n';
    case 'yaml': {
      const { stringify } = await import('yaml');
      return stringify(result.data);
    }
    default:
      return result.human(style);
  }
}
