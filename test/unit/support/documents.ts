/**
 * The committed JSON Schemas of -o json/yaml (schemas/*.schema.json), compiled by Ajv in strict mode, and a check
 * that a printed document is valid against the schema of its kind. Used by the unit tests and by every e2e run of
 * the plugin that prints JSON or YAML.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';

/** The repository's root, from build/test/unit/support/ (compiled) or test/unit/support/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!readdirSync(dir).includes('package.json')) dir = dirname(dir);
  return dir;
}

export const SCHEMA_DIR = join(repoRoot(), 'schemas');

let compiled: Map<string, ValidateFunction> | undefined;

/** Every schema file, compiled; keyed by the kind its `kind` property holds. Throws on a schema Ajv rejects. */
export function schemas(): Map<string, ValidateFunction> {
  if (compiled) return compiled;
  const ajv = new Ajv({ strict: true, allErrors: true });
  compiled = new Map();
  for (const file of readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .sort()) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as {
      properties: { kind: { const: string } };
    };
    compiled.set(schema.properties.kind.const, ajv.compile(schema));
  }
  return compiled;
}

/** Throws unless `doc` is valid against the schema of the kind it names. Returns it. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the kind it expects
export function checkDocument<T = Record<string, unknown>>(doc: unknown): T {
  const kind = (doc as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string') throw new Error(`output has no kind: ${JSON.stringify(doc)?.slice(0, 200)}`);
  const validate = schemas().get(kind);
  if (!validate) throw new Error(`no schema for kind ${kind} in ${SCHEMA_DIR}`);
  if (!validate(doc)) {
    const errors = (validate.errors ?? []).map(
      (e) => `  ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`,
    );
    throw new Error(`${kind} output does not match schemas/${kind}.schema.json:\n${errors.join('\n')}`);
  }
  return doc as T;
}

/** The -o format of a command line (table when none). */
export function outputFormat(argv: string[]): string {
  let format = 'table';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^(?:-o=?|--output(?:=|$))(.*)$/.exec(a);
    if (!m) continue;
    format = m[1] !== '' ? m[1] : (argv[i + 1] ?? format);
  }
  return format;
}

/** Parses stdout printed with -o json or -o yaml and checks it against its schema; other formats are left alone. */
export function checkPrinted(argv: string[], stdout: string): void {
  const format = outputFormat(argv);
  if (stdout.trim() === '') return;
  if (format === 'json') checkDocument(JSON.parse(stdout));
  else if (format === 'yaml') checkDocument(parseYaml(stdout));
}
