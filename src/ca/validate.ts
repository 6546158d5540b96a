/**
 * Validates a cacerts bundle the way istiod loads it and the way peers then verify what it issues: the files as Go
 * reads them (go-load.ts), istiod's start-up checks (util.Verify of ca-cert through the chain to the roots, the key,
 * IsCA, the CRL in the cacerts layout, the chain's first certificate not expired), then a workload certificate for
 * spiffe://<trust domain>/... and istiod's serving certificate istiod.<namespace>.svc verified for client and
 * server auth (path.ts). Stricter rules are policy findings (POLICY_FINDINGS) and say so. Pure: no cluster, no I/O.
 */
import type { KeyObject } from 'node:crypto';
import {
  CRL_FILE,
  detectLayout,
  ISTIO_GENERATED_KEY,
  LAYOUT_FILES,
  type BundleData,
  type BundleLayout,
} from './bundle.js';
import {
  fingerprint,
  inspectCertificate,
  isSelfSigned,
  type Certificate,
  type CertificateInfo,
} from './certificate.js';
import { checkCrl } from './crl.js';
import { finding, hasErrors, type Finding } from './findings.js';
import { goBlocks, goCertPool, goParseCertificate, goParseKey } from './go-load.js';
import { describeKey, isPrivateKeyLabel, type KeyDescription } from './keys.js';
import { pathFindings, checkCertificate, checkExpiry } from './validate-path.js';
import { simulatedLeaf, toPathCert, verifyPath, type PathCert } from './path.js';

export { checkCertificate } from './validate-path.js';

export interface ValidateOptions {
  /** The time at which the chain must verify. */
  now: Date;
  /** Certificates expiring within this many days get a CERT_EXPIRING warning. */
  expiryWarningDays: number;
  /** istiod's namespace: the plugged CA also signs istiod.<namespace>.svc. Default istio-system. */
  istioNamespace?: string;
  /** The mesh trust domain of workload identities. Default cluster.local. */
  trustDomain?: string;
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

const LEAF_CONTEXT = '\u0000who\u0000';

/** Validates bundle files (name -> bytes). Never throws on bad input: every problem becomes a finding. */
export function validateBundle(data: BundleData, opts: ValidateOptions): BundleValidation {
  const findings: Finding[] = [];
  const layout = detectLayout(data);
  const names = LAYOUT_FILES[layout];
  layoutFindings(data, layout, findings);

  // Incomplete bundle: istiod refuses ("incomplete signing CA bundle detected").
  const required = layout === 'tls' ? [names.signingCert, names.signingKey, names.roots] : Object.values(names);
  for (const name of new Set(required)) {
    if (data[name] === undefined) {
      findings.push(
        finding(
          'BUNDLE_FILE_MISSING',
          name,
          `${name} is missing; istiod refuses an incomplete bundle ("incomplete signing CA bundle detected"). Add it.`,
        ),
      );
    }
  }

  const signingCert = readSigningCert(data, names.signingCert, layout, findings);
  const signingKey = readSigningKey(data, names.signingKey, findings);
  // istiod reads tls.crt + ca.crt as the chain in the tls layout: byte concatenation, so a missing final line
  // break on tls.crt joins two blocks.
  const chainBytes =
    layout === 'tls'
      ? Buffer.concat([data['tls.crt'] ?? Buffer.alloc(0), data['ca.crt'] ?? Buffer.alloc(0)])
      : (data[names.chain] ?? Buffer.alloc(0));
  const chainFile = layout === 'tls' ? 'tls.crt + ca.crt' : names.chain;
  const chainRead = readPool(chainBytes, chainFile, findings);
  const chain = chainRead.certs;
  const rootsRead = data[names.roots] ? readPool(data[names.roots], names.roots, findings) : { certs: [], dropped: [] };
  const roots = rootsRead.certs;
  for (const d of rootsRead.dropped) {
    findings.push(
      finding(
        'ROOT_UNPARSEABLE',
        names.roots,
        `policy: certificate ${d.index + 1} in ${names.roots} ${d.why}; Go drops it from the trust pool without a ` +
          `word, so the mesh would not trust it. Reissue that root.`,
      ),
    );
  }
  rootBundleFindings(roots, names.roots, findings);

  if (signingCert && signingKey && !signingCert.native.checkPrivateKey(signingKey)) {
    findings.push(
      finding(
        'KEY_MISMATCH',
        names.signingKey,
        `${names.signingKey} does not belong to ${names.signingCert}; supply the key that was issued with this ` +
          `certificate.`,
      ),
    );
  }

  const now = opts.now;
  let path: Certificate[] | null = null;
  if (signingCert && data[names.roots] !== undefined) {
    const pool = {
      intermediates: chain.map(toPathCert),
      roots: roots.map(toPathCert),
      now,
    };
    const ca = toPathCert(signingCert);
    // istiod at start-up and on reload: util.Verify, x509 Verify of ca-cert with default (serverAuth) usage.
    const load = verifyPath(ca, { ...pool, usage: 'serverAuth' });
    if (!load.chain) {
      findings.push(...pathFindings(load.problems, 'istiod refuses the bundle', names, pool, signingCert));
    } else {
      // Every certificate of a verified path is a parsed one; only a simulated leaf has none.
      path = load.chain.flatMap((c) => (c.cert ? [c.cert] : []));
      if (!isCA(signingCert)) {
        // reported below by checkSigningCert; no certificate can be issued
      } else {
        const trustDomain = opts.trustDomain ?? 'cluster.local';
        const istiodName = `istiod.${opts.istioNamespace ?? 'istio-system'}.svc`;
        const leaves: [string, PathCert][] = [
          [
            `workload certificates (spiffe://${trustDomain}/...)`,
            simulatedLeaf(ca, { uris: [`spiffe://${trustDomain}/ns/default/sa/default`] }, now),
          ],
          [`istiod's serving certificate (${istiodName})`, simulatedLeaf(ca, { dns: [istiodName] }, now)],
        ];
        if (ca.notAfter > now) {
          // One finding per cause, naming every certificate kind it breaks.
          const causes = new Map<string, { f: Finding; whats: Set<string> }>();
          for (const [what, leaf] of leaves) {
            for (const usage of ['clientAuth', 'serverAuth'] as const) {
              const r = verifyPath(leaf, { ...pool, usage });
              for (const f of r.chain ? [] : pathFindings(r.problems, LEAF_CONTEXT, names, pool, signingCert)) {
                const key = `${f.code}\0${f.file}\0${f.message}`;
                const cause = causes.get(key) ?? { f, whats: new Set<string>() };
                cause.whats.add(what);
                causes.set(key, cause);
              }
            }
          }
          for (const { f, whats } of causes.values()) {
            findings.push({
              ...f,
              message: f.message.replace(LEAF_CONTEXT, `peers reject ${[...whats].join(' and ')}`),
            });
          }
        }
      }
      chainOrderFindings(signingCert, chain, path, layout, names.chain, findings);
    }
  }
  if (signingCert) checkSigningCert(signingCert, names.signingCert, findings);
  firstChainCert(chainBytes, chainFile, now, findings);

  if (data[CRL_FILE] !== undefined) {
    if (layout === 'tls') {
      findings.push(
        finding(
          'CRL_IGNORED',
          CRL_FILE,
          `${CRL_FILE} is ignored: istiod reads a CRL only in the ca-cert.pem layout, never beside tls.crt. Move ` +
            `to that layout or drop the file.`,
        ),
      );
    } else {
      checkCrl(data[CRL_FILE], chainBytes, names.chain, findings);
    }
  }

  // Strength and validity of what is used; expired extras only warn (Go tries every path and skips them).
  const used = new Set((path ?? []).map(fingerprint));
  const seen = new Set<string>();
  const where = (c: Certificate) =>
    signingCert && c.der.equals(signingCert.der) ? names.signingCert : roots.includes(c) ? names.roots : names.chain;
  for (const c of [...(signingCert ? [signingCert] : []), ...chain, ...roots]) {
    const fp = fingerprint(c);
    if (seen.has(fp)) continue;
    seen.add(fp);
    if (used.has(fp)) checkCertificate(c, where(c), opts, findings);
    else if (path) checkExpiry(c, where(c), opts, findings, true);
  }
  if (path) outlivesRoot(path, names, findings);

  const unique = dedupe(findings);
  const info = (c: Certificate) => inspectCertificate(c, opts.now);
  const report: BundleReport = {
    layout,
    valid: !hasErrors(unique),
    multiRoot: roots.length > 1,
    signingCert: signingCert ? info(signingCert) : null,
    signingKey: signingKey ? describeKey(signingKey) : null,
    chain: chain.map(info),
    roots: roots.map(info),
    findings: unique,
  };
  return { report, parsed: { layout, signingCert, signingKey, chain, roots, path } };
}

function isCA(cert: Certificate): boolean {
  return toPathCert(cert).bc?.ca === true;
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.code}\0${f.file}\0${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function layoutFindings(data: BundleData, layout: BundleLayout, findings: Finding[]): void {
  if (layout === 'tls' && data['ca-cert.pem'] !== undefined) {
    findings.push(
      finding(
        'BUNDLE_LAYOUT_AMBIGUOUS',
        'tls.crt',
        'both tls.crt and ca-cert.pem are present; istiod uses tls.crt, tls.key and ca.crt and ignores the rest. ' +
          'Keep one layout.',
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
}

/** Empty or garbage files, and blocks Go cannot see; null when there is nothing to read. */
function readFileBlocks(bytes: Buffer | undefined, name: string, findings: Finding[]) {
  if (bytes === undefined) return null;
  const text = bytes.toString('latin1');
  if (text.trim() === '') {
    findings.push(finding('BUNDLE_FILE_EMPTY', name, `${name} is empty; put the PEM data in it.`));
    return null;
  }
  const { blocks, lost } = goBlocks(bytes);
  if (blocks.length === 0 && lost === 0) {
    findings.push(
      finding('PEM_NOT_FOUND', name, `${name} holds no PEM block (is it DER or another format?); convert it to PEM.`),
    );
    return null;
  }
  if (lost > 0) {
    findings.push(
      finding(
        'PEM_MALFORMED',
        name,
        `${name}: istiod (Go's PEM decoder) cannot read ${lost} of its ${blocks.length + lost} block(s): a BEGIN ` +
          `line without an END line, an END line followed by more text (blocks joined on one line, or a file ` +
          `without a final line break concatenated with the next), an indented BEGIN line or invalid base64. Put ` +
          `every BEGIN and END line on a line of its own.`,
      ),
    );
  }
  return blocks;
}

function readSigningCert(
  data: BundleData,
  name: string,
  layout: BundleLayout,
  findings: Finding[],
): Certificate | null {
  const blocks = readFileBlocks(data[name], name, findings);
  if (!blocks || blocks.length === 0) return null;
  // util.ParsePemEncodedCertificate: the first block, whatever its label.
  const first = blocks[0];
  if (first.label !== 'CERTIFICATE') {
    findings.push(
      finding(
        isPrivateKeyLabel(first.label) ? 'PRIVATE_KEY_IN_CERT_FILE' : 'CERT_UNPARSEABLE',
        name,
        `${isPrivateKeyLabel(first.label) ? 'policy and istiod: ' : ''}${name} starts with a ${first.label} block; ` +
          `istiod reads only the first block as the signing certificate. Put the certificate first.`,
      ),
    );
    return null;
  }
  const cert = goParseCertificate(first.der);
  if (typeof cert === 'string') {
    findings.push(
      finding('CERT_UNPARSEABLE', name, `the certificate in ${name} ${cert}; istiod refuses it. Reissue it.`),
    );
    return null;
  }
  const more = blocks.filter((b) => b.label === 'CERTIFICATE').length;
  if (more > 1 && layout === 'cacerts') {
    findings.push(
      finding(
        'CA_CERT_EXTRA_BLOCKS',
        name,
        `${name} holds ${more} certificates; istiod signs with the first only. Put the intermediates in ` +
          `cert-chain.pem.`,
      ),
    );
  }
  if (blocks.some((b) => isPrivateKeyLabel(b.label))) privateKeyInCertFile(name, findings);
  return cert;
}

function privateKeyInCertFile(name: string, findings: Finding[]): void {
  findings.push(
    finding(
      'PRIVATE_KEY_IN_CERT_FILE',
      name,
      `policy: ${name} holds a private key block; certificate files are published (root-cert.pem reaches every ` +
        `namespace, the chain every peer). Remove the key from it.`,
    ),
  );
}

function readSigningKey(data: BundleData, name: string, findings: Finding[]): KeyObject | null {
  const blocks = readFileBlocks(data[name], name, findings);
  if (!blocks) return null;
  const r = goParseKey(blocks);
  if ('key' in r) return r.key;
  findings.push(
    r.encrypted
      ? finding(
          'KEY_ENCRYPTED',
          name,
          `${name} is encrypted; istiod needs it unencrypted (PKCS#1, SEC1 or PKCS#8). Decrypt it, e.g. openssl ` +
            `pkey -in KEY -out KEY.`,
        )
      : finding(
          'KEY_UNPARSEABLE',
          name,
          `${name} ${r.why}; istiod reads only the first PEM block and needs an unencrypted RSA PRIVATE KEY, EC ` +
            `PRIVATE KEY or PRIVATE KEY there (openssl ecparam -genkey writes EC PARAMETERS first: add -noout, or ` +
            `convert with openssl pkey).`,
        ),
  );
  return null;
}

function readPool(bytes: Buffer, name: string, findings: Finding[]) {
  const blocks = readFileBlocks(bytes.length > 0 ? bytes : undefined, name, findings) ?? [];
  if (blocks.some((b) => isPrivateKeyLabel(b.label))) privateKeyInCertFile(name, findings);
  return goCertPool(blocks);
}

function rootBundleFindings(roots: Certificate[], file: string, findings: Finding[]): void {
  for (const root of roots) {
    const name = root.x509.subject;
    if (!isSelfSigned(root)) {
      findings.push(
        finding(
          'ROOT_NOT_SELF_SIGNED',
          file,
          `policy: ${file} holds "${name}", which is not self-signed; Go would trust it as an anchor, but the ` +
            `trust bundle should hold only roots. Remove it.`,
        ),
      );
    } else if (!isCA(root)) {
      findings.push(
        finding(
          'ROOT_NOT_CA',
          file,
          `policy: ${file} holds "${name}", which is not a CA certificate; put only root CA certificates in it.`,
        ),
      );
    }
  }
}

function checkSigningCert(cert: Certificate, file: string, findings: Finding[]): void {
  const p = toPathCert(cert);
  if (!p.bc?.ca) {
    findings.push(
      finding(
        'CA_CERT_NOT_CA',
        file,
        `${file} ("${cert.x509.subject}") is not a CA certificate (basicConstraints CA:TRUE missing); istiod ` +
          `refuses it ("certificate is not authorized to sign other certificates"). Use an intermediate CA ` +
          `certificate.`,
      ),
    );
  }
  if (p.keyUsage === null) {
    findings.push(
      finding(
        'CA_CERT_NO_KEY_USAGE',
        file,
        `${file} ("${cert.x509.subject}") has no key usage extension; Go accepts that, but RFC 5280 requires ` +
          `keyCertSign on a CA. Reissue it with keyCertSign and cRLSign when you next rotate.`,
      ),
    );
  }
}

/** NewIstioCA: the first certificate of the chain (istiod's chain TTL) must parse and be valid. */
function firstChainCert(chainBytes: Buffer, file: string, now: Date, findings: Finding[]): void {
  if (chainBytes.length === 0) return;
  const first = goBlocks(chainBytes).blocks[0];
  const cert = first ? goParseCertificate(first.der) : 'is missing';
  if (typeof cert === 'string') {
    findings.push(
      finding(
        'CERT_UNPARSEABLE',
        file,
        `the first certificate of ${file} ${cert}; istiod fails to create its CA ("failed to get cert chain TTL"). ` +
          `Start the chain with ca-cert.pem.`,
      ),
    );
  } else if (cert.x509.notAfter <= now) {
    findings.push(
      finding(
        'CERT_EXPIRED',
        file,
        `the first certificate of ${file} ("${cert.x509.subject}") has expired; istiod fails to create its CA ` +
          `("cert chain has expired"). Start the chain with a valid ca-cert.pem.`,
      ),
    );
  }
}

function chainOrderFindings(
  signingCert: Certificate,
  chain: Certificate[],
  path: Certificate[],
  layout: BundleLayout,
  file: string,
  findings: Finding[],
): void {
  if (layout !== 'cacerts' || chain.length === 0) return;
  const at = (c: Certificate) => chain.findIndex((x) => x.der.equals(c.der));
  if (!chain[0].der.equals(signingCert.der) && at(signingCert) > 0) {
    findings.push(
      finding(
        'CHAIN_NOT_STARTING_WITH_CA_CERT',
        file,
        `policy: ${file} must start with ca-cert.pem, then any higher intermediates, then the root (cat ` +
          `ca-cert.pem root-cert.pem > cert-chain.pem).`,
      ),
    );
  }
  const positions = path.map(at).filter((i) => i >= 0);
  if (positions.some((p, i) => i > 0 && p < positions[i - 1])) {
    findings.push(
      finding(
        'CHAIN_NOT_ISSUER_ORDERED',
        file,
        `policy: ${file} is not in issuer order; order it ca-cert, intermediates, root (Go accepts any order, not ` +
          `every TLS peer does).`,
      ),
    );
  }
  const extras = chain.filter((c) => !path.some((p) => p.der.equals(c.der)));
  if (extras.length > 0) {
    findings.push(
      finding(
        'CHAIN_EXTRA_CERTS',
        file,
        `${file} holds ${extras.length} certificate(s) not on the path from ca-cert to the root ` +
          `(${extras.map((c) => `"${c.x509.subject}"`).join(', ')}); istiod sends them to every peer. Remove them.`,
      ),
    );
  }
}

function outlivesRoot(path: Certificate[], names: (typeof LAYOUT_FILES)[BundleLayout], findings: Finding[]): void {
  const anchor = path[path.length - 1];
  for (const cert of path.slice(0, -1)) {
    if (cert.x509.notAfter.getTime() > anchor.x509.notAfter.getTime()) {
      findings.push(
        finding(
          'INTERMEDIATE_OUTLIVES_ROOT',
          cert === path[0] ? names.signingCert : names.chain,
          `"${cert.x509.subject}" is valid until ${cert.x509.notAfter.toISOString()}, after its root ` +
            `"${anchor.x509.subject}" expires (${anchor.x509.notAfter.toISOString()}); the chain stops verifying ` +
            `when the root expires. Plan a root rotation before then.`,
        ),
      );
    }
  }
}
