/**
 * What istiod's Go code reads from the bundle files, byte for byte: PEM blocks as encoding/pem finds them,
 * certificates as crypto/x509 parses them, certificate pools as AppendCertsFromPEM fills them, the signing key as
 * util.ParsePemEncodedKey decodes it. Node and openssl are more lenient; istiod is what counts.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parseCertificate, type Certificate } from './certificate.js';
import { tbsFields } from './der.js';
import { countBeginMarkers, goPemBlocks, type PemBlock } from './pem.js';

/** Bundle bytes as text with one character per byte, so PEM offsets match Go's. */
export function bytesText(bytes: Buffer): string {
  return bytes.toString('latin1');
}

/** Blocks Go finds, and how many BEGIN lines it could not read (joined, indented, unterminated or bad base64). */
export function goBlocks(bytes: Buffer): { blocks: PemBlock[]; lost: number } {
  const text = bytesText(bytes);
  const blocks = goPemBlocks(text);
  return { blocks, lost: Math.max(0, countBeginMarkers(text) - blocks.length) };
}

const GO_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1', 'secp224r1']);

/** x509.ParseCertificate: the certificate, or why Go refuses it. */
export function goParseCertificate(der: Buffer): Certificate | string {
  let cert: Certificate;
  try {
    cert = parseCertificate(der);
  } catch {
    return 'is not a valid X.509 certificate';
  }
  let negative: boolean;
  try {
    negative = tbsFields(der).negativeSerial;
  } catch {
    return 'is not a valid X.509 certificate';
  }
  if (negative) return 'has a negative serial number, which Go (1.23 and later) refuses to parse';
  const key = cert.native.publicKey;
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const supported =
    type === 'rsa' || type === 'ed25519' || (type === 'ec' && curve !== undefined && GO_CURVES.has(curve));
  if (!supported) return `has a ${curve ?? type ?? 'unknown'} public key, which Go cannot parse`;
  return cert;
}

/** CertPool.AppendCertsFromPEM: CERTIFICATE blocks without headers that parse; the rest is skipped silently. */
export function goCertPool(blocks: PemBlock[]): { certs: Certificate[]; dropped: { index: number; why: string }[] } {
  const certs: Certificate[] = [];
  const dropped: { index: number; why: string }[] = [];
  blocks.forEach((b, index) => {
    if (b.label !== 'CERTIFICATE' || Object.keys(b.headers).length > 0) return;
    const c = goParseCertificate(b.der);
    if (typeof c === 'string') dropped.push({ index, why: c });
    else certs.push(c);
  });
  return { certs, dropped };
}

const KEY_TYPES: Record<string, 'pkcs1' | 'sec1' | 'pkcs8'> = {
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
  'PRIVATE KEY': 'pkcs8',
};

/** util.ParsePemEncodedKey: the FIRST block must be the key. Returns the key or why istiod cannot read it. */
export function goParseKey(blocks: PemBlock[]): { key: KeyObject } | { why: string; encrypted: boolean } {
  const first = blocks[0];
  if (!first) return { why: 'holds no PEM block Go can read', encrypted: false };
  const encrypted = first.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(first.headers['Proc-Type'] ?? '');
  if (encrypted) return { why: 'is encrypted', encrypted: true };
  const type = KEY_TYPES[first.label];
  if (!type) {
    const later = blocks.findIndex((b) => b.label in KEY_TYPES);
    const hint = later > 0 ? ` (the key is block ${later + 1}; istiod reads only the first)` : '';
    return { why: `starts with a ${first.label} block${hint}`, encrypted: false };
  }
  try {
    const key = createPrivateKey({ key: first.der, format: 'der', type });
    const t = key.asymmetricKeyType;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (!(t === 'rsa' || t === 'ed25519' || (t === 'ec' && curve !== undefined && GO_CURVES.has(curve)))) {
      return { why: `holds a ${curve ?? t ?? 'unknown'} key, which Go cannot use`, encrypted: false };
    }
    return { key };
  } catch {
    return { why: `has a ${first.label} block that is not a valid ${type.toUpperCase()} key`, encrypted: false };
  }
}
