/** `inspect`: fetch (read files) -> derive (validate) -> render. */
import { BUNDLE_FILE_NAMES, readBundleDir } from '../ca/bundle.js';
import { inspectCertificate, parseCertificate, type CertificateInfo } from '../ca/certificate.js';
import { hasErrors, type Finding } from '../ca/findings.js';
import { describeKey, isPrivateKeyLabel, parsePrivateKey, type KeyDescription } from '../ca/keys.js';
import { goBlocks, goParseCertificate } from '../ca/go-load.js';
import { encodePem, looksLikePem, type PemBlock } from '../ca/pem.js';
import { inputKind, readInputFile } from '../fsutil/read.js';
import { checkCertificate, validateBundle, type BundleReport } from '../ca/validate.js';
import { ExitCode, RefusedError } from '../errors.js';
import type { CommandResult } from '../output/render.js';
import type { InspectBundleFields, InspectFileFields } from '../output/documents.js';
import type { Style } from '../output/style.js';
import { renderBundleReport, renderCertificate, renderFindings } from './render.js';

export interface InspectOptions {
  /** A directory, a file, or `-` for standard input (read with readStdin). */
  path: string;
  readStdin?: () => Promise<Buffer>;
  now: Date;
  expiryWarningDays: number;
  /** istiod's namespace, for the serving certificate istiod.<namespace>.svc the CA also signs. */
  istioNamespace?: string;
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
export async function runInspect(
  opts: InspectOptions,
): Promise<CommandResult<InspectBundleFields | InspectFileFields>> {
  const input = opts.path === '-' ? 'stdin' : await inputKind(opts.path);
  const data: InspectResult = input === 'directory' ? await inspectDir(opts) : await inspectFile(opts);
  // The document's kind says which shape it is (InspectBundleResult or InspectFileResult).
  const { kind, ...fields } = data;
  return {
    kind: kind === 'bundle' ? 'InspectBundleResult' : 'InspectFileResult',
    data: fields,
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
  const { report } = validateBundle(files, {
    now: opts.now,
    expiryWarningDays: opts.expiryWarningDays,
    ...(opts.istioNamespace ? { istioNamespace: opts.istioNamespace } : {}),
  });
  return { kind: 'bundle', path: opts.path, valid: report.valid, report };
}

/** The PEM blocks of a file; a DER certificate (as `openssl x509 -outform der` writes) counts as one block. */
function blocksOf(bytes: Buffer, name: string): PemBlock[] {
  const text = bytes.toString('latin1');
  if (!looksLikePem(text)) {
    if (bytes[0] === 0x30) {
      try {
        parseCertificate(bytes);
        return [{ label: 'CERTIFICATE', headers: {}, der: bytes, pem: encodePem('CERTIFICATE', bytes) }];
      } catch {
        // not DER either: refused below
      }
    }
    throw new RefusedError(
      `${name} holds no PEM block and is not a DER certificate`,
      'pass a PEM file (-----BEGIN CERTIFICATE-----) or one DER-encoded certificate',
    );
  }
  // Read as istiod reads it: a block Go cannot see is an error, not something to skip quietly.
  const { blocks, lost } = goBlocks(bytes);
  if (lost > 0) {
    throw new RefusedError(
      `${name}: ${lost} PEM block(s) cannot be read (a BEGIN line without a matching END line, blocks joined on ` +
        `one line, an indented BEGIN line or invalid base64)`,
      're-export the file as PEM, every BEGIN and END line on a line of its own',
    );
  }
  if (!blocks.some((b) => b.label === 'CERTIFICATE' || isPrivateKeyLabel(b.label))) {
    refuseNonCertificate(
      name,
      blocks.map((b) => b.label),
    );
  }
  return blocks;
}

const WHAT_BLOCK: Record<string, string> = {
  'CERTIFICATE REQUEST': 'a certificate signing request (CSR)',
  'NEW CERTIFICATE REQUEST': 'a certificate signing request (CSR)',
  'PUBLIC KEY': 'a public key',
  'RSA PUBLIC KEY': 'an RSA public key',
  'X509 CRL': 'a certificate revocation list (CRL)',
  'EC PARAMETERS': 'EC parameters',
  PKCS7: 'a PKCS#7 bundle',
  'TRUSTED CERTIFICATE': 'an OpenSSL TRUSTED CERTIFICATE (istiod reads only CERTIFICATE blocks)',
};

/** Refuses (exit 2) a file that holds neither a certificate nor a private key, naming what it holds instead. */
function refuseNonCertificate(name: string, labels: string[]): never {
  const what = [...new Set(labels.map((l) => WHAT_BLOCK[l] ?? `a ${l} block`))].join(', ');
  throw new RefusedError(
    `${name} is not a certificate or a bundle: it holds ${what}`,
    'pass a PEM certificate file or a bundle directory (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)',
  );
}

async function inspectFile(opts: InspectOptions): Promise<InspectResult> {
  let bytes: Buffer;
  if (opts.path === '-') {
    if (!opts.readStdin) throw new RefusedError('inspect - needs standard input', 'pipe the PEM or DER file in');
    bytes = await opts.readStdin();
  } else bytes = await readInputFile(opts.path);
  const blocks = blocksOf(bytes, opts.path === '-' ? 'standard input' : opts.path);
  const findings: Finding[] = [];
  const certificates: CertificateInfo[] = [];
  const keys: KeyDescription[] = [];
  for (const b of blocks) {
    if (b.label === 'CERTIFICATE') {
      const cert = goParseCertificate(b.der);
      if (typeof cert === 'string') {
        findings.push({
          code: 'CERT_UNPARSEABLE',
          severity: 'error',
          file: opts.path,
          message: `a CERTIFICATE block in ${opts.path} ${cert}; istiod cannot use it. Reissue or re-export it.`,
        });
      } else {
        certificates.push(inspectCertificate(cert, opts.now));
        checkCertificate(cert, opts.path, opts, findings);
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
