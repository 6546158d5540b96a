/**
 * Validates a cacerts bundle the way istiod does (x509 verification of ca-cert through cert-chain to the roots,
 * key parses and matches, CA flag) and more strictly (key usage, chain order, signature and key strength, pathLen,
 * expiry). Pure: no cluster, no file system.
 */
import type { KeyObject } from 'node:crypto';
import { X509Crl } from './x509.js';
import {
  CRL_FILE,
  detectLayout,
  ISTIO_GENERATED_KEY,
  LAYOUT_FILES,
  type BundleData,
  type BundleLayout,
} from './bundle.js';
import {
  basicConstraints,
  certificateKey,
  extKeyUsage,
  fingerprint,
  inspectCertificate,
  isIssuedBy,
  isSelfSigned,
  keyUsage,
  parseCertificate,
  type Certificate,
  type CertificateInfo,
} from './certificate.js';
import { signatureAlgorithmOid, SIGNATURE_ALGORITHMS } from './der.js';
import { finding, hasErrors, type Finding } from './findings.js';
import { describeKey, isPrivateKeyLabel, KeyError, parsePrivateKey, type KeyDescription } from './keys.js';
import { looksLikePem, parsePem, PemError, type PemBlock } from './pem.js';

export interface ValidateOptions {
  /** The time at which the chain must verify. */
  now: Date;
  /** Certificates expiring within this many days get a CERT_EXPIRING warning. */
  expiryWarningDays: number;
}

/** The parsed bundle, for callers that act on it (fingerprints, PEM bytes). Holds the key: never print it. */
export interface ParsedBundle {
  layout: BundleLayout;
  signingCert: Certificate | null;
  signingKey: KeyObject | null;
  chain: Certificate[];
  roots: Certificate[];
  /** ca-cert, its intermediates and the trust anchor, when the chain verifies. */
  path: Certificate[] | null;
}

/** What `inspect` and `replace` show: data only, no key material. */
export interface BundleReport {
  layout: BundleLayout;
  valid: boolean;
  multiRoot: boolean;
  signingCert: CertificateInfo | null;
  signingKey: KeyDescription | null;
  chain: CertificateInfo[];
  roots: CertificateInfo[];
  findings: Finding[];
}

export interface BundleValidation {
  report: BundleReport;
  parsed: ParsedBundle;
}

const MAX_PATH = 8;

/** Validates bundle files (name -> bytes). Never throws on bad input: every problem becomes a finding. */
export function validateBundle(data: BundleData, opts: ValidateOptions): BundleValidation {
  const findings: Finding[] = [];
  const layout = detectLayout(data);
  const names = LAYOUT_FILES[layout];

  if (layout === 'tls' && data['ca-cert.pem'] !== undefined) {
    findings.push(
      finding(
        'BUNDLE_LAYOUT_AMBIGUOUS',
        'tls.crt',
        'both tls.crt and ca-cert.pem are present; istiod uses tls.crt, tls.key and ca.crt and ignores the rest. Keep one layout.',
      ),
    );
  }
  if (data[ISTIO_GENERATED_KEY] !== undefined) {
    findings.push(
      finding(
        'BUNDLE_ISTIO_GENERATED',
        ISTIO_GENERATED_KEY,
        "the istio-generated key marks istiod's own self-signed storage; remove it from a plugged-in bundle.",
      ),
    );
  }

  const certFile = (name: string): Certificate[] | null => {
    const blocks = readBlocks(data, name, findings);
    if (!blocks) return null;
    if (blocks.some((b) => isPrivateKeyLabel(b.label))) {
      findings.push(
        finding(
          'PRIVATE_KEY_IN_CERT_FILE',
          name,
          `${name} holds a private key block; certificate files are published (root-cert.pem reaches every namespace). Remove the key from it.`,
        ),
      );
    }
    const certs: Certificate[] = [];
    for (const b of blocks.filter((x) => x.label === 'CERTIFICATE')) {
      try {
        certs.push(parseCertificate(b.der));
      } catch {
        findings.push(
          finding(
            'CERT_UNPARSEABLE',
            name,
            `a CERTIFICATE block in ${name} is not a valid X.509 certificate; regenerate or re-export it.`,
          ),
        );
        return null;
      }
    }
    if (certs.length === 0) {
      findings.push(
        finding('PEM_NOT_FOUND', name, `${name} holds no CERTIFICATE block; put the PEM-encoded certificate in it.`),
      );
      return null;
    }
    return certs;
  };

  const signingCerts = certFile(names.signingCert);
  const signingCert = signingCerts?.[0] ?? null;
  if (signingCerts && signingCerts.length > 1 && layout === 'cacerts') {
    findings.push(
      finding(
        'CA_CERT_EXTRA_BLOCKS',
        names.signingCert,
        `${names.signingCert} holds ${signingCerts.length} certificates; istiod reads only the first. Put the intermediates in cert-chain.pem.`,
      ),
    );
  }
  const chain = layout === 'tls' ? (signingCerts ?? []) : (certFile(names.chain) ?? []);
  const roots = certFile(names.roots) ?? [];

  let signingKey: KeyObject | null = null;
  const keyBlocks = readBlocks(data, names.signingKey, findings);
  if (keyBlocks) {
    try {
      signingKey = parsePrivateKey(keyBlocks);
    } catch (e) {
      const ke = e as KeyError;
      if (ke.reason === 'encrypted') {
        findings.push(
          finding(
            'KEY_ENCRYPTED',
            names.signingKey,
            `${names.signingKey} is encrypted; istiod needs it unencrypted (PKCS#1, SEC1 or PKCS#8). Decrypt it, e.g. openssl pkey -in KEY -out KEY.`,
          ),
        );
      } else {
        findings.push(
          finding(
            'KEY_UNPARSEABLE',
            names.signingKey,
            `${names.signingKey}: ${ke.message}. Use an unencrypted RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY block.`,
          ),
        );
      }
    }
  }
  if (signingCert && signingKey && !signingCert.native.checkPrivateKey(signingKey)) {
    findings.push(
      finding(
        'KEY_MISMATCH',
        names.signingKey,
        `${names.signingKey} does not belong to ${names.signingCert}; supply the key that was issued with this certificate.`,
      ),
    );
  }

  if (signingCert) checkSigningCert(signingCert, names.signingCert, findings);

  if (signingCert && chain.length > 0 && layout === 'cacerts') {
    if (!chain[0]!.der.equals(signingCert.der)) {
      findings.push(
        finding(
          'CHAIN_NOT_STARTING_WITH_CA_CERT',
          names.chain,
          `${names.chain} must start with ca-cert.pem, then any higher intermediates, then the root (cat ca-cert.pem root-cert.pem > cert-chain.pem).`,
        ),
      );
    }
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!isIssuedBy(chain[i]!, chain[i + 1]!)) {
      findings.push(
        finding(
          'CHAIN_NOT_ISSUER_ORDERED',
          names.chain,
          `${names.chain}: certificate ${i + 1} (${chain[i]!.x509.subject}) is not issued by certificate ${i + 2} (${chain[i + 1]!.x509.subject}); order it issuer-first: ca-cert, intermediates, root.`,
        ),
      );
      break;
    }
  }

  for (const root of roots) {
    const name = root.x509.subject;
    if (!isSelfSigned(root)) {
      findings.push(
        finding(
          'ROOT_NOT_SELF_SIGNED',
          names.roots,
          `${names.roots} holds "${name}", which is not self-signed; put only root certificates in it.`,
        ),
      );
    }
    if (!basicConstraints(root)?.ca) {
      findings.push(
        finding(
          'ROOT_NOT_CA',
          names.roots,
          `${names.roots} holds "${name}", which is not a CA certificate; put only root CA certificates in it.`,
        ),
      );
    }
  }

  let path: Certificate[] | null = null;
  if (signingCert && roots.length > 0) {
    path = buildPath(signingCert, chain.slice(1), roots);
    if (!path) {
      findings.push(
        finding(
          'CHAIN_UNTRUSTED',
          names.chain,
          `${names.signingCert} does not chain through ${names.chain} to any root in ${names.roots}; add the missing intermediates or the root that issued it.`,
        ),
      );
    } else {
      checkPath(path, layout, findings);
    }
  }

  const where = new Map<string, string>();
  for (const [file, certs] of [
    [names.signingCert, signingCerts ?? []],
    [names.chain, chain],
    [names.roots, roots],
  ] as const) {
    for (const c of certs) if (!where.has(fingerprint(c))) where.set(fingerprint(c), file);
  }
  const seen = new Set<string>();
  for (const c of [...(signingCerts ?? []), ...chain, ...roots]) {
    const fp = fingerprint(c);
    if (seen.has(fp)) continue;
    seen.add(fp);
    checkCertificate(c, where.get(fp)!, opts, findings);
  }

  if (data[CRL_FILE] !== undefined) checkCrl(data[CRL_FILE], findings);

  const info = (c: Certificate) => inspectCertificate(c, opts.now);
  const report: BundleReport = {
    layout,
    valid: !hasErrors(findings),
    multiRoot: roots.length > 1,
    signingCert: signingCert ? info(signingCert) : null,
    signingKey: signingKey ? describeKey(signingKey) : null,
    chain: chain.map(info),
    roots: roots.map(info),
    findings,
  };
  return { report, parsed: { layout, signingCert, signingKey, chain, roots, path } };
}

/** Reads and PEM-decodes one file, turning absence, emptiness and garbage into findings. */
function readBlocks(data: BundleData, name: string, findings: Finding[]): PemBlock[] | null {
  const bytes = data[name];
  if (bytes === undefined) {
    findings.push(
      finding(
        'BUNDLE_FILE_MISSING',
        name,
        `${name} is missing; istiod refuses an incomplete bundle ("incomplete signing CA bundle detected"). Add it.`,
      ),
    );
    return null;
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') {
    findings.push(finding('BUNDLE_FILE_EMPTY', name, `${name} is empty; put the PEM data in it.`));
    return null;
  }
  if (!looksLikePem(text)) {
    findings.push(
      finding('PEM_NOT_FOUND', name, `${name} holds no PEM block (is it DER or another format?); convert it to PEM.`),
    );
    return null;
  }
  try {
    const blocks = parsePem(text);
    if (blocks.length === 0) {
      findings.push(
        finding('PEM_MALFORMED', name, `${name} has a BEGIN line without a matching END line; re-export the file.`),
      );
      return null;
    }
    return blocks;
  } catch (e) {
    findings.push(finding('PEM_MALFORMED', name, `${name}: ${(e as PemError).message}; re-export the file.`));
    return null;
  }
}

function checkSigningCert(cert: Certificate, file: string, findings: Finding[]): void {
  if (!basicConstraints(cert)?.ca) {
    findings.push(
      finding(
        'CA_CERT_NOT_CA',
        file,
        `${file} ("${cert.x509.subject}") is not a CA certificate (basicConstraints CA:TRUE missing); a leaf cannot sign workload certificates. Use an intermediate CA certificate.`,
      ),
    );
  }
  const ku = keyUsage(cert);
  if (!ku?.includes('keyCertSign')) {
    findings.push(
      finding(
        'CA_CERT_NO_KEY_CERT_SIGN',
        file,
        `${file} ("${cert.x509.subject}") ${ku ? 'has key usage without keyCertSign' : 'has no key usage extension'}; RFC 5280 requires keyCertSign on a certificate that signs others. Reissue it with keyCertSign and cRLSign.`,
      ),
    );
  }
}

/** Finds a path from `leaf` through `intermediates` to one of `roots`, checking names and signatures. */
function buildPath(leaf: Certificate, intermediates: Certificate[], roots: Certificate[]): Certificate[] | null {
  const path = [leaf];
  let current = leaf;
  while (path.length <= MAX_PATH) {
    const anchor = roots.find((r) => r.der.equals(current.der) || isIssuedBy(current, r));
    if (anchor) {
      if (!anchor.der.equals(current.der)) path.push(anchor);
      return path;
    }
    const next = intermediates.find((c) => !path.includes(c) && !c.der.equals(current.der) && isIssuedBy(current, c));
    if (!next) return null;
    path.push(next);
    current = next;
  }
  return null;
}

/** CA flag on intermediates, pathLen on every issuer, and the intermediate's lifetime against its root. */
function checkPath(path: Certificate[], layout: BundleLayout, findings: Finding[]): void {
  const names = LAYOUT_FILES[layout];
  const anchor = path[path.length - 1]!;
  for (let k = 1; k < path.length; k++) {
    const cert = path[k]!;
    const isAnchor = k === path.length - 1;
    const bc = basicConstraints(cert);
    if (!isAnchor && !bc?.ca) {
      findings.push(
        finding(
          'INTERMEDIATE_NOT_CA',
          names.chain,
          `intermediate "${cert.x509.subject}" in ${names.chain} is not a CA certificate; reissue it with CA:TRUE.`,
        ),
      );
    }
    // ca-cert issues end-entity workload certs, so the issuer k steps above it has k CA certificates below it.
    if (bc?.pathLen !== null && bc?.pathLen !== undefined && bc.pathLen < k) {
      findings.push(
        finding(
          'PATHLEN_EXCEEDED',
          isAnchor ? names.roots : names.chain,
          `"${cert.x509.subject}" has pathLen ${bc.pathLen} but ${k} CA certificate(s) below it; reissue it with pathLen >= ${k} or shorten the chain.`,
        ),
      );
    }
  }
  for (const cert of path.slice(0, -1)) {
    if (cert.x509.notAfter.getTime() > anchor.x509.notAfter.getTime()) {
      findings.push(
        finding(
          'INTERMEDIATE_OUTLIVES_ROOT',
          cert === path[0] ? names.signingCert : names.chain,
          `"${cert.x509.subject}" is valid until ${cert.x509.notAfter.toISOString()}, after its root "${anchor.x509.subject}" expires (${anchor.x509.notAfter.toISOString()}); the chain stops verifying when the root expires. Plan a root rotation before then.`,
        ),
      );
    }
  }
}

/** Signature algorithm, key strength, CA EKU and validity of one certificate, appended to `findings`. */
export function checkCertificate(cert: Certificate, file: string, opts: ValidateOptions, findings: Finding[]): void {
  const subject = cert.x509.subject;
  const oid = signatureAlgorithmOid(cert.der);
  const alg = SIGNATURE_ALGORITHMS[oid];
  if (alg?.weak) {
    findings.push(
      finding(
        'SIGNATURE_WEAK',
        file,
        `"${subject}" is signed with ${alg.name}; istiod (Go crypto/x509) rejects SHA-1 and MD5. Reissue it with SHA-256 or stronger.`,
      ),
    );
  }
  const key = certificateKey(cert);
  if (key.type === 'RSA' && key.bits < 2048) {
    findings.push(
      finding(
        'KEY_TOO_SMALL',
        file,
        `"${subject}" has an RSA ${key.bits} key; use RSA 2048 or larger (4096 is Istio's default for plugged-in CAs).`,
      ),
    );
  } else if (key.type === 'EC' && key.curve !== 'P-256' && key.curve !== 'P-384') {
    findings.push(
      finding(
        'KEY_UNSUPPORTED',
        file,
        `"${subject}" uses curve ${key.curve}; istiod supports EC P-256 and P-384. Reissue it with one of those or with RSA.`,
      ),
    );
  } else if (key.type === 'other') {
    findings.push(
      finding(
        'KEY_UNSUPPORTED',
        file,
        `"${subject}" has a ${key.label} key; istiod supports RSA and EC P-256/P-384 keys. Reissue it.`,
      ),
    );
  }
  const eku = extKeyUsage(cert);
  if (basicConstraints(cert)?.ca && eku && !eku.includes('serverAuth') && !eku.includes('any')) {
    findings.push(
      finding(
        'CA_EKU_NO_SERVER_AUTH',
        file,
        `CA "${subject}" restricts extended key usage to ${eku.join(', ')}; Go's verifier then rejects the chain for serverAuth. Remove the EKU from CA certificates or include serverAuth.`,
      ),
    );
  }
  const now = opts.now.getTime();
  const notAfter = cert.x509.notAfter;
  if (notAfter.getTime() <= now) {
    findings.push(
      finding(
        'CERT_EXPIRED',
        file,
        `"${subject}" expired on ${notAfter.toISOString()}; issue a new one (kubectl istio-ca generate).`,
      ),
    );
  } else if (cert.x509.notBefore.getTime() > now) {
    findings.push(
      finding(
        'CERT_NOT_YET_VALID',
        file,
        `"${subject}" is not valid before ${cert.x509.notBefore.toISOString()}; check the clock of the machine that issued it, or wait.`,
      ),
    );
  } else if (notAfter.getTime() - now < opts.expiryWarningDays * 86_400_000) {
    const days = Math.floor((notAfter.getTime() - now) / 86_400_000);
    findings.push(
      finding(
        'CERT_EXPIRING',
        file,
        `"${subject}" expires in ${days} day(s) (${notAfter.toISOString()}); rotate it soon.`,
      ),
    );
  }
}

function checkCrl(bytes: Buffer, findings: Finding[]): void {
  try {
    const blocks = parsePem(bytes.toString('utf8')).filter((b) => b.label === 'X509 CRL');
    if (blocks.length === 0) throw new Error('no X509 CRL block');
    for (const b of blocks) new X509Crl(new Uint8Array(b.der));
  } catch {
    findings.push(
      finding(
        'CRL_UNPARSEABLE',
        CRL_FILE,
        `${CRL_FILE} is not a PEM X509 CRL; istiod (1.27+) fails on it. Fix or remove it.`,
      ),
    );
  }
}
