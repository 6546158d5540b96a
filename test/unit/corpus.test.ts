import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateBundle } from '../../src/ca/validate.js';
import { buildCorpus, CORPUS_NOW, slug, writeCorpus } from '../corpus/make-corpus.js';
import { readBundleDir } from '../../src/ca/bundle.js';
import { cli } from './support/run-cli.js';

const cases = await buildCorpus();

test('the corpus has at least 18 bad cases and several valid ones', () => {
  assert.ok(cases.filter((c) => c.expect.length > 0).length >= 18);
  assert.ok(cases.filter((c) => c.expect.length === 0).length >= 5);
});

for (const c of cases) {
  test(`corpus: ${c.name} yields ${c.expect.length ? c.expect.join(', ') : 'no finding'}`, () => {
    const data = Object.fromEntries(Object.entries(c.files).map(([k, v]) => [k, Buffer.from(v)]));
    const { report } = validateBundle(data, { now: CORPUS_NOW, expiryWarningDays: 30 });
    const codes = [...new Set(report.findings.map((f) => f.code))].sort();
    assert.deepEqual(codes, c.expect, JSON.stringify(report.findings, null, 2));
    for (const f of report.findings) {
      assert.ok(f.message.length > 20, 'every finding says what to do');
      assert.ok(f.file, 'every finding names its file');
    }
    assert.equal(report.valid, !report.findings.some((f) => f.severity === 'error'));
  });
}

test('a multi-root bundle is reported as such', () => {
  const c = cases.find((x) => x.name === 'valid multi-root trust bundle')!;
  const { report } = validateBundle(Object.fromEntries(Object.entries(c.files).map(([k, v]) => [k, Buffer.from(v)])), {
    now: CORPUS_NOW,
    expiryWarningDays: 30,
  });
  assert.equal(report.multiRoot, true);
  assert.equal(report.roots.length, 2);
});

test('inspect reads the corpus from disk: exit 0 for valid cases, 2 for invalid, and never prints key bytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corpus-'));
  try {
    await writeCorpus(dir, cases);
    for (const c of cases) {
      const caseDir = join(dir, slug(c.name));
      const files = await readBundleDir(caseDir);
      assert.ok(Object.keys(files).length > 0);
      const json = await cli(['inspect', caseDir, '-o', 'json'], { now: CORPUS_NOW });
      const hasError = c.expect.some(
        (code) =>
          !['CERT_EXPIRING', 'INTERMEDIATE_OUTLIVES_ROOT', 'CA_CERT_EXTRA_BLOCKS', 'BUNDLE_LAYOUT_AMBIGUOUS'].includes(
            code,
          ),
      );
      assert.equal(json.code, hasError ? 2 : 0, `${c.name}: ${json.stderr}`);
      const parsed = JSON.parse(json.stdout);
      assert.deepEqual([...new Set(parsed.report.findings.map((f: { code: string }) => f.code))].sort(), c.expect);
      const table = await cli(['inspect', caseDir], { now: CORPUS_NOW });
      for (const out of [json.stdout, json.stderr, table.stdout, table.stderr]) {
        assert.doesNotMatch(out, /BEGIN [A-Z ]*PRIVATE KEY/);
        for (const keyFile of ['ca-key.pem', 'tls.key']) {
          const pem = c.files[keyFile];
          if (!pem) continue;
          for (const line of pem.split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----'))) {
            assert.ok(!out.includes(line), `${c.name}: key bytes leaked`);
          }
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
