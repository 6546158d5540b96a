/** Findings from path validation problems, and the per-certificate checks (signature, key, validity). */
import type { BundleLayout, LAYOUT_FILES } from './bundle.js';
import { certificateKey, isSelfSigned, type Certificate } from './certificate.js';
import { signatureAlgorithmOid, SIGNATURE_ALGORITHMS } from './der.js';
import { finding, type Finding, type FindingCode } from './findings.js';
import type { PathCert, PathProblem } from './path.js';
import type { ValidateOptions } from './validate.js';

type Names = (typeof LAYOUT_FILES)[BundleLayout];

/** Turns the problems of a failed path search into findings; `context` says who fails (istiod, or peers on X). */
export function pathFindings(
  problems: PathProblem[],
  context: string,
  names: Names,
  pool: { intermediates: PathCert[]; roots: PathCert[] },
  signingCert: Certificate,
): Finding[] {
  const fileOf = (p: PathCert) =>
    p.cert?.der.equals(signingCert.der)
      ? names.signingCert
      : pool.roots.some((r) => r === p || (r.cert && p.cert?.der.equals(r.cert.der)))
        ? names.roots
        : p.cert
          ? names.chain
          : names.signingCert;
  const out: Finding[] = [];
  const add = (code: FindingCode, p: PathCert, text: string) =>
    out.push(finding(code, fileOf(p), `${context}: ${text}`));
  for (const pr of problems) {
    const who = `"${pr.cert.name}"`;
    switch (pr.rule) {
      case 'no-issuer':
        if (!pr.cert.cert) {
          out.push(
            finding(
              'CHAIN_MISSING_CA_CERT',
              names.chain,
              `${context}: istiod sends ${names.chain} after every certificate it issues, and it lacks ca-cert ` +
                `("${signingCert.x509.subject}"), so peers cannot find the issuer. Write cert-chain.pem as ` +
                `ca-cert, intermediates, root.`,
            ),
          );
        } else {
          add(
            'CHAIN_UNTRUSTED',
            pr.cert,
            `no certificate in ${names.chain} or ${names.roots} issued ${who}; add the missing intermediates or ` +
              `the root that issued it.`,
          );
        }
        break;
      case 'bad-signature':
        add('CHAIN_UNTRUSTED', pr.cert, `${who}: ${pr.detail}; the chain does not lead to a root in ${names.roots}.`);
        break;
      case 'issuer-not-ca':
        if (pool.roots.some((r) => r === pr.cert || (r.cert && pr.cert.cert?.der.equals(r.cert.der)))) {
          add(
            'CHAIN_UNTRUSTED',
            pr.cert,
            `root ${who} ${pr.detail}, so Go refuses what it signed; reissue it with CA:TRUE.`,
          );
          break;
        }
        add('INTERMEDIATE_NOT_CA', pr.cert, `${who} ${pr.detail}, yet it is the issuer; reissue it with CA:TRUE.`);
        break;
      case 'intermediate-not-ca':
        add('INTERMEDIATE_NOT_CA', pr.cert, `${who} ${pr.detail}, yet it is the issuer; reissue it with CA:TRUE.`);
        break;
      case 'issuer-no-key-cert-sign':
        add(
          'CA_CERT_NO_KEY_CERT_SIGN',
          pr.cert,
          `${who} ${pr.detail} without keyCertSign, so Go refuses the certificates it signed; reissue it with ` +
            `keyCertSign and cRLSign.`,
        );
        break;
      case 'weak-signature':
        add('SIGNATURE_WEAK', pr.cert, `${who} ${pr.detail}, which Go refuses; reissue it with SHA-256 or stronger.`);
        break;
      case 'expired':
        add('CERT_EXPIRED', pr.cert, `${who} ${pr.detail}; issue a new one (kubectl istio-ca generate).`);
        break;
      case 'not-yet-valid':
        add(
          'CERT_NOT_YET_VALID',
          pr.cert,
          `${who} is ${pr.detail}; check the clock of the machine that issued it, or wait.`,
        );
        break;
      case 'pathlen':
        add('PATHLEN_EXCEEDED', pr.cert, `${who} ${pr.detail}; reissue it with a larger pathLen or shorten the chain.`);
        break;
      case 'eku':
        add(
          pr.detail.includes('no clientAuth') ? 'CA_EKU_NO_CLIENT_AUTH' : 'CA_EKU_NO_SERVER_AUTH',
          pr.cert,
          `CA ${who} ${pr.detail}; Go and Envoy check extended key usage through the whole chain. Remove the EKU ` +
            `from CA certificates or list both serverAuth and clientAuth.`,
        );
        break;
      case 'name-constraints':
        add(
          'NAME_CONSTRAINTS_VIOLATED',
          pr.cert,
          `${who} ${pr.detail}; reissue it with name constraints that permit the trust domain URI and istiod's DNS ` +
            `name.`,
        );
        break;
    }
  }
  return out;
}

/** Signature algorithm, key strength and validity of one certificate on the path, appended to `findings`. */
export function checkCertificate(cert: Certificate, file: string, opts: ValidateOptions, findings: Finding[]): void {
  const subject = cert.x509.subject;
  const alg = SIGNATURE_ALGORITHMS[signatureAlgorithmOid(cert.der)];
  // Nobody checks a root's signature on itself; Go refuses SHA-1 everywhere else.
  if (alg?.weak && !isSelfSigned(cert)) {
    findings.push(
      finding(
        'SIGNATURE_WEAK',
        file,
        `"${subject}" is signed with ${alg.name}; istiod (Go crypto/x509) rejects SHA-1 and MD5. Reissue it with ` +
          `SHA-256 or stronger.`,
      ),
    );
  }
  const key = certificateKey(cert);
  if (key.type === 'RSA' && key.bits < 2048) {
    findings.push(
      finding(
        'KEY_TOO_SMALL',
        file,
        `policy: "${subject}" has an RSA ${key.bits} key; Go accepts it, but use RSA 2048 or larger (4096 is ` +
          `Istio's default for plugged-in CAs).`,
      ),
    );
  } else if (key.type === 'other' && key.label !== 'ed25519') {
    findings.push(
      finding(
        'KEY_UNSUPPORTED',
        file,
        `"${subject}" has a ${key.label} key; istiod (Go) supports RSA, ECDSA P-256/P-384/P-521 and Ed25519 keys. ` +
          `Reissue it.`,
      ),
    );
  }
  checkExpiry(cert, file, opts, findings, false);
}

/** Expired, not yet valid or expiring soon; `unused` certificates (on no path) only warn. */
export function checkExpiry(
  cert: Certificate,
  file: string,
  opts: ValidateOptions,
  findings: Finding[],
  unused: boolean,
): void {
  const subject = cert.x509.subject;
  const now = opts.now.getTime();
  const notAfter = cert.x509.notAfter;
  if (notAfter.getTime() <= now) {
    findings.push(
      unused
        ? finding(
            'CERT_EXPIRED_UNUSED',
            file,
            `"${subject}" expired on ${notAfter.toISOString()}; no path uses it, so istiod ignores it. Remove it.`,
          )
        : finding(
            'CERT_EXPIRED',
            file,
            `"${subject}" expired on ${notAfter.toISOString()}; issue a new one (kubectl istio-ca generate).`,
          ),
    );
  } else if (cert.x509.notBefore.getTime() > now) {
    if (!unused) {
      findings.push(
        finding(
          'CERT_NOT_YET_VALID',
          file,
          `"${subject}" is not valid before ${cert.x509.notBefore.toISOString()}; check the clock of the machine ` +
            `that issued it, or wait.`,
        ),
      );
    }
  } else if (!unused && notAfter.getTime() - now < opts.expiryWarningDays * 86_400_000) {
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
