/** A cacerts bundle as files: the two layouts istiod reads, and reading one from a directory. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RefusedError } from '../errors.js';
import { fileSystemError } from '../fsutil/errors.js';
import { readInputFile } from '../fsutil/read.js';

export type BundleLayout = 'cacerts' | 'tls';

/** The file names istiod reads for each layout (pilot/pkg/bootstrap, security/pkg/pki/ca). */
export const LAYOUT_FILES = {
  cacerts: { signingCert: 'ca-cert.pem', signingKey: 'ca-key.pem', chain: 'cert-chain.pem', roots: 'root-cert.pem' },
  tls: { signingCert: 'tls.crt', signingKey: 'tls.key', chain: 'tls.crt', roots: 'ca.crt' },
} as const satisfies Record<BundleLayout, Record<string, string>>;

export const CRL_FILE = 'ca-crl.pem';
/** Marks cacerts as istiod's own self-signed storage; the plugin never writes it. */
export const ISTIO_GENERATED_KEY = 'istio-generated';

export const BUNDLE_FILE_NAMES: readonly string[] = [
  ...new Set([
    ...Object.values(LAYOUT_FILES.cacerts),
    ...Object.values(LAYOUT_FILES.tls),
    CRL_FILE,
    ISTIO_GENERATED_KEY,
  ]),
];

/** File name -> raw bytes, as in a directory or in a Secret's data. */
export type BundleData = Record<string, Buffer>;

/** The layout istiod would use: tls.crt wins when present. */
export function detectLayout(data: BundleData): BundleLayout {
  return data['tls.crt'] !== undefined ? 'tls' : 'cacerts';
}

/**
 * Reads the bundle files present in `dir` (only the names istiod knows; other files such as root-key.pem are
 * ignored). Throws RefusedError when `dir` is not a readable directory.
 */
export async function readBundleDir(dir: string): Promise<BundleData> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fileSystemError(e, `bundle directory ${dir}`, 'read', true);
    throw new RefusedError(
      `bundle directory ${dir} does not exist`,
      'pass a directory holding ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem (or tls.crt, tls.key, ' +
        'ca.crt)',
    );
  }
  if (!st.isDirectory()) {
    throw new RefusedError(`${dir} is not a directory`, 'pass the directory that holds the bundle files');
  }
  const data: BundleData = {};
  for (const name of BUNDLE_FILE_NAMES) {
    const bytes = await readInputFile(join(dir, name), { missingOk: true });
    if (bytes !== undefined) data[name] = bytes;
  }
  return data;
}
