#!/usr/bin/env node
// npm run schemas: writes schemas/<kind>.schema.json, the JSON Schema of each document that `-o json`/`-o yaml`
// print, from the TypeScript types in src/output/documents.ts (ts-json-schema-generator), inside the
// { apiVersion, kind } envelope. `--check` writes nothing and fails when a committed schema differs from the types.
// The unit tests validate real output against the committed files (test/unit/output-schema.test.ts).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';
import { format } from 'prettier';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const check = process.argv.includes('--check');
const source = readFileSync(join(root, 'src/output/documents.ts'), 'utf8');
const apiVersion = source.match(/API_VERSION = '([^']+)'/)[1];
const kinds = [...source.matchAll(/^ {2}(\w+Result): (\w+);$/gm)].map((m) => ({ kind: m[1], type: m[2] }));
if (kinds.length < 10) throw new Error(`found only ${kinds.length} kinds in src/output/documents.ts`);

const generator = createGenerator({
  path: join(root, 'src/output/documents.ts'),
  tsconfig: join(root, 'tsconfig.json'),
  skipTypeCheck: true,
  expose: 'export',
  topRef: true,
  jsDoc: 'extended',
  additionalProperties: false,
  sortProps: false,
});

/** The schema of one kind: the envelope's two fields, then the type's own, and the definitions it refers to. */
function documentSchema({ kind, type }) {
  const generated = generator.createSchema(type);
  const defs = generated.definitions ?? {};
  const name = decodeURIComponent(generated.$ref.replace('#/definitions/', ''));
  const fields = defs[name];
  if (fields?.type !== 'object' || !fields.properties) throw new Error(`${type} is not an object type`);
  delete defs[name];
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://istio-ca.kubectl.io/schemas/${apiVersion.split('/')[1]}/${kind}.json`,
    title: `${kind} (${apiVersion})`,
    description: fields.description ?? `The output of kubectl istio-ca -o json: ${kind}.`,
    type: 'object',
    properties: {
      apiVersion: { const: apiVersion, description: 'The version of this output format.' },
      kind: { const: kind, description: 'What this document is.' },
      ...fields.properties,
    },
    required: ['apiVersion', 'kind', ...(fields.required ?? [])],
    additionalProperties: false,
    ...(Object.keys(defs).length ? { definitions: defs } : {}),
  };
}

const dir = join(root, 'schemas');
mkdirSync(dir, { recursive: true });
const stale = [];
for (const k of kinds) {
  const file = join(dir, `${k.kind}.schema.json`);
  // As `npm run format` would leave it, so that --check and the formatter agree.
  const text = await format(JSON.stringify(documentSchema(k)), { parser: 'json', printWidth: 120 });
  if (check) {
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) stale.push(file);
  } else writeFileSync(file, text);
}
if (stale.length) {
  process.stderr.write(
    `schemas out of date with src/output/documents.ts (run npm run schemas):\n  ${stale.join('\n  ')}\n`,
  );
  process.exit(1);
}
process.stderr.write(`schemas: ${kinds.length} kinds ${check ? 'match the types' : `written to ${dir}`}\n`);
