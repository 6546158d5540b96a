/**
 * ca-crl.pem as istiod (1.27+) checks it in the cacerts layout (util.Verify): every block of cert-chain.pem is
 * parsed as a certificate, every block of ca-crl.pem as a CRL, and each chain certificate needs a CRL it signed.
 */
import { X509Crl } from './x509.js';
import { CRL_FILE } from './bundle.js';
import { finding, type Finding } from './findings.js';
import { goBlocks, goParseCertificate } from './go-load.js';
import { toPathCert, verifySignedData } from './path.js';
import type { Certificate } from './certificate.js';

export function checkCrl(crlBytes: Buffer, chainBytes: Buffer, chainFile: string, findings: Finding[]): void {
  if (crlBytes.length === 0) return; // istiod skips an empty CRL file
  const signers: Certificate[] = [];
  for (const [i, b] of goBlocks(chainBytes).blocks.entries()) {
    const c = goParseCertificate(b.der);
    if (typeof c === 'string') {
      findings.push(
        finding(
          'CERT_UNPARSEABLE',
          chainFile,
          `block ${i + 1} of ${chainFile} ${b.label === 'CERTIFICATE' ? c : `is a ${b.label} block`}; with ` +
            `${CRL_FILE} present istiod parses every block of the chain and refuses the bundle.`,
        ),
      );
      return;
    }
    signers.push(c);
  }
  const crls: Buffer[] = [];
  for (const b of goBlocks(crlBytes).blocks) {
    try {
      new X509Crl(new Uint8Array(b.der));
      crls.push(b.der);
    } catch {
      findings.push(
        finding(
          'CRL_UNPARSEABLE',
          CRL_FILE,
          `${CRL_FILE} holds a ${b.label} block that is not an X509 CRL; istiod (1.27+) refuses the bundle. Fix or ` +
            `remove it.`,
        ),
      );
      return;
    }
  }
  // Keyed by subject as istiod keys them: two chain certificates with one subject need one CRL.
  const missing = new Map<string, Certificate>();
  for (const s of signers) missing.set(s.x509.subject, s);
  for (const [subject, s] of missing) {
    const p = toPathCert(s);
    const mayIssueCrl =
      !((p.version === 3 && p.bc === null) || (p.bc !== null && !p.bc.ca)) &&
      (p.keyUsage === null || p.keyUsage.length === 0 || p.keyUsage.includes('cRLSign'));
    if (mayIssueCrl && crls.some((der) => verifySignedData(der, s.native.publicKey))) missing.delete(subject);
  }
  if (missing.size > 0) {
    const who = [...missing.keys()].map((s) => `"${s}"`).join(', ');
    findings.push(
      finding(
        crls.length === 0 ? 'CRL_UNPARSEABLE' : 'CRL_MISSING_SIGNER',
        CRL_FILE,
        `${crls.length === 0 ? `${CRL_FILE} holds no PEM X509 CRL; ` : ''}istiod (1.27+) needs a CRL signed by ` +
          `every certificate in ${chainFile} (the root too when it is there) and refuses the bundle: none from ` +
          `${who}. Add their CRLs or drop ${CRL_FILE}.`,
      ),
    );
  }
}
