/** One X.509 certificate, parsed once, and the facts `inspect` and the validator read from it. */
import { X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from './x509.js';
import { describeKey, type KeyDescription } from './keys.js';
import { encodePem } from './pem.js';
import { signatureAlgorithmOid, SIGNATURE_ALGORITHMS } from './der.js';

export interface Certificate {
  der: Buffer;
  pem: string;
  native: NodeX509;
  x509: x509.X509Certificate;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  fingerprintSha256: string;
  key: KeyDescription;
  signatureAlgorithm: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  isCA: boolean;
  pathLen: number | null;
  keyUsage: string[];
  extKeyUsage: string[];
  subjectKeyId: string | null;
  authorityKeyId: string | null;
  dnsNames: string[];
  selfSigned: boolean;
}

/** Parses DER bytes; throws when they are not an X.509 certificate. */
export function parseCertificate(der: Buffer): Certificate {
  const native = new NodeX509(der);
  return { der, pem: encodePem('CERTIFICATE', der), native, x509: new x509.X509Certificate(new Uint8Array(der)) };
}

const KEY_USAGE_NAMES: [x509.KeyUsageFlags, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
  [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
  [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
];

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'ocspSigning',
  '2.5.29.37.0': 'any',
};

export interface BasicConstraints {
  ca: boolean;
  pathLen: number | null;
}

export function basicConstraints(cert: Certificate): BasicConstraints | null {
  const ext = cert.x509.getExtension(x509.BasicConstraintsExtension);
  if (!ext) return null;
  return { ca: ext.ca, pathLen: ext.pathLength ?? null };
}

/** Key usage names, or null when the extension is absent. */
export function keyUsage(cert: Certificate): string[] | null {
  const ext = cert.x509.getExtension(x509.KeyUsagesExtension);
  if (!ext) return null;
  return KEY_USAGE_NAMES.filter(([flag]) => (ext.usages & flag) !== 0).map(([, name]) => name);
}

/** Extended key usage names (OIDs when unknown), or null when the extension is absent. */
export function extKeyUsage(cert: Certificate): string[] | null {
  const ext = cert.x509.getExtension(x509.ExtendedKeyUsageExtension);
  if (!ext) return null;
  return ext.usages.map((u) => EKU_NAMES[String(u)] ?? String(u));
}

/** Whether `cert` names itself as issuer and its own key verifies its signature. */
export function isSelfSigned(cert: Certificate): boolean {
  return cert.native.subject === cert.native.issuer && safeVerify(cert, cert);
}

/** Whether `issuer`'s key verifies `cert`'s signature and the names chain. */
export function isIssuedBy(cert: Certificate, issuer: Certificate): boolean {
  return cert.native.checkIssued(issuer.native) && safeVerify(cert, issuer);
}

function safeVerify(cert: Certificate, issuer: Certificate): boolean {
  try {
    return cert.native.verify(issuer.native.publicKey);
  } catch {
    return false;
  }
}

/** SHA-256 fingerprint as colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprint(cert: Certificate): string {
  return cert.native.fingerprint256;
}

export function signatureAlgorithmName(cert: Certificate): string {
  const oid = signatureAlgorithmOid(cert.der);
  return SIGNATURE_ALGORITHMS[oid]?.name ?? oid;
}

export function certificateKey(cert: Certificate): KeyDescription {
  return describeKey(cert.native.publicKey);
}

/** Everything `inspect` shows about one certificate, as data. */
export function inspectCertificate(cert: Certificate, now: Date): CertificateInfo {
  const bc = basicConstraints(cert);
  const ski = cert.x509.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.x509.getExtension(x509.AuthorityKeyIdentifierExtension);
  const san = cert.x509.getExtension(x509.SubjectAlternativeNameExtension);
  const notAfter = cert.x509.notAfter;
  return {
    subject: cert.x509.subject,
    issuer: cert.x509.issuer,
    serial: cert.x509.serialNumber.toLowerCase(),
    fingerprintSha256: fingerprint(cert),
    key: certificateKey(cert),
    signatureAlgorithm: signatureAlgorithmName(cert),
    notBefore: cert.x509.notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
    isCA: bc?.ca ?? false,
    pathLen: bc?.pathLen ?? null,
    keyUsage: keyUsage(cert) ?? [],
    extKeyUsage: extKeyUsage(cert) ?? [],
    subjectKeyId: ski ? colonHex(ski.keyId) : null,
    authorityKeyId: aki?.keyId ? colonHex(aki.keyId) : null,
    dnsNames: san ? san.names.items.filter((n) => n.type === 'dns').map((n) => n.value) : [],
    selfSigned: isSelfSigned(cert),
  };
}

function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/.{2}/g) ?? []).join(':');
}
