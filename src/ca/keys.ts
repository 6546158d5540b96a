/** Private and public keys: parsing PKCS#1, SEC1 and PKCS#8 PEM, and describing key type and size. */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { PemBlock } from './pem.js';

export type KeyType = 'RSA' | 'EC' | 'other';

export interface KeyDescription {
  type: KeyType;
  /** RSA modulus length in bits; EC field size in bits. */
  bits: number;
  /** EC curve as NIST names it (P-256, P-384, P-521) or the OpenSSL name for others. */
  curve?: string;
  /** Short form for tables: `RSA 4096`, `EC P-256`. */
  label: string;
}

export class KeyError extends Error {
  constructor(
    message: string,
    readonly reason: 'encrypted' | 'unparseable' | 'unsupported',
  ) {
    super(message);
  }
}

const CURVES: Record<string, { name: string; bits: number }> = {
  prime256v1: { name: 'P-256', bits: 256 },
  secp384r1: { name: 'P-384', bits: 384 },
  secp521r1: { name: 'P-521', bits: 521 },
};

const KEY_LABELS: Record<string, 'pkcs1' | 'sec1' | 'pkcs8'> = {
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
  'PRIVATE KEY': 'pkcs8',
};

/** True for the labels of private-key PEM blocks, encrypted or not. */
export function isPrivateKeyLabel(label: string): boolean {
  return label in KEY_LABELS || label === 'ENCRYPTED PRIVATE KEY';
}

/**
 * Parses the first private key among `blocks` (EC PARAMETERS blocks are skipped). Throws KeyError naming the
 * problem; the error message never contains key material.
 */
export function parsePrivateKey(blocks: PemBlock[]): KeyObject {
  const block = blocks.find((b) => isPrivateKeyLabel(b.label));
  if (!block) {
    const labels = blocks.map((b) => b.label).join(', ') || 'none';
    throw new KeyError(`no private key block found (blocks: ${labels})`, 'unparseable');
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(block.headers['Proc-Type'] ?? '')) {
    throw new KeyError('the private key is encrypted; istiod needs an unencrypted key', 'encrypted');
  }
  const type = KEY_LABELS[block.label];
  try {
    return createPrivateKey({ key: block.der, format: 'der', type });
  } catch {
    throw new KeyError(`the ${block.label} block is not a valid ${type.toUpperCase()} key`, 'unparseable');
  }
}

/** Describes a public or private key: type, size, curve. */
export function describeKey(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    return { type: 'RSA', bits, label: `RSA ${bits}` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const raw = details.namedCurve ?? 'unknown';
    const curve = CURVES[raw];
    const name = curve?.name ?? raw;
    return { type: 'EC', bits: curve?.bits ?? 0, curve: name, label: `EC ${name}` };
  }
  const t = key.asymmetricKeyType ?? 'unknown';
  return { type: 'other', bits: 0, label: t };
}
