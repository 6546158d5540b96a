/** `generate`: issue a root (or reuse one) and one intermediate per cluster, write them atomically, validate. */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readBundleDir } from '../ca/bundle.js';
import {
  basicConstraints,
  inspectCertificate,
  isSelfSigned,
  keyUsage,
  parseCertificate,
  type Certificate,
} from '../ca/certificate.js';
import { hasErrors, type Finding } from '../ca/findings.js';
import { importIssuer, issueIntermediate, issueRoot, type Issuer, type KeySpec } from '../ca/issue.js';
import { keysNeeded, startKeys, type KeySource } from '../ca/keygen.js';
import { parsePrivateKey, type KeyDescription } from '../ca/keys.js';
import { parsePem } from '../ca/pem.js';
import { checkCertificate, validateBundle, type BundleReport } from '../ca/validate.js';
import { OperationError, RefusedError } from '../errors.js';
import { fileSystemError } from '../fsutil/errors.js';
import {
  checkWritableDir,
  ensurePrivateDir,
  KEY_FILE_MODE,
  PUBLIC_FILE_MODE,
  writeFileAtomic,
} from '../fsutil/atomic.js';
import type { CommandResult } from '../output/render.js';
import { renderTable } from '../output/table.js';

export interface GenerateOptions {
  outDir: string;
  key: KeySpec;
  rootCommonName: string;
  intermediateCommonName: string;
  organization: string;
  rootValidityMs: number;
  intermediateValidityMs: number;
  rootCertPath: string | undefined;
  rootKeyPath: string | undefined;
  clusters: string[];
  force: boolean;
  istioNamespace: string;
}

export interface GenerateDeps {
  now(): Date;
  /**
   * Key pairs already being made (keysNeeded of them): the command starts them before it loads this module, so that key
   * generation overlaps loading the certificate core. Without it, runGenerate starts them itself.
   */
  keys?: KeySource;
}

export interface GeneratedCertificate {
  role: 'root' | 'intermediate';
  cluster: string | null;
  /** Directory of the cacerts bundle this intermediate belongs to (null for the root). */
  bundleDir: string | null;
  subject: string;
  serial: string;
  /** The public key, as inspect describes it: { type, bits, curve?, label }. */
  key: KeyDescription;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}

export interface GenerateResult {
  outDir: string;
  rootGenerated: boolean;
  certificates: GeneratedCertificate[];
  files: { path: string; mode: string }[];
}

interface PlannedFile {
  path: string;
  content: string;
  mode: number;
}

/** Reads and checks an existing root given by --root-cert/--root-key; refuses anything istiod would reject. */
async function loadExistingRoot(
  certPath: string,
  keyPath: string,
  now: Date,
): Promise<{ issuer: Issuer; cert: Certificate }> {
  const read = async (p: string, what: string) => {
    try {
      return await readFile(p, 'utf8');
    } catch (e) {
      throw fileSystemError(e, p, `read --${what}`, true);
    }
  };
  const certText = await read(certPath, 'root-cert');
  const keyText = await read(keyPath, 'root-key');
  let cert: Certificate;
  try {
    const block = parsePem(certText).find((b) => b.label === 'CERTIFICATE');
    if (!block) throw new Error('no CERTIFICATE block');
    cert = parseCertificate(block.der);
  } catch {
    throw new RefusedError(
      `--root-cert ${certPath} holds no parseable PEM certificate`,
      'pass the PEM root certificate',
    );
  }
  let key;
  try {
    key = parsePrivateKey(parsePem(keyText));
  } catch (e) {
    throw new RefusedError(
      `--root-key ${keyPath}: ${(e as Error).message}`,
      'pass the unencrypted PEM private key of the root',
    );
  }
  if (!cert.native.checkPrivateKey(key))
    throw new RefusedError(
      `--root-key ${keyPath} does not belong to --root-cert ${certPath}`,
      'pass the key that matches the root certificate',
    );
  if (!isSelfSigned(cert) || !basicConstraints(cert)?.ca || !keyUsage(cert)?.includes('keyCertSign')) {
    throw new RefusedError(
      `--root-cert ${certPath} ("${cert.x509.subject}") is not a self-signed root CA with keyCertSign`,
      'pass the root CA certificate',
    );
  }
  const findings: Finding[] = [];
  checkCertificate(cert, 'root-cert', { now, expiryWarningDays: 0 }, findings);
  if (hasErrors(findings)) {
    throw new RefusedError(
      `--root-cert ${certPath} cannot sign: ${findings.map((f) => f.message).join('; ')}`,
      'use a valid root, or generate a new one',
    );
  }
  try {
    return { issuer: await importIssuer(cert.pem, key), cert };
  } catch (e) {
    throw new RefusedError(`--root-key ${keyPath}: ${(e as Error).message}`, 'use a supported root key');
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fileSystemError(e, path, 'check', true);
  }
}

/**
 * Issues the bundle(s) and writes them. Guarantees: existing files are never overwritten without `force`; key files
 * are 0600; every file is written atomically; what was written validates before success is reported.
 */
export async function runGenerate(opts: GenerateOptions, deps: GenerateDeps): Promise<CommandResult<GenerateResult>> {
  const now = deps.now();
  const notBefore = new Date(now.getTime() - 60_000); // tolerate small clock skew between machines
  const existing =
    opts.rootCertPath && opts.rootKeyPath
      ? await loadExistingRoot(opts.rootCertPath, opts.rootKeyPath, now)
      : undefined;
  if (existing && notBefore.getTime() + opts.intermediateValidityMs > existing.cert.x509.notAfter.getTime()) {
    throw new RefusedError(
      `the intermediate would outlive the root (root expires ${existing.cert.x509.notAfter.toISOString()})`,
      'shorten --intermediate-validity',
    );
  }
  const bundles =
    opts.clusters.length > 0
      ? opts.clusters.map((c) => ({ cluster: c, dir: join(opts.outDir, c) }))
      : [{ cluster: null, dir: opts.outDir }];

  // Where the files go must be writable before anything is written (a refusal then writes nothing; keys started
  // early are dropped).
  await checkWritableDir(opts.outDir, '--out-dir');
  const targets = [join(opts.outDir, 'root-cert.pem'), ...(existing ? [] : [join(opts.outDir, 'root-key.pem')])];
  for (const b of bundles)
    targets.push(...['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'].map((f) => join(b.dir, f)));
  const unique = [...new Set(targets)];
  if (!opts.force) {
    const present = [];
    for (const t of unique) if (await exists(t)) present.push(t);
    if (present.length > 0) {
      throw new RefusedError(
        `refusing to overwrite existing files: ${present.join(', ')}`,
        'choose another --out-dir, or pass --force to replace them',
      );
    }
  }

  for (const dir of new Set([opts.outDir, ...bundles.map((b) => b.dir)])) await ensurePrivateDir(dir);

  // Key generation dominates; all of it runs at once on the thread pool (started by the command if it could).
  const keys =
    deps.keys?.spec === opts.key
      ? deps.keys
      : startKeys(opts.key, keysNeeded(opts.rootCertPath === undefined, opts.clusters.length));
  // The root is issued as soon as its key is ready, while the intermediates' keys are still being made.
  const rootKeys = existing ? undefined : keys.next();
  const intermediateKeys = bundles.map(() => {
    const pending = keys.next();
    pending.catch(() => undefined); // awaited below; a failure before then must not surface as unhandled
    return pending;
  });
  const root = existing
    ? undefined
    : await issueRoot(
        {
          name: { commonName: opts.rootCommonName, organization: opts.organization },
          key: opts.key,
          notBefore,
          validityMs: opts.rootValidityMs,
        },
        await rootKeys,
      );
  const signer = existing
    ? { issuer: existing.issuer, rootPem: existing.cert.pem, rootCert: existing.cert }
    : root && {
        issuer: { cert: root.cert, privateKey: root.keys.privateKey, keySpec: opts.key } satisfies Issuer,
        rootPem: root.certPem,
        rootCert: parseCertificate(Buffer.from(root.cert.rawData)),
      };
  if (!signer) throw new Error('generate: neither an existing root nor a new one');
  const { issuer, rootPem } = signer;

  const files: PlannedFile[] = [{ path: join(opts.outDir, 'root-cert.pem'), content: rootPem, mode: PUBLIC_FILE_MODE }];
  if (root) files.push({ path: join(opts.outDir, 'root-key.pem'), content: root.keyPem, mode: KEY_FILE_MODE });
  for (const [i, b] of bundles.entries()) {
    const ca = await issueIntermediate(
      {
        name: {
          commonName: opts.intermediateCommonName,
          organization: opts.organization,
          ...(b.cluster ? { locality: b.cluster } : {}),
        },
        key: opts.key,
        notBefore,
        validityMs: opts.intermediateValidityMs,
        pathLen: 0,
        dnsNames: [`istiod.${opts.istioNamespace}.svc`],
      },
      issuer,
      await intermediateKeys[i],
    );
    files.push(
      { path: join(b.dir, 'ca-cert.pem'), content: ca.certPem, mode: PUBLIC_FILE_MODE },
      { path: join(b.dir, 'ca-key.pem'), content: ca.keyPem, mode: KEY_FILE_MODE },
      { path: join(b.dir, 'cert-chain.pem'), content: ca.certPem + rootPem, mode: PUBLIC_FILE_MODE },
    );
    if (b.dir !== opts.outDir)
      files.push({ path: join(b.dir, 'root-cert.pem'), content: rootPem, mode: PUBLIC_FILE_MODE });
  }

  // Validate what would be written before writing anything: a root whose name constraints exclude the trust
  // domain or istiod's DNS name yields intermediates istiod or its peers reject.
  const validated = new Map<string, { planned: Record<string, Buffer>; report: BundleReport }>();
  for (const b of bundles) {
    const content = (name: string) =>
      files.find((f) => f.path === join(b.dir, name))?.content ?? (name === 'root-cert.pem' ? rootPem : '');
    const planned = Object.fromEntries(
      ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'].map((n) => [n, Buffer.from(content(n))]),
    );
    const { report } = validateBundle(planned, { now, expiryWarningDays: 0, istioNamespace: opts.istioNamespace });
    if (!report.valid) {
      const errors = report.findings.filter((f) => f.severity === 'error').map((f) => `${f.code}: ${f.message}`);
      throw new RefusedError(
        `the intermediate this root would sign is not usable, no file was written: ${errors.join('; ')}`,
        existing ? 'use a root whose constraints permit the mesh, or generate a new root' : 'check the flags',
      );
    }
    validated.set(b.dir, { planned, report });
  }
  // Each file is written atomically on its own (temporary file, fsync, rename); all at once, so the fsyncs overlap.
  await Promise.all(files.map((f) => writeFileAtomic(f.path, f.content, f.mode)));

  const certificates: GeneratedCertificate[] = [];
  const rootInfo = inspectCertificate(signer.rootCert, now);
  certificates.push({ role: 'root', cluster: null, bundleDir: null, ...pick(rootInfo) });
  // What is on disk must be, byte for byte, the bundle validated above (a second validation of the same bytes would
  // only repeat the first).
  for (const b of bundles) {
    const checked = validated.get(b.dir);
    if (!checked?.report.signingCert) throw new Error(`generate: ${b.dir} was not validated before writing`);
    const { planned } = checked;
    const signingCert = checked.report.signingCert;
    const written = await readBundleDir(b.dir);
    const differs = Object.keys(planned).filter((n) => !written[n]?.equals(planned[n]));
    if (differs.length)
      throw new OperationError(
        `the files written to ${b.dir} differ from the bundle validated before writing: ${differs.join(', ')}`,
        'check the disk and what else writes to that folder, then run generate again with --force',
      );
    certificates.push({ role: 'intermediate', cluster: b.cluster, bundleDir: b.dir, ...pick(signingCert) });
  }

  const data: GenerateResult = {
    outDir: opts.outDir,
    rootGenerated: !existing,
    certificates,
    files: files.map((f) => ({ path: f.path, mode: '0' + f.mode.toString(8) })),
  };
  return {
    kind: 'GenerateResult',
    data,
    human: (style) => {
      const rows = certificates.map((c) => [
        c.cluster ? `${c.role} (${c.cluster})` : c.role,
        c.subject,
        c.key.label,
        c.notAfter.slice(0, 10),
        c.fingerprintSha256,
      ]);
      let out = renderTable(['role', 'subject', 'key', 'not after', 'sha-256 fingerprint'], rows, style);
      out += `\n${style.ok('√')} wrote ${files.length} files to ${opts.outDir} (keys 0600); the bundle validates\n`;
      const next = bundles.map(
        (b) => `kubectl istio-ca replace --from-dir ${b.dir}${b.cluster ? ` --context ${b.cluster}` : ''}`,
      );
      out += `next: ${next.join('\n      ')}\n`;
      return out;
    },
  };
}

function pick(info: {
  subject: string;
  serial: string;
  key: KeyDescription;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}) {
  return {
    subject: info.subject,
    serial: info.serial,
    key: info.key,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    fingerprintSha256: info.fingerprintSha256,
  };
}
