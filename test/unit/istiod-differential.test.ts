/**
 * The validator against istiod itself: every bundle of the openssl corpus goes to the plugin's validator and to the
 * oracle built from Istio's own code (test/istiod/cmd/bundle-oracle). The plugin must never pass a bundle istiod
 * refuses or whose workload or istiod certificates peers reject; where it is stricter, the finding must be a
 * documented policy finding that says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBundleDir } from '../../src/ca/bundle.js';
import { validateBundle } from '../../src/ca/validate.js';
import { compareVerdicts, verdictTable, type OracleVerdict, type PluginVerdict } from '../corpus/differential.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const oracle = process.env.ISTIO_CA_BUNDLE_ORACLE ?? join(repo, 'test/istiod/bin/bundle-oracle');
const skip =
  !existsSync(oracle) && process.env.SKIP_E2E === '1'
    ? 'SKIP_E2E=1 and no bundle oracle built: the differential test against istiod needs Go (scripts/run-tests.mjs builds it)'
    : false;

test('the validator agrees with istiod (differential, openssl corpus)', { skip }, async (t) => {
  assert.ok(
    existsSync(oracle),
    `${oracle} is missing; build it: (cd test/istiod && go build -o bin/bundle-oracle ./cmd/bundle-oracle)`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'istiod-differential-'));
  try {
    const started = Date.now();
    execFileSync('bash', [join(repo, 'test/corpus/openssl-corpus.sh'), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const generated = Date.now();
    const index = (await readFile(join(dir, 'index.tsv'), 'utf8')).trim().split('\n');
    const names = index.map((l) => l.split('\t')[0]);
    const out = execFileSync(
      oracle,
      names.map((n) => join(dir, n)),
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const verdicts = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OracleVerdict);
    const now = new Date();
    const plugin: PluginVerdict[] = [];
    for (const bundle of names) {
      const { report } = validateBundle(await readBundleDir(join(dir, bundle)), { now, expiryWarningDays: 30 });
      plugin.push({ bundle, valid: report.valid, findings: report.findings });
    }
    t.diagnostic(
      `${names.length} bundles; openssl generation ${generated - started} ms, oracle and validator ${Date.now() - generated} ms`,
    );
    assert.ok(names.length >= 60, `the corpus has ${names.length} bundles, fewer than 60`);
    const disagreements = compareVerdicts(plugin, verdicts);
    const dangerous = disagreements.filter((d) => d.kind === 'dangerous').length;
    t.diagnostic(`${dangerous} dangerous disagreement(s), ${disagreements.length - dangerous} unexplained refusal(s)`);
    assert.deepEqual(
      disagreements,
      [],
      `the plugin disagrees with istiod:\n${disagreements.map((d) => `  ${d.kind}: ${d.bundle}: ${d.why}`).join('\n')}\n\n${verdictTable(plugin, verdicts)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
