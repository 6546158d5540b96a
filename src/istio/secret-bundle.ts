/** Moving bundles between Secret data (base64) and BundleData (bytes), and fingerprinting root bundles. */
import { createHash, X509Certificate } from 'node:crypto';
import { BUNDLE_FILE_NAMES, ISTIO_GENERATED_KEY, type BundleData } from '../ca/bundle.js';
import { parsePem } from '../ca/pem.js';
import type { Secret } from '../kube/resources.js';

export function bundleFromSecret(secret: Secret): BundleData {
  const data: BundleData = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64');
  return data;
}

/** Secret data for a bundle: only the names istiod reads, base64-encoded. Never the istio-generated marker. */
export function secretDataFromBundle(bundle: BundleData): Record<string, string> {
  const data: Record<string, string> = {};
  for (const name of BUNDLE_FILE_NAMES) {
    if (name === ISTIO_GENERATED_KEY) continue;
    const v = bundle[name];
    if (v !== undefined) data[name] = v.toString('base64');
  }
  return data;
}

/** SHA-256 over the bundle's files in name order: identifies a bundle without revealing it. */
export function bundleDigest(bundle: BundleData): string {
  const h = createHash('sha256');
  for (const name of Object.keys(bundle).sort()) {
    h.update(name).update('\0').update(bundle[name]).update('\0');
  }
  return h.digest('hex');
}

/** SHA-256 fingerprints of every certificate in a PEM text, in order; unparseable blocks are skipped. */
export function pemFingerprints(text: string | Buffer | undefined): string[] {
  if (text === undefined) return [];
  try {
    return parsePem(text.toString())
      .filter((b) => b.label === 'CERTIFICATE')
      .flatMap((b) => {
        try {
          // node:crypto alone (as ca/certificate.ts's fingerprint): verify and status fingerprint every namespace's
          // roots without loading the full certificate model.
          return [new X509Certificate(b.der).fingerprint256];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

/** The root file of a bundle in either layout. */
export function rootFileOf(bundle: BundleData): Buffer | undefined {
  return bundle['tls.crt'] !== undefined ? bundle['ca.crt'] : bundle['root-cert.pem'];
}
