/**
 * Certificate path validation as Go's crypto/x509 Verify does it, which is what istiod runs on its signing CA and
 * what Istio's agents and peers run on the certificates it issues: candidate issuers by raw subject, every path
 * tried, CheckSignatureFrom's rules (issuer is a CA, keyCertSign when keyUsage is present, no SHA-1), validity of
 * every certificate, pathLen, then extended key usage through the whole chain and name constraints on every SAN
 * below a constrained CA. Differentially tested against Go (test/unit/istiod-differential.test.ts).
 */
import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { basicConstraints, extKeyUsage, keyUsage, type BasicConstraints, type Certificate } from './certificate.js';
import {
  parseNameConstraints,
  SIGNATURE_ALGORITHMS,
  SIGNATURE_HASHES,
  signedParts,
  tbsFields,
  type NameConstraints,
} from './der.js';
import * as x509 from './x509.js';

export type ExtKeyUsage = 'serverAuth' | 'clientAuth';

/** One certificate as path building sees it; a simulated leaf has no DER. */
export interface PathCert {
  /** Subject as text, for messages. */
  name: string;
  subject: string;
  issuer: string;
  spki: string;
  version: number;
  notBefore: Date;
  notAfter: Date;
  bc: BasicConstraints | null;
  keyUsage: string[] | null;
  eku: string[] | null;
  dns: string[];
  uris: string[];
  hasSan: boolean;
  nameConstraints: NameConstraints | null;
  weakSignature: boolean;
  publicKey: KeyObject;
  /** Whether `parent`'s key verifies this certificate's signature (false when the algorithm is unknown). */
  signedBy(parent: PathCert): boolean;
  cert: Certificate | null;
}

/** Why a candidate path was rejected: the certificate concerned and the rule. */
export interface PathProblem {
  rule:
    | 'no-issuer'
    | 'issuer-not-ca'
    | 'issuer-no-key-cert-sign'
    | 'weak-signature'
    | 'bad-signature'
    | 'expired'
    | 'not-yet-valid'
    | 'intermediate-not-ca'
    | 'pathlen'
    | 'eku'
    | 'name-constraints';
  cert: PathCert;
  detail: string;
}

export interface PathResult {
  chain: PathCert[] | null;
  problems: PathProblem[];
}

const OID_NAME_CONSTRAINTS = '2.5.29.30';

/** The path-building view of a parsed certificate. Throws when its DER is malformed. */
export function toPathCert(cert: Certificate): PathCert {
  const f = tbsFields(cert.der);
  const san = cert.x509.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const nc = cert.x509.getExtension(OID_NAME_CONSTRAINTS);
  const parts = signedParts(cert.der);
  return {
    name: cert.x509.subject,
    subject: f.subject,
    issuer: f.issuer,
    spki: f.spki,
    version: f.version,
    notBefore: cert.x509.notBefore,
    notAfter: cert.x509.notAfter,
    bc: basicConstraints(cert),
    keyUsage: keyUsage(cert),
    eku: extKeyUsage(cert),
    dns: names.filter((n) => n.type === 'dns').map((n) => n.value),
    uris: names.filter((n) => n.type === 'url').map((n) => n.value),
    hasSan: san !== null,
    nameConstraints: nc ? parseNameConstraints(Buffer.from(nc.value)) : null,
    weakSignature: SIGNATURE_ALGORITHMS[parts.algorithmOid]?.weak ?? false,
    publicKey: cert.native.publicKey,
    signedBy: (parent) => {
      try {
        return cert.native.verify(parent.publicKey);
      } catch {
        return false;
      }
    },
    cert,
  };
}

/**
 * The certificate istiod would issue with `signer` (util.GenCertFromCSR): serverAuth and clientAuth, the given
 * SANs, valid from two minutes ago; only its issuer matters for path building, so it is simulated, not signed.
 */
export function simulatedLeaf(signer: PathCert, sans: { dns?: string[]; uris?: string[] }, now: Date): PathCert {
  return {
    name: sans.uris?.[0] ?? sans.dns?.[0] ?? 'workload',
    subject: '',
    issuer: signer.subject,
    spki: 'simulated-leaf',
    version: 3,
    notBefore: new Date(now.getTime() - 120_000),
    notAfter: new Date(Math.min(now.getTime() + 86_400_000, signer.notAfter.getTime())),
    bc: { ca: false, pathLen: null },
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    eku: ['serverAuth', 'clientAuth'],
    dns: sans.dns ?? [],
    uris: sans.uris ?? [],
    hasSan: true,
    nameConstraints: null,
    weakSignature: false,
    publicKey: signer.publicKey, // never used: a leaf signs nothing
    // Signed by istiod with the signing key: any certificate holding that key verifies it.
    signedBy: (parent) => parent.spki === signer.spki,
    cert: null,
  };
}

/** crypto/x509 CertPool.contains: the same certificate, byte for byte. */
function sameCert(a: PathCert, b: PathCert): boolean {
  return a === b || (a.cert !== null && b.cert !== null && a.cert.der.equals(b.cert.der));
}

export interface VerifyOptions {
  intermediates: PathCert[];
  roots: PathCert[];
  now: Date;
  usage: ExtKeyUsage;
}

/** Go's Certificate.Verify: the first chain that passes every rule, or every problem met on the way. */
export function verifyPath(leaf: PathCert, opts: VerifyOptions): PathResult {
  const timeProblem = validity(leaf, opts.now);
  if (timeProblem) return { chain: null, problems: [timeProblem] };
  const search: PathProblem[] = [];
  const candidates = opts.roots.some((r) => sameCert(r, leaf)) ? [[leaf]] : buildChains([leaf], opts, search, 0);
  // When paths exist, only why each of them fails matters (as Go reports); otherwise why none was built.
  const rejected: PathProblem[] = [];
  for (const chain of candidates) {
    const problem = checkEku(chain, opts.usage) ?? checkNameConstraints(chain);
    if (!problem) return { chain, problems: [] };
    rejected.push(problem);
  }
  if (candidates.length > 0) return { chain: null, problems: rejected };
  if (search.length === 0) search.push({ rule: 'no-issuer', cert: leaf, detail: 'no certificate named as its issuer' });
  return { chain: null, problems: search };
}

function validity(c: PathCert, now: Date): PathProblem | null {
  if (now < c.notBefore)
    return { rule: 'not-yet-valid', cert: c, detail: `not valid before ${c.notBefore.toISOString()}` };
  if (now > c.notAfter) return { rule: 'expired', cert: c, detail: `expired ${c.notAfter.toISOString()}` };
  return null;
}

const MAX_DEPTH = 10;

function buildChains(chain: PathCert[], opts: VerifyOptions, problems: PathProblem[], depth: number): PathCert[][] {
  const c = chain[chain.length - 1];
  const found: PathCert[][] = [];
  if (depth > MAX_DEPTH) return found;
  let anyNamed = false;
  for (const [kind, pool] of [
    ['root', opts.roots],
    ['intermediate', opts.intermediates],
  ] as const) {
    for (const parent of pool) {
      if (parent.subject !== c.issuer) continue;
      if (chain.some((x) => x.subject === parent.subject && x.spki === parent.spki)) continue;
      anyNamed = true;
      const problem = checkParent(c, parent, kind, chain, opts.now);
      if (problem) {
        problems.push(problem);
        continue;
      }
      if (kind === 'root') found.push([...chain, parent]);
      else found.push(...buildChains([...chain, parent], opts, problems, depth + 1));
    }
  }
  // A self-issued certificate without a parent is a dead end of the search, not a missing issuer.
  if (!anyNamed && c.subject !== c.issuer)
    problems.push({ rule: 'no-issuer', cert: c, detail: 'no certificate named as its issuer' });
  return found;
}

/** CheckSignatureFrom, then isValid, for `parent` as the issuer of the last certificate of `chain`. */
function checkParent(
  c: PathCert,
  parent: PathCert,
  kind: 'root' | 'intermediate',
  chain: PathCert[],
  now: Date,
): PathProblem | null {
  if ((parent.version === 3 && parent.bc === null) || (parent.bc !== null && !parent.bc.ca)) {
    return { rule: 'issuer-not-ca', cert: parent, detail: 'is not a CA (basicConstraints CA:TRUE missing)' };
  }
  if (parent.keyUsage !== null && parent.keyUsage.length > 0 && !parent.keyUsage.includes('keyCertSign')) {
    return { rule: 'issuer-no-key-cert-sign', cert: parent, detail: `has key usage ${parent.keyUsage.join(', ')}` };
  }
  if (c.weakSignature) return { rule: 'weak-signature', cert: c, detail: 'is signed with SHA-1 or MD5' };
  if (!c.signedBy(parent)) {
    return { rule: 'bad-signature', cert: c, detail: `its signature does not verify with "${parent.name}"'s key` };
  }
  const time = validity(parent, now);
  if (time) return time;
  if (kind === 'intermediate' && !parent.bc?.ca) {
    return { rule: 'intermediate-not-ca', cert: parent, detail: 'is not a CA' };
  }
  const below = chain.length - 1;
  if (parent.bc?.pathLen !== null && parent.bc?.pathLen !== undefined && below > parent.bc.pathLen) {
    return {
      rule: 'pathlen',
      cert: parent,
      detail: `has pathLen ${parent.bc.pathLen} but ${below} CA certificate(s) below it`,
    };
  }
  return null;
}

/** checkChainForKeyUsage: every certificate with an EKU (other than any) must list the usage. */
function checkEku(chain: PathCert[], usage: ExtKeyUsage): PathProblem | null {
  for (let i = chain.length - 1; i >= 0; i--) {
    const eku = chain[i].eku;
    if (!eku || eku.length === 0 || eku.includes('any')) continue;
    if (!eku.includes(usage)) {
      return {
        rule: 'eku',
        cert: chain[i],
        detail: `restricts extended key usage to ${eku.join(', ')} (no ${usage})`,
      };
    }
  }
  return null;
}

/** RFC 5280 DNS-style suffix match as Go's dnsHasSuffix: "svc" matches "svc" and "a.svc", ".svc" only "a.svc". */
function domainMatches(constraint: string, name: string): boolean {
  if (constraint === '') return true;
  const c = constraint.toLowerCase();
  const n = name.toLowerCase();
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith('.' + c);
}

function uriHost(uri: string): string {
  try {
    return new URL(uri).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** checkChainConstraints: each certificate's DNS and URI SANs against the constraints of every CA above it. */
function checkNameConstraints(chain: PathCert[]): PathProblem | null {
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i];
    if (!c.hasSan) continue;
    for (const ca of chain.slice(i + 1)) {
      const nc = ca.nameConstraints;
      if (!nc) continue;
      const names: [string, string, string[], string[]][] = [
        ...c.dns.map((d): [string, string, string[], string[]] => ['DNS', d, nc.permitted.dns, nc.excluded.dns]),
        ...c.uris.map((u): [string, string, string[], string[]] => ['URI', u, nc.permitted.uri, nc.excluded.uri]),
      ];
      for (const [form, value, permitted, excluded] of names) {
        const host = form === 'URI' ? uriHost(value) : value;
        const excludedBy = excluded.find((x) => domainMatches(x, host));
        if (excludedBy !== undefined) {
          return {
            rule: 'name-constraints',
            cert: ca,
            detail: `excludes ${form} ${excludedBy}, which covers ${value} of "${c.name}"`,
          };
        }
        if (permitted.length > 0 && !permitted.some((p) => domainMatches(p, host))) {
          return {
            rule: 'name-constraints',
            cert: ca,
            detail: `permits only ${form} ${permitted.join(', ')}, not ${value} of "${c.name}"`,
          };
        }
      }
    }
  }
  return null;
}

/** Verifies a signed DER structure (a CRL) with `publicKey`, as Go's checkSignature; false for SHA-1/MD5. */
export function verifySignedData(der: Buffer, publicKey: KeyObject): boolean {
  try {
    const { tbs, algorithmOid, signature } = signedParts(der);
    if (SIGNATURE_ALGORITHMS[algorithmOid]?.weak ?? true) return false;
    const hash = SIGNATURE_HASHES[algorithmOid];
    if (hash === undefined) return false;
    return verifySignature(hash, tbs, publicKey, signature);
  } catch {
    return false;
  }
}
