/**
 * The bundles of a zero-downtime root rotation A -> B, as Istio's own integration test builds them (pure):
 *   1 trust-both     ca-cert A, key A, chain A, root-cert.pem = A + B
 *   2 switch-signer  ca-cert B, key B, chain B, root-cert.pem = A + B + B (new bytes: pushed, workloads re-sign)
 *   3 drop-old       ca-cert B, key B, chain B, root-cert.pem = B
 * The old root file is kept byte for byte (CRLF, text around the PEM blocks): Istio before 1.30 accepts a root
 * change on hot reload only when the old bundle's bytes are a substring of the new one, or the new one's of the
 * old one. `rootTransitionAccepted` states that rule so the planner can check every step against it.
 */
import type { BundleData } from '../ca/bundle.js';
import { parsePem } from '../ca/pem.js';
import { pemFingerprints } from '../istio/secret-bundle.js';
import { fileOf } from './layout.js';

const SIGNER = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem'] as const;

/** The signing files of `from` with `roots` as root-cert.pem. */
export function withRoots(from: BundleData, roots: Buffer): BundleData {
  const out: BundleData = {};
  for (const n of SIGNER) out[n] = fileOf(from, n);
  out['root-cert.pem'] = roots;
  return out;
}

/** `a` then `b`, with a line break between them when `a` does not end with one (a PEM END line needs it). */
export function appendPem(a: Buffer, b: Buffer): Buffer {
  const last = a.length ? a[a.length - 1] : 0x0a;
  return Buffer.concat(last === 0x0a ? [a, b] : [a, Buffer.from('\n'), b]);
}

/** The PEM blocks of `roots` whose certificate is not among `exclude`, re-encoded (only new roots are). */
function rootsNotIn(roots: Buffer, exclude: string[]): Buffer {
  const blocks = parsePem(roots.toString('utf8')).filter(
    (b) => b.label === 'CERTIFICATE' && !exclude.includes(pemFingerprints(b.pem)[0] ?? ''),
  );
  return Buffer.from(blocks.map((b) => b.pem).join(''));
}

/** root-cert.pem of trust-both: the old file verbatim, then every new root it does not hold yet. */
export function trustBothRoots(oldRoots: Buffer, nextRoots: Buffer): Buffer {
  const added = rootsNotIn(nextRoots, pemFingerprints(oldRoots));
  return added.length ? appendPem(oldRoots, added) : oldRoots;
}

/** root-cert.pem of switch-signer: trust-both's file verbatim plus the new root file again (the bytes change). */
export function switchSignerRoots(trustBoth: Buffer, nextRoots: Buffer): Buffer {
  return appendPem(trustBoth, nextRoots);
}

/**
 * Whether istiod's multi-root hot reload accepts root file `from` -> `to`. Before 1.30: one file's bytes contain
 * the other's. Since 1.30: one set of roots contains the other. Unchanged bytes are always accepted.
 */
export function rootTransitionAccepted(from: Buffer, to: Buffer, byteRule: boolean): boolean {
  if (from.equals(to)) return true;
  if (byteRule) return to.includes(from) || from.includes(to);
  const a = new Set(pemFingerprints(from));
  const b = new Set(pemFingerprints(to));
  return [...a].every((f) => b.has(f)) || [...b].every((f) => a.has(f));
}
