/**
 * Key pairs for new CAs, made by Node's WebCrypto (OpenSSL, on libuv's thread pool). Kept apart from the certificate
 * core (@peculiar/x509, asn1js): generate starts the keys before it loads that core, so the two overlap.
 */
import { webcrypto } from 'node:crypto';

export type KeySpec = { kty: 'RSA'; size: 2048 | 3072 | 4096 } | { kty: 'EC'; curve: 'P-256' | 'P-384' };

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

function algorithm(spec: KeySpec): RsaHashedKeyGenParams | EcKeyGenParams {
  return spec.kty === 'RSA'
    ? {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: spec.size,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      }
    : { name: 'ECDSA', namedCurve: spec.curve };
}

export function generateKeyPair(spec: KeySpec): Promise<CryptoKeyPair> {
  return subtle.generateKey(algorithm(spec), true, ['sign', 'verify']);
}

/** How many key pairs generate needs: one per intermediate (at least one), and one for a new root. */
export function keysNeeded(newRoot: boolean, clusters: number): number {
  return (newRoot ? 1 : 0) + Math.max(1, clusters);
}

/** Key pairs of one spec, handed out in order: the first `started` are being made already, later ones on demand. */
export interface KeySource {
  readonly spec: KeySpec;
  next(): Promise<CryptoKeyPair>;
}

/**
 * Starts `count` key pairs of `spec` at once (RSA key generation dominates generate's time). A pair never taken is
 * dropped; a failure surfaces where the pair is taken, never as an unhandled rejection.
 */
export function startKeys(spec: KeySpec, count: number): KeySource {
  const pending = Array.from({ length: count }, () => {
    const p = generateKeyPair(spec);
    p.catch(() => undefined);
    return p;
  });
  return { spec, next: () => pending.shift() ?? generateKeyPair(spec) };
}
