/**
 * The packaged help measures its text with string-width behind a printable-ASCII fast path (scripts/package/
 * string-width.mjs): its answers must be string-width's own, for every string-width the bundle may import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

type Width = (input: unknown, options?: { ambiguousIsNarrow?: boolean; countAnsiEscapeCodes?: boolean }) => number;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const { withAsciiFastPath } = (await import(pathToFileURL(join(root, 'scripts/package/string-width.mjs')).href)) as {
  withAsciiFastPath: (w: Width) => Width;
};

/** Every string-width under node_modules (ES modules and CommonJS alike). */
function stringWidths(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const pkg = join(dir, e.name);
      if (e.name === 'string-width') {
        found.push(pkg);
      }
      if (e.name.startsWith('@')) walk(pkg, depth);
      else if (existsSync(join(pkg, 'node_modules'))) walk(join(pkg, 'node_modules'), depth + 1);
    }
  };
  walk(join(root, 'node_modules'), 0);
  return found;
}

const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
let seed = 14;
const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
const asciiSamples = [
  '',
  ...printable,
  printable.join(''),
  '  --kty  Key type: RSA or EC  [string] [default: RSA]',
  ...Array.from({ length: 300 }, () => Array.from({ length: random(90) }, () => printable[random(95)]).join('')),
];
const otherSamples = [
  '\u00a0',
  'a\u0301',
  '\u001B[31mred\u001B[39m',
  'tab\there',
  'new\nline',
  '\u0000',
  'caf\u00e9',
  '\u221a ok',
  '\u{1F600}',
  '\u4e2d\u6587',
  '\u007f',
];
const optionSets = [undefined, { ambiguousIsNarrow: false }, { countAnsiEscapeCodes: true }];

test('the ASCII fast path answers as each installed string-width does', async () => {
  const packages = stringWidths();
  assert.ok(
    packages.some((p) => p.includes('cliui')) && packages.some((p) => p.includes('wrap-ansi')),
    packages.join(', '),
  );
  assert.ok(packages.includes(join(root, 'node_modules', 'string-width')), 'the CommonJS one cli-table3 requires');
  for (const pkg of packages) {
    const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string; type?: string };
    const original =
      meta.type === 'module'
        ? ((await import(pathToFileURL(join(pkg, 'index.js')).href)) as { default: Width }).default
        : (createRequire(join(root, 'package.json'))(pkg) as Width);
    const fast = withAsciiFastPath(original);
    for (const s of [...asciiSamples, ...otherSamples])
      for (const o of optionSets)
        assert.equal(
          fast(s, o),
          original(s, o),
          `string-width ${meta.version} ${JSON.stringify(s)} ${JSON.stringify(o)}`,
        );
  }
});

test('printable ASCII never reaches string-width; anything else always does', () => {
  const seen: unknown[] = [];
  const fast = withAsciiFastPath((s) => {
    seen.push(s);
    return -1;
  });
  for (const s of asciiSamples) assert.equal(fast(s), s.length);
  assert.deepEqual(seen, []);
  for (const s of otherSamples) assert.equal(fast(s), -1, JSON.stringify(s));
  assert.equal(fast(42), -1, 'a non-string goes to string-width too');
  assert.deepEqual(seen, [...otherSamples, 42]);
});
