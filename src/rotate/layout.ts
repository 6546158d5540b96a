/**
 * The two layouts istiod reads, seen as one: rotation plans in the cacerts layout (ca-cert.pem, ca-key.pem,
 * cert-chain.pem, root-cert.pem) and writes each phase in the layout the cluster already uses, so istiod's watcher
 * never sees the layout change under it. Pure.
 */
import { detectLayout, type BundleData, type BundleLayout } from '../ca/bundle.js';
import { parsePem } from '../ca/pem.js';

const SIGNER_FILES = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'] as const;

/** Bytes of a required file; a missing one is a planning bug (bundles are validated before they get here). */
export function fileOf(bundle: BundleData, name: string): Buffer {
  const bytes = bundle[name];
  if (bytes === undefined) throw new Error(`bundle has no ${name}`);
  return bytes;
}

/**
 * The cacerts view of a bundle in either layout. tls layout: tls.crt is the signing certificate followed by its
 * chain, so ca-cert.pem is its first PEM block and cert-chain.pem the whole file; ca.crt holds the roots.
 */
export function cacertsView(bundle: BundleData): BundleData {
  if (detectLayout(bundle) === 'cacerts') {
    const out: BundleData = {};
    for (const name of SIGNER_FILES) if (bundle[name] !== undefined) out[name] = fileOf(bundle, name);
    return out;
  }
  const chain = fileOf(bundle, 'tls.crt');
  const first = parsePem(chain.toString('utf8')).find((b) => b.label === 'CERTIFICATE');
  return {
    'ca-cert.pem': Buffer.from(first ? first.pem : chain.toString('utf8')),
    'ca-key.pem': fileOf(bundle, 'tls.key'),
    'cert-chain.pem': chain,
    'root-cert.pem': fileOf(bundle, 'ca.crt'),
  };
}

/** A cacerts-view bundle written in `layout`. */
export function inLayout(view: BundleData, layout: BundleLayout): BundleData {
  if (layout === 'cacerts') return view;
  return {
    'tls.crt': fileOf(view, 'cert-chain.pem'),
    'tls.key': fileOf(view, 'ca-key.pem'),
    'ca.crt': fileOf(view, 'root-cert.pem'),
  };
}

/** Byte equality of two cacerts views (every file istiod reads for signing and trust). */
export function sameBundle(a: BundleData | null, b: BundleData): boolean {
  if (!a) return false;
  return SIGNER_FILES.every((n) => {
    const x = a[n];
    const y = b[n];
    return x === undefined ? y === undefined : y !== undefined && x.equals(y);
  });
}
