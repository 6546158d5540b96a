/** The few DER reads the certificate core needs that neither node:crypto nor @peculiar/x509 expose directly. */

export const SIGNATURE_ALGORITHMS: Record<string, { name: string; weak: boolean }> = {
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', weak: true },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', weak: true },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', weak: false },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', weak: false },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', weak: false },
  '1.2.840.113549.1.1.10': { name: 'rsassa-pss', weak: false },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', weak: true },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', weak: false },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', weak: false },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', weak: false },
  '1.2.840.10040.4.3': { name: 'dsa-with-SHA1', weak: true },
  '1.3.101.112': { name: 'ed25519', weak: false },
};

interface Tlv {
  tag: number;
  /** Where the tag byte is. */
  offset: number;
  start: number;
  end: number;
}

function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset];
  let len = buf[offset + 1];
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  if (start + len > buf.length) throw new Error('truncated DER');
  return { tag, offset, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let value = 0;
  for (const b of bytes.subarray(1)) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The OID of the outer signatureAlgorithm of a DER certificate or CRL. */
export function signatureAlgorithmOid(der: Buffer): string {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.start);
  const algId = readTlv(der, tbs.end);
  const oid = readTlv(der, algId.start);
  if (oid.tag !== 0x06) throw new Error('signatureAlgorithm does not start with an OID');
  return decodeOid(der.subarray(oid.start, oid.end));
}

function children(buf: Buffer, tlv: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = tlv.start; at < tlv.end;) {
    const c = readTlv(buf, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

/** The raw TBS fields path building compares byte for byte, as Go's crypto/x509 does. */
export interface TbsFields {
  /** 1 for a v1 certificate (no extensions, no basicConstraints: Go lets it sign), 3 for v3. */
  version: number;
  /** The serial number's DER content is negative: Go 1.23+ refuses to parse the certificate. */
  negativeSerial: boolean;
  issuer: string;
  subject: string;
  /** SubjectPublicKeyInfo, hex: two certificates with the same subject and key are the same CA to Go. */
  spki: string;
}

/** Reads version, serial sign, raw issuer and subject of a DER certificate. Throws on malformed DER. */
export function tbsFields(der: Buffer): TbsFields {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.start);
  const f = children(der, tbs);
  let i = 0;
  let version = 1;
  if (f[0].tag === 0xa0) {
    const v = readTlv(der, f[0].start);
    version = der[v.start] + 1;
    i = 1;
  }
  const serial = f[i];
  const hex = (t: Tlv) => der.subarray(t.start, t.end).toString('hex');
  const whole = (t: Tlv) => der.subarray(t.offset, t.end).toString('hex');
  return {
    version,
    negativeSerial: serial.end > serial.start && (der[serial.start] & 0x80) !== 0,
    issuer: hex(f[i + 2]),
    subject: hex(f[i + 4]),
    spki: whole(f[i + 5]),
  };
}

/** Name constraints of one CA certificate, per name form (RFC 5280 4.2.1.10). */
export interface NameConstraints {
  permitted: { dns: string[]; uri: string[]; ip: string[]; email: string[]; other: number };
  excluded: { dns: string[]; uri: string[]; ip: string[]; email: string[]; other: number };
}

/** Decodes a NameConstraints extension value. */
export function parseNameConstraints(value: Buffer): NameConstraints {
  const empty = () => ({
    dns: [] as string[],
    uri: [] as string[],
    ip: [] as string[],
    email: [] as string[],
    other: 0,
  });
  const nc: NameConstraints = { permitted: empty(), excluded: empty() };
  const seq = readTlv(value, 0);
  for (const part of children(value, seq)) {
    const into = part.tag === 0xa0 ? nc.permitted : part.tag === 0xa1 ? nc.excluded : null;
    if (!into) continue;
    for (const subtree of children(value, part)) {
      const base = readTlv(value, subtree.start);
      const text = value.subarray(base.start, base.end);
      if (base.tag === 0x82) into.dns.push(text.toString('latin1'));
      else if (base.tag === 0x86) into.uri.push(text.toString('latin1'));
      else if (base.tag === 0x81) into.email.push(text.toString('latin1'));
      else if (base.tag === 0x87) into.ip.push(text.toString('hex'));
      else into.other++;
    }
  }
  return nc;
}

/** The parts of a signed DER structure (certificate or CRL): what was signed, by which algorithm, the signature. */
export function signedParts(der: Buffer): { tbs: Buffer; algorithmOid: string; signature: Buffer } {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.start);
  const tbsStart = outer.start;
  const algId = readTlv(der, tbs.end);
  const oid = readTlv(der, algId.start);
  const sig = readTlv(der, algId.end);
  return {
    tbs: der.subarray(tbsStart, tbs.end),
    algorithmOid: decodeOid(der.subarray(oid.start, oid.end)),
    signature: der.subarray(sig.start + 1, sig.end), // BIT STRING: skip the unused-bits byte
  };
}

/** The hash Node's crypto.verify needs for a signature algorithm OID (null for Ed25519), or undefined if unknown. */
export const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.4': 'md5',
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
};
