/** `inspect`: fetch (read files) -> derive (validate) -> render. */
import { readFile, stat } from 'node:fs/promises';
import { BUNDLE_FILE_NAMES, readBundleDir } from '../ca/bundle.js';
import { inspectCertificate, parseCertificate, type CertificateInfo } from '../ca/certificate.js';
import { hasErrors, type Finding } from '../ca/findings.js';
import { describeKey, isPrivateKeyLabel, parsePrivateKey, type KeyDescription } from '../ca/keys.js';
import { looksLikePem, parsePem } from '../ca/pem.js';
import { checkCertificate, validateBundle, type BundleReport } from '../ca/validate.js';
import { ExitCode, RefusedError } from '../errors.js';
import type { CommandResult } from '../output/render.js';
import type { Style } from '../output/style.js';
import { renderBundleReport, renderCertificate, renderFindings } from './render.js';

export interface InspectOptions {
  path: string;
  now: Date;
  expiryWarningDays: number;
}

export type InspectResult =
  | { kind: 'bundle'; path: string; valid: boolean; report: BundleReport }
  | {
      kind: 'file';
      path: string;
      valid: boolean;
      certificates: CertificateInfo[];
      keys: KeyDescription[];
      findings: Finding[];
    };

/** Inspects a bundle directory or a PEM file; exit 0 when valid (warnings allowed), 2 when any error finding. */
export async function runInspect(opts: InspectOptions): Promise<CommandResult<InspectResult>> {
  let st;
  try {
    st = await stat(opts.path);
  } catch {
    throw new RefusedError(`${opts.path} does not exist`, 'pass a bundle directory or a PEM file');
  }
  const data: InspectResult = st.isDirectory() ? await inspectDir(opts) : await inspectFile(opts);
  return {
    data,
    exitCode: data.valid ? ExitCode.ok : ExitCode.refused,
    human: (style: Style) =>
      data.kind === 'bundle' ? renderBundleReport(data.path, data.report, style) : renderFile(data, style),
  };
}

async function inspectDir(opts: InspectOptions): Promise<InspectResult> {
  const files = await readBundleDir(opts.path);
  if (!Object.keys(files).some((f) => BUNDLE_FILE_NAMES.includes(f))) {
    throw new RefusedError(
      `${opts.path} holds no bundle files`,
      'expected ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (or tls.crt, tls.key, ca.crt)',
    );
  }
  const { report } = validateBundle(files, { now: opts.now, expiryWarningDays: opts.expiryWarningDays });
  return { kind: 'bundle', path: opts.path, valid: report.valid, report };
}

async function inspectFile(opts: InspectOptions): Promise<InspectResult> {
  const text = await readFile(opts.path, 'utf8');
  if (!looksLikePem(text))
    throw new RefusedError(`${opts.path} holds no PEM block`, 'pass a PEM file (-----BEGIN CERTIFICATE-----)');
  let blocks;
  try {
    blocks = parsePem(text);
  } catch (e) {
    throw new RefusedError(`${opts.path}: ${(e as Error).message}`, 're-export the file as PEM');
  }
  const findings: Finding[] = [];
  const certificates: CertificateInfo[] = [];
  const keys: KeyDescription[] = [];
  for (const b of blocks) {
    if (b.label === 'CERTIFICATE') {
      try {
        const cert = parseCertificate(b.der);
        certificates.push(inspectCertificate(cert, opts.now));
        checkCertificate(cert, opts.path, opts, findings);
      } catch {
        findings.push({
          code: 'CERT_UNPARSEABLE',
          severity: 'error',
          file: opts.path,
          message: `a CERTIFICATE block in ${opts.path} is not a valid X.509 certificate; re-export it.`,
        });
      }
    } else if (isPrivateKeyLabel(b.label)) {
      try {
        keys.push(describeKey(parsePrivateKey([b])));
      } catch (e) {
        const encrypted = (e as { reason?: string }).reason === 'encrypted';
        findings.push({
          code: encrypted ? 'KEY_ENCRYPTED' : 'KEY_UNPARSEABLE',
          severity: 'error',
          file: opts.path,
          message: encrypted
            ? 'the private key is encrypted; istiod needs it unencrypted.'
            : `the ${b.label} block is not a valid key; re-export it.`,
        });
      }
    }
  }
  return { kind: 'file', path: opts.path, valid: !hasErrors(findings), certificates, keys, findings };
}

function renderFile(data: Extract<InspectResult, { kind: 'file' }>, style: Style): string {
  let out = '';
  data.certificates.forEach((c, i) => (out += renderCertificate(`${data.path} #${i + 1}`, c, style)));
  for (const k of data.keys) out += `${style.bold('private key')}  ${k.label} (material not shown)\n\n`;
  out += renderFindings(data.findings, data.valid, style);
  return out;
}
