/** Rendering a command result once: a human view (tables, check lines), a stable document (JSON/YAML) or names. */
import type { ExitCodeValue } from '../errors.js';
import type { Style } from './style.js';
import { toDocument, type DocumentKind } from './documents.js';

export type OutputFormat = 'table' | 'json' | 'yaml' | 'name';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml', 'name'];

/** What every command returns: its data (the JSON/YAML output), how people see it, and its exit code. */
export interface CommandResult<T = unknown> {
  /**
   * The kind of document `data` is printed as (-o json/yaml): see documents.ts and schemas/. null only for commands
   * whose spec says printsResult: false (the CLI refuses -o there).
   */
  kind: DocumentKind | null;
  /** The document's fields, printed after apiVersion and kind. */
  data: T;
  human(style: Style): string;
  /**
   * `-o name`: the objects the command names, as kubectl prints them (`secret/cacerts`,
   * `deployment.apps/istiod`), one a line. Only for commands whose spec says `namesObjects`.
   */
  names?(): string[];
  /** Defaults to 0. */
  exitCode?: ExitCodeValue;
}

export async function renderResult(result: CommandResult, format: OutputFormat, style: Style): Promise<string> {
  if (format === 'table') return result.human(style);
  if (result.kind === null) throw new Error('internal: this result has no document kind');
  switch (format) {
    case 'json':
      return JSON.stringify(toDocument(result.kind, result.data), null, 2) + '\n';
    case 'yaml': {
      const { stringify } = await import('yaml');
      return stringify(toDocument(result.kind, result.data));
    }
    case 'name': {
      if (!result.names) throw new Error(`internal: ${result.kind} names no objects`);
      return result
        .names()
        .map((n) => n + '\n')
        .join('');
    }
  }
}
