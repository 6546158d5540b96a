/** CA bundles for unit tests, made once per process with the plugin's own generate (EC keys: fast). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleData } from '../../../src/ca/bundle.js';
import { pemFingerprints } from '../../../src/istio/secret-bundle.js';
import { cli } from './run-cli.js';

export interface CaSet {
  dir: string;
  /** name -> bundle: a, b (new root), a2 (new intermediate under a), ab-east/ab-west etc. */
  bundle(name: string): Promise<BundleData>;
  fp(pem: Buffer | undefined): string;
  roots(pem: Buffer | undefined): string[];
}

const FILES = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'];

/** Generates `names` (plain) and per-cluster sets (`x` with clusters) into one temp directory. */
export async function makeCas(
  plain: string[],
  opts: { intermediateOf?: Record<string, string>; clusters?: Record<string, string[]> } = {},
): Promise<CaSet> {
  const dir = await mkdtemp(join(tmpdir(), 'istio-ca-cas-'));
  for (const n of plain) {
    const parent = opts.intermediateOf?.[n];
    const extra = parent
      ? ['--root-cert', join(dir, parent, 'root-cert.pem'), '--root-key', join(dir, parent, 'root-key.pem')]
      : [];
    const r = await cli(['generate', '-d', join(dir, n), '--kty', 'EC', ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
  for (const [n, clusters] of Object.entries(opts.clusters ?? {})) {
    const r = await cli(['generate', '-d', join(dir, n), '--kty', 'EC', ...clusters.flatMap((c) => ['--cluster', c])]);
    assert.equal(r.code, 0, r.stderr);
  }
  return {
    dir,
    async bundle(name) {
      const out: BundleData = {};
      for (const f of FILES) out[f] = await readFile(join(dir, name, f));
      return out;
    },
    fp: (pem) => pemFingerprints(pem)[0] ?? '',
    roots: (pem) => [...new Set(pemFingerprints(pem))],
  };
}
