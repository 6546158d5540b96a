/** Human views of certificates, bundle reports and findings; shared by inspect, replace and status. */
import type { CertificateInfo } from '../ca/certificate.js';
import type { Finding } from '../ca/findings.js';
import type { BundleReport } from '../ca/validate.js';
import { MARK, type Style } from '../output/style.js';

export function renderCertificate(title: string, c: CertificateInfo, style: Style): string {
  const rows: [string, string][] = [
    ['subject', c.subject],
    ['issuer', c.issuer + (c.selfSigned ? ' (self-signed)' : '')],
    ['serial', c.serial],
    ['sha-256', c.fingerprintSha256],
    ['key', c.key.label],
    ['signature', c.signatureAlgorithm],
    ['not before', c.notBefore],
    ['not after', `${c.notAfter} (${c.daysLeft} days left)`],
    ['CA', c.isCA ? `yes${c.pathLen !== null ? `, pathLen ${c.pathLen}` : ''}` : 'no'],
    ['key usage', c.keyUsage.join(', ') || '-'],
    ['ext key usage', c.extKeyUsage.join(', ') || '-'],
    ['subject key id', c.subjectKeyId ?? '-'],
    ['authority key id', c.authorityKeyId ?? '-'],
  ];
  if (c.dnsNames.length) rows.push(['DNS names', c.dnsNames.join(', ')]);
  return `${style.bold(title)}\n${rows.map(([k, v]) => `  ${k.padEnd(17)} ${v}`).join('\n')}\n\n`;
}

export function renderFindings(findings: Finding[], valid: boolean, style: Style, extra = ''): string {
  let out = '';
  for (const f of findings) {
    const mark = f.severity === 'error' ? style.bad(MARK.fail) : style.warn(MARK.warn);
    out += `${mark} ${f.code} (${f.file}): ${f.message}\n`;
  }
  out += valid
    ? `${style.ok(MARK.ok)} valid${extra}\n`
    : `${style.bad(MARK.fail)} invalid: ${findings.filter((f) => f.severity === 'error').length} error(s)\n`;
  return out;
}

export function renderBundleReport(path: string, r: BundleReport, style: Style): string {
  let out =
    `${style.bold('bundle')} ${path} ` +
    `(${r.layout === 'tls' ? 'tls.crt/tls.key/ca.crt' : 'ca-cert/ca-key/cert-chain/root-cert'} layout)\n\n`;
  if (r.signingCert) out += renderCertificate('signing CA (ca-cert)', r.signingCert, style);
  if (r.signingKey) out += `${style.bold('signing key')}  ${r.signingKey.label} (material not shown)\n\n`;
  r.chain.slice(1).forEach((c, i) => (out += renderCertificate(`cert-chain #${i + 2}`, c, style)));
  r.roots.forEach(
    (c, i) => (out += renderCertificate(r.roots.length > 1 ? `root ${i + 1} of ${r.roots.length}` : 'root', c, style)),
  );
  const extra = r.multiRoot ? ` (multi-root trust bundle: ${r.roots.length} roots)` : '';
  return out + renderFindings(r.findings, r.valid, style, extra);
}
