/** Classifying a cacerts change (pure): what it does to trust, and whether it is safe to apply as is. */
import { detectLayout, LAYOUT_FILES, type BundleData } from '../ca/bundle.js';
import { fingerprint, isIssuedBy, isSelfSigned, parseCertificate, type Certificate } from '../ca/certificate.js';
import { parsePem } from '../ca/pem.js';
import { pemFingerprints, rootFileOf } from '../istio/secret-bundle.js';

export type ChangeKind =
  | 'new-secret' // no CA to replace: cacerts is created
  | 'self-signed-to-plugged' // istio-ca-secret in use; cacerts created; istiod must restart to use it
  | 'unchanged' // byte-identical bundle
  | 'intermediate-only' // root-cert.pem byte-identical: istiod hot-reloads, no restart
  | 'root-bundle-rewritten' // same set of roots, different bytes (order, duplicates)
  | 'root-added' // every current root kept, new roots added; the signer chains to a root trusted today
  | 'root-removed' // a root is dropped, the signer chains to a root kept (rotate's drop-old)
  | 'root-change'; // a current root is removed, or the signer chains to a root proxies do not trust yet

export interface ChangePlan {
  kind: ChangeKind;
  currentRoots: string[];
  newRoots: string[];
  addedRoots: string[];
  removedRoots: string[];
  /** True when the change removes a root workloads trust today, or signs with one they do not trust yet. */
  breaksTrust: boolean;
  /** Fingerprint of the root the new signing certificate chains to, when the bundle shows it. */
  signerRoot: string | null;
  notes: string[];
}

function certs(text: Buffer | undefined): Certificate[] {
  if (!text) return [];
  try {
    return parsePem(text.toString('utf8'))
      .filter((b) => b.label === 'CERTIFICATE')
      .flatMap((b) => {
        try {
          return [parseCertificate(b.der)];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

/** The root the bundle's signing certificate chains to: the chain's top if self-signed, else the root that issued it.
 */
export function signerRootOf(bundle: BundleData): string | null {
  const files = LAYOUT_FILES[detectLayout(bundle)];
  const chain = certs(bundle[files.chain]);
  const top = chain[chain.length - 1] ?? certs(bundle[files.signingCert])[0];
  if (!top) return null;
  if (isSelfSigned(top)) return fingerprint(top);
  const root = certs(bundle[files.roots]).find((r) => isIssuedBy(top, r));
  return root ? fingerprint(root) : null;
}

function sameBytes(a: BundleData, b: BundleData): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k].equals(b[k]));
}

/**
 * Plans a change from `current` (the cacerts bundle, or null) to `next`. `selfSignedRoot` is istio-ca-secret's
 * certificate when istiod runs self-signed; `multiRoot` whether istiod runs with ISTIO_MULTIROOT_MESH=true.
 */
export function planChange(
  current: BundleData | null,
  next: BundleData,
  selfSignedRoot: Buffer | null,
  multiRoot: boolean | null,
): ChangePlan {
  const newRoots = [...new Set(pemFingerprints(rootFileOf(next)))];
  const currentRoots = current
    ? [...new Set(pemFingerprints(rootFileOf(current)))]
    : selfSignedRoot
      ? pemFingerprints(selfSignedRoot)
      : [];
  const addedRoots = newRoots.filter((f) => !currentRoots.includes(f));
  const removedRoots = currentRoots.filter((f) => !newRoots.includes(f));
  const notes: string[] = [];
  const signerRoot = signerRootOf(next);
  // Proxies verify peers against the roots they hold today: a signer under any other root is a root change.
  const untrustedSigner = signerRoot !== null && currentRoots.length > 0 && !currentRoots.includes(signerRoot);
  let kind: ChangeKind;
  if (!current && selfSignedRoot) kind = 'self-signed-to-plugged';
  else if (!current) kind = 'new-secret';
  else if (sameBytes(current, next)) kind = 'unchanged';
  else if (rootFileOf(current)?.equals(rootFileOf(next) ?? Buffer.alloc(0))) kind = 'intermediate-only';
  else if (untrustedSigner) kind = 'root-change';
  else if (removedRoots.length > 0 && addedRoots.length === 0 && newRoots.length > 0) kind = 'root-removed';
  else if (removedRoots.length > 0) kind = 'root-change';
  else if (addedRoots.length > 0) kind = 'root-added';
  else kind = 'root-bundle-rewritten';

  switch (kind) {
    case 'new-secret':
      notes.push('no CA secret exists yet: istiod picks cacerts up when it (re)starts');
      break;
    case 'self-signed-to-plugged':
      notes.push(
        'istiod signs with its self-signed istio-ca-secret and has no cacerts watcher: it switches to cacerts ' +
          'only when restarted (kubectl istio-ca restart --control-plane-only)',
      );
      if (removedRoots.length > 0)
        notes.push(
          'the new bundle does not contain the self-signed root: plug the current self-signed certificate first ' +
            '(kubectl istio-ca rotate) to keep trust',
        );
      break;
    case 'intermediate-only':
      notes.push(
        'root-cert.pem is unchanged: istiod hot-reloads the new intermediate within seconds of the kubelet ' +
          'refreshing the mounted secret (about 1 minute); no workload restart is needed',
      );
      break;
    case 'root-added':
    case 'root-bundle-rewritten':
      if (multiRoot === true)
        notes.push(
          'istiod runs with ISTIO_MULTIROOT_MESH=true and accepts a root bundle that keeps every current root; ' +
            'the new roots reach namespaces and proxies without restarts',
        );
      else
        notes.push(
          'istiod does not run with ISTIO_MULTIROOT_MESH=true: it rejects any root-cert.pem change on hot ' +
            'reload ("Multi root is disabled") until it restarts',
        );
      break;
    case 'root-removed':
      notes.push(
        'a root is removed: workloads still holding certificates issued under it fail mTLS with the others ' +
          'until they restart',
      );
      break;
    case 'root-change':
      notes.push(
        untrustedSigner
          ? 'the new signing certificate chains to a root proxies do not trust yet: every certificate istiod ' +
              'issues from now on is rejected by the proxies that have not restarted'
          : 'the current root is removed: workloads holding certificates from the old root and workloads with new ' +
              'ones cannot verify each other until every workload restarts',
      );
      break;
    case 'unchanged':
      notes.push('the bundle is byte-identical to cacerts: nothing to do');
      break;
  }
  return {
    kind,
    currentRoots,
    newRoots,
    addedRoots,
    removedRoots,
    breaksTrust: removedRoots.length > 0 || untrustedSigner,
    signerRoot,
    notes,
  };
}
