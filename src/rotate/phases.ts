/**
 * The zero-downtime root rotation A -> B as Istio's own integration test does it (pure):
 *   1 trust-both     ca-cert A, key A, chain A, root-cert.pem = A + B
 *   2 switch-signer  ca-cert B, key B, chain B, root-cert.pem = A + B + B (new bytes: pushed, workloads re-sign)
 *   3 drop-old       ca-cert B, key B, chain B, root-cert.pem = B
 * Each bundle's roots are a byte-superset or subset of the previous one, which istiod's multi-root hot reload
 * accepts (byte-substring before 1.30, set inclusion since).
 */
import type { BundleData } from '../ca/bundle.js';
import { parsePem } from '../ca/pem.js';
import { pemFingerprints } from '../istio/secret-bundle.js';

export const PHASES = ['trust-both', 'switch-signer', 'drop-old'] as const;
export type Phase = (typeof PHASES)[number];
export type RotationKind = 'intermediate-only' | 'root-rotation' | 'self-signed-to-plugged';

export interface PhaseStep {
  phase: Phase;
  bundle: BundleData;
  /** Roots every namespace must trust once the phase has reached it. */
  expectedRoots: string[];
  /** Whether namespaces may trust only exactly expectedRoots (the last phase). */
  exact: boolean;
  /** Fingerprint of the signing CA after this phase. */
  signer: string;
}

const pick = (b: BundleData, names: string[]) =>
  Object.fromEntries(names.filter((n) => b[n] !== undefined).map((n) => [n, b[n]!])) as BundleData;
const SIGNER = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem'];

function certBlocks(text: Buffer): string[] {
  return parsePem(text.toString('utf8'))
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.pem);
}

/**
 * The three phase bundles from the old root PEM(s), the old signer (null once phase 2 is applied and the old key is
 * gone: phase 1 cannot be rebuilt then) and the new bundle.
 */
export function rotationSteps(oldRoots: Buffer, oldSigner: BundleData | null, next: BundleData): PhaseStep[] {
  const newRootPem = next['root-cert.pem']!;
  const newFps = pemFingerprints(newRootPem);
  const onlyOld = certBlocks(oldRoots)
    .filter((pem) => !newFps.includes(pemFingerprints(pem)[0]!))
    .join('');
  const both = Buffer.from(onlyOld + newRootPem.toString('utf8'));
  const bothPlusNew = Buffer.from(onlyOld + newRootPem.toString('utf8') + newRootPem.toString('utf8'));
  const allFps = [...new Set(pemFingerprints(both))];
  const signerOf = (b: BundleData) => pemFingerprints(b['ca-cert.pem'])[0]!;
  const steps: PhaseStep[] = [];
  if (oldSigner)
    steps.push({
      phase: 'trust-both',
      bundle: { ...pick(oldSigner, SIGNER), 'root-cert.pem': both },
      expectedRoots: allFps,
      exact: false,
      signer: signerOf(oldSigner),
    });
  steps.push({
    phase: 'switch-signer',
    bundle: { ...pick(next, SIGNER), 'root-cert.pem': bothPlusNew },
    expectedRoots: allFps,
    exact: false,
    signer: signerOf(next),
  });
  steps.push({
    phase: 'drop-old',
    bundle: { ...pick(next, SIGNER), 'root-cert.pem': newRootPem },
    expectedRoots: newFps,
    exact: true,
    signer: signerOf(next),
  });
  return steps;
}

/** Which kind of rotation takes `current` to `next`. */
export function rotationKind(currentRoots: string[], next: BundleData, selfSigned: boolean): RotationKind {
  if (selfSigned) return 'self-signed-to-plugged';
  const nextRoots = pemFingerprints(next['root-cert.pem']);
  return nextRoots.length === currentRoots.length && nextRoots.every((f) => currentRoots.includes(f))
    ? 'intermediate-only'
    : 'root-rotation';
}
