/** The same thing has the same shape in every command's JSON: a certificate's key is one object everywhere. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';

test('key is the same object in generate, inspect DIR and inspect FILE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-shape-'));
  try {
    const gen = await cli(['generate', '-d', dir, '--kty', 'EC', '--curve', 'P-384', '-o', 'json']);
    assert.equal(gen.code, 0, gen.stderr);
    const generated = JSON.parse(gen.stdout).certificates[1].key;
    assert.deepEqual(generated, { type: 'EC', bits: 384, curve: 'P-384', label: 'EC P-384' });
    const bundle = JSON.parse((await cli(['inspect', dir, '-o', 'json'])).stdout);
    assert.deepEqual(bundle.report.signingCert.key, generated);
    const file = JSON.parse((await cli(['inspect', join(dir, 'ca-cert.pem'), '-o', 'json'])).stdout);
    assert.deepEqual(file.certificates[0].key, generated);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
