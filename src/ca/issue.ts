/** Issuing a root CA and intermediate CAs with @peculiar/x509 over Node's WebCrypto. */
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from './x509.js';
import { describeKey } from './keys.js';
import { encodePem } from './pem.js';
import { generateKeyPair, type KeySpec } from './keygen.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;

export { generateKeyPair, type KeySpec } from './keygen.js';

/** A CA certificate with its key, both as PEM. The key PEM must only ever be written to a 0600 file. */
export interface IssuedCA {
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface NameSpec {
  commonName: string;
  organization: string;
  locality?: string;
}

export interface IssueOptions {
  name: NameSpec;
  key: KeySpec;
  notBefore: Date;
  validityMs: number;
  /** basicConstraints pathLen; undefined leaves it unlimited. */
  pathLen?: number;
  dnsNames?: string[];
}

/** The signature algorithm a key of `spec` signs with: SHA-256, or SHA-384 for P-384. */
function signingAlgorithm(spec: KeySpec): Algorithm | EcdsaParams {
  return spec.kty === 'RSA'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    : { name: 'ECDSA', hash: spec.curve === 'P-384' ? 'SHA-384' : 'SHA-256' };
}

/** A random positive serial of 128 bits (RFC 5280 allows up to 20 octets; CA/B asks for >= 64 random bits). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40; // positive, and no leading zero octet
  return bytes.toString('hex');
}

function jsonName(n: NameSpec): x509.JsonName {
  const name: x509.JsonName = [{ O: [n.organization] }];
  if (n.locality) name.push({ L: [n.locality] });
  name.push({ CN: [n.commonName] });
  return name;
}

async function caExtensions(
  opts: IssueOptions,
  publicKey: CryptoKey,
  issuerPublicKey: CryptoKey,
): Promise<x509.Extension[]> {
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, opts.pathLen, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuerPublicKey),
  ];
  if (opts.dnsNames?.length) {
    ext.push(new x509.SubjectAlternativeNameExtension(opts.dnsNames.map((value) => ({ type: 'dns' as const, value }))));
  }
  return ext;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  return encodePem('PRIVATE KEY', new Uint8Array(pkcs8));
}

/** Issues a self-signed root CA. Pass pre-generated `keys` to overlap key generation. */
export async function issueRoot(opts: IssueOptions, keys?: CryptoKeyPair): Promise<IssuedCA> {
  const pair = keys ?? (await generateKeyPair(opts.key));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: jsonName(opts.name),
    issuer: jsonName(opts.name),
    notBefore: opts.notBefore,
    notAfter: new Date(opts.notBefore.getTime() + opts.validityMs),
    signingAlgorithm: signingAlgorithm(opts.key),
    publicKey: pair.publicKey,
    signingKey: pair.privateKey,
    extensions: await caExtensions(opts, pair.publicKey, pair.publicKey),
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(pair), cert, keys: pair };
}

/** An existing CA that signs new intermediates: its certificate and private key. */
export interface Issuer {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
  keySpec: KeySpec;
}

/** Issues an intermediate CA signed by `issuer`. */
export async function issueIntermediate(opts: IssueOptions, issuer: Issuer, keys?: CryptoKeyPair): Promise<IssuedCA> {
  const pair = keys ?? (await generateKeyPair(opts.key));
  const issuerPublicKey = await issuer.cert.publicKey.export();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: jsonName(opts.name),
    issuer: issuer.cert.subjectName,
    notBefore: opts.notBefore,
    notAfter: new Date(opts.notBefore.getTime() + opts.validityMs),
    signingAlgorithm: signingAlgorithm(issuer.keySpec),
    publicKey: pair.publicKey,
    signingKey: issuer.privateKey,
    extensions: await caExtensions(opts, pair.publicKey, issuerPublicKey),
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(pair), cert, keys: pair };
}

/** Key spec of an existing key, for signing with it; throws on key types istiod does not support. */
export function keySpecOf(key: KeyObject): KeySpec {
  const d = describeKey(key);
  if (d.type === 'RSA' && (d.bits === 2048 || d.bits === 3072 || d.bits === 4096)) return { kty: 'RSA', size: d.bits };
  if (d.type === 'EC' && (d.curve === 'P-256' || d.curve === 'P-384')) return { kty: 'EC', curve: d.curve };
  throw new Error(`unsupported key ${d.label}: use RSA 2048/3072/4096 or EC P-256/P-384`);
}

/** Turns an existing root (certificate PEM and parsed private key) into an Issuer. */
export async function importIssuer(certPem: string, key: KeyObject): Promise<Issuer> {
  const keySpec = keySpecOf(key);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const privateKey = await subtle.importKey(
    'pkcs8',
    der,
    keySpec.kty === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: keySpec.curve },
    false,
    ['sign'],
  );
  return { cert: new x509.X509Certificate(certPem), privateKey, keySpec };
}
