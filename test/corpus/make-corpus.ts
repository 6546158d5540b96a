/**
 * The bad-input corpus: bundles that each break one rule (and valid ones that break none), with the finding codes
 * each must yield. `node build/test/corpus/make-corpus.js DIR` writes them to DIR with expected.json.
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { FindingCode } from '../../src/ca/findings.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const DAY = 86_400_000;
export const CORPUS_NOW = new Date();

type KeyKind = 'ec256' | 'ec384' | 'ec521' | 'rsa1024' | 'rsa2048';
interface Pair {
  keys: CryptoKeyPair;
  kind: KeyKind;
}

const pool = new Map<string, Pair>();
/** Keys are cached by label so the corpus builds in seconds. */
async function key(label: string, kind: KeyKind = 'ec256'): Promise<Pair> {
  const id = `${label}/${kind}`;
  let p = pool.get(id);
  if (!p) {
    const alg = kind.startsWith('rsa')
      ? {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: Number(kind.slice(3)),
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        }
      : { name: 'ECDSA', namedCurve: { ec256: 'P-256', ec384: 'P-384', ec521: 'P-521' }[kind as 'ec256'] };
    p = { keys: await subtle.generateKey(alg, true, ['sign', 'verify']), kind };
    pool.set(id, p);
  }
  return p;
}

interface CertSpec {
  cn: string;
  pair: Pair;
  issuer?: { cert: x509.X509Certificate; pair: Pair };
  ca?: boolean | 'none';
  pathLen?: number;
  usages?: number | 'none';
  eku?: string[];
  notBefore?: Date;
  notAfter?: Date;
  sha1?: boolean;
}

async function cert(s: CertSpec): Promise<x509.X509Certificate> {
  const signer = s.issuer?.pair ?? s.pair;
  const ext: x509.Extension[] = [];
  if (s.ca !== 'none') ext.push(new x509.BasicConstraintsExtension(s.ca ?? true, s.pathLen, true));
  if (s.usages !== 'none') {
    ext.push(
      new x509.KeyUsagesExtension(
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- KeyUsageFlags are bit flags; OR-ed they are a number
        s.usages ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
    );
  }
  if (s.eku) ext.push(new x509.ExtendedKeyUsageExtension(s.eku));
  ext.push(await x509.SubjectKeyIdentifierExtension.create(s.pair.keys.publicKey));
  const hash = s.sha1 ? 'SHA-1' : signer.kind === 'ec384' ? 'SHA-384' : signer.kind === 'ec521' ? 'SHA-512' : 'SHA-256';
  const signingAlgorithm = signer.kind.startsWith('rsa')
    ? { name: 'RSASSA-PKCS1-v1_5', hash }
    : { name: 'ECDSA', hash };
  return x509.X509CertificateGenerator.create({
    serialNumber:
      '01' +
      Math.floor(Math.random() * 1e12)
        .toString(16)
        .padStart(12, '0'),
    subject: `CN=${s.cn}, O=Corpus`,
    issuer: s.issuer ? s.issuer.cert.subject : `CN=${s.cn}, O=Corpus`,
    notBefore: s.notBefore ?? new Date(CORPUS_NOW.getTime() - DAY),
    notAfter: s.notAfter ?? new Date(CORPUS_NOW.getTime() + 365 * DAY),
    signingAlgorithm,
    publicKey: s.pair.keys.publicKey,
    signingKey: signer.keys.privateKey,
    extensions: ext,
  });
}

const pem = (...certs: x509.X509Certificate[]) => certs.map((c) => c.toString('pem') + '\n').join('');
async function keyPem(p: Pair, format: 'pkcs8' | 'pkcs1' | 'sec1' = 'pkcs8'): Promise<string> {
  return KeyObject.from(p.keys.privateKey).export({ type: format, format: 'pem' }) as string;
}

export type Files = Record<string, string>;
export interface CorpusCase {
  name: string;
  expect: FindingCode[];
  files: Files;
}

/** A standard root -> intermediate bundle, customisable per case. */
async function standard(
  over: { root?: Partial<CertSpec>; ca?: Partial<CertSpec>; caKind?: KeyKind; rootKind?: KeyKind } = {},
) {
  const rootPair = await key('root', over.rootKind ?? 'ec256');
  const root = await cert({ cn: 'Corpus Root', pair: rootPair, ...over.root });
  const caPair = await key('ca', over.caKind ?? 'ec256');
  const ca = await cert({
    cn: 'Corpus Intermediate',
    pair: caPair,
    pathLen: 0,
    issuer: { cert: root, pair: rootPair },
    ...over.ca,
  });
  const files: Files = {
    'ca-cert.pem': pem(ca),
    'ca-key.pem': await keyPem(caPair),
    'cert-chain.pem': pem(ca, root),
    'root-cert.pem': pem(root),
  };
  return { root, rootPair, ca, caPair, files };
}

/** Builds every case. Valid cases expect no findings at all. */
export async function buildCorpus(): Promise<CorpusCase[]> {
  const cases: CorpusCase[] = [];
  const add = (name: string, expect: FindingCode[], files: Files) =>
    cases.push({ name, expect: [...expect].sort(), files });

  const base = await standard();
  add('valid EC P-256 bundle', [], base.files);

  const rsa = await standard({ rootKind: 'rsa2048', caKind: 'rsa2048' });
  add('valid RSA bundle with a PKCS#1 key', [], { ...rsa.files, 'ca-key.pem': await keyPem(rsa.caPair, 'pkcs1') });
  add('valid bundle with a SEC1 EC key', [], { ...base.files, 'ca-key.pem': await keyPem(base.caPair, 'sec1') });

  const ec384 = await standard({ rootKind: 'ec384', caKind: 'ec384' });
  add('valid EC P-384 bundle', [], ec384.files);

  const otherRootPair = await key('other-root');
  const otherRoot = await cert({ cn: 'Other Root', pair: otherRootPair });
  add('valid multi-root trust bundle', [], { ...base.files, 'root-cert.pem': pem(base.root, otherRoot) });

  add('valid tls.crt/tls.key/ca.crt layout', [], {
    'tls.crt': pem(base.ca, base.root),
    'tls.key': await keyPem(base.caPair),
    'ca.crt': pem(base.root),
  });

  {
    const rp = await key('root3');
    const r = await cert({ cn: 'Three Root', pair: rp, pathLen: 2 });
    const ip = await key('int3');
    const i = await cert({ cn: 'Three Middle', pair: ip, pathLen: 1, issuer: { cert: r, pair: rp } });
    const cp = await key('ca3');
    const c = await cert({ cn: 'Three Signing', pair: cp, pathLen: 0, issuer: { cert: i, pair: ip } });
    const files = {
      'ca-cert.pem': pem(c),
      'ca-key.pem': await keyPem(cp),
      'cert-chain.pem': pem(c, i, r),
      'root-cert.pem': pem(r),
    };
    add('valid three-level chain', [], files);
    add('cert-chain.pem not issuer-ordered', ['CHAIN_NOT_ISSUER_ORDERED'], {
      ...files,
      'cert-chain.pem': pem(c, r, i),
    });
    const r0 = await cert({ cn: 'Three Root', pair: rp, pathLen: 0 });
    const i0 = await cert({ cn: 'Three Middle', pair: ip, pathLen: 1, issuer: { cert: r0, pair: rp } });
    const c0 = await cert({ cn: 'Three Signing', pair: cp, pathLen: 0, issuer: { cert: i0, pair: ip } });
    add('root pathLen 0 above two CA levels', ['PATHLEN_EXCEEDED'], {
      'ca-cert.pem': pem(c0),
      'ca-key.pem': await keyPem(cp),
      'cert-chain.pem': pem(c0, i0, r0),
      'root-cert.pem': pem(r0),
    });
  }

  {
    const self = await cert({ cn: 'Self Signed CA', pair: base.caPair });
    add('valid self-signed CA plugged as its own root', [], {
      'ca-cert.pem': pem(self),
      'ca-key.pem': await keyPem(base.caPair),
      'cert-chain.pem': pem(self),
      'root-cert.pem': pem(self),
    });
  }

  const missingKey: Files = { ...base.files };
  delete missingKey['ca-key.pem'];
  add('ca-key.pem missing', ['BUNDLE_FILE_MISSING'], missingKey);
  add('only root-cert.pem (partial bundle)', ['BUNDLE_FILE_MISSING'], {
    'root-cert.pem': base.files['root-cert.pem'],
  });
  add('empty cert-chain.pem', ['CHAIN_MISSING_CA_CERT'], { ...base.files, 'cert-chain.pem': '' });
  add('garbage in ca-cert.pem', ['PEM_NOT_FOUND'], {
    ...base.files,
    'ca-cert.pem': 'this is not a certificate\n\u0000\u0001binary',
  });
  add('truncated PEM in root-cert.pem', ['PEM_MALFORMED', 'CHAIN_UNTRUSTED'], {
    ...base.files,
    'root-cert.pem': '-----BEGIN CERTIFICATE-----\nMIIB$$$notbase64\n-----END CERTIFICATE-----\n',
  });
  add('CERTIFICATE block that is not a certificate', ['CERT_UNPARSEABLE'], {
    ...base.files,
    'ca-cert.pem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  });

  {
    const leafPair = await key('leaf');
    const leaf = await cert({
      cn: 'workload leaf',
      pair: leafPair,
      ca: false,
      usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      issuer: { cert: base.root, pair: base.rootPair },
    });
    add('leaf certificate used as ca-cert', ['CA_CERT_NOT_CA'], {
      ...base.files,
      'ca-cert.pem': pem(leaf),
      'ca-key.pem': await keyPem(leafPair),
      'cert-chain.pem': pem(leaf, base.root),
    });
  }
  {
    const s = await standard({ ca: { usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign } });
    add('intermediate without keyCertSign', ['CA_CERT_NO_KEY_CERT_SIGN'], s.files);
  }
  add('ca-key.pem of another certificate', ['KEY_MISMATCH'], {
    ...base.files,
    'ca-key.pem': await keyPem(base.rootPair),
  });
  {
    const ko = KeyObject.from(base.caPair.keys.privateKey);
    const enc = ko.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'corpus' }) as string;
    add('encrypted ca-key.pem', ['KEY_ENCRYPTED'], { ...base.files, 'ca-key.pem': enc });
  }
  add('ca-key.pem is garbage', ['KEY_UNPARSEABLE'], {
    ...base.files,
    'ca-key.pem': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
  });
  add(
    'cert-chain.pem in the wrong order (root first)',
    ['CHAIN_NOT_STARTING_WITH_CA_CERT', 'CHAIN_NOT_ISSUER_ORDERED'],
    { ...base.files, 'cert-chain.pem': pem(base.root, base.ca) },
  );
  add('root-cert.pem holds an unrelated root', ['CHAIN_UNTRUSTED'], {
    ...base.files,
    'cert-chain.pem': pem(base.ca),
    'root-cert.pem': pem(otherRoot),
  });
  add('root-cert.pem holds the intermediate, not a root', ['ROOT_NOT_SELF_SIGNED', 'CHAIN_EXTRA_CERTS'], {
    ...base.files,
    'root-cert.pem': pem(base.ca),
  });
  {
    const rp = await key('nonca-root');
    const r = await cert({ cn: 'Not A CA Root', pair: rp, ca: false });
    const c = await cert({ cn: 'Under Non-CA', pair: base.caPair, pathLen: 0, issuer: { cert: r, pair: rp } });
    add('root without CA:TRUE', ['ROOT_NOT_CA', 'CHAIN_UNTRUSTED'], {
      'ca-cert.pem': pem(c),
      'ca-key.pem': await keyPem(base.caPair),
      'cert-chain.pem': pem(c, r),
      'root-cert.pem': pem(r),
    });
  }
  {
    const s = await standard({ ca: { sha1: true } });
    add('intermediate signed with SHA-1', ['SIGNATURE_WEAK'], s.files);
  }
  {
    const s = await standard({ rootKind: 'rsa1024' });
    add('root with an RSA 1024 key', ['KEY_TOO_SMALL'], s.files);
  }
  {
    const s = await standard({ caKind: 'ec521' });
    add('valid intermediate on curve P-521 (Go loads it)', [], s.files);
  }
  {
    const s = await standard({ ca: { eku: ['1.3.6.1.5.5.7.3.2'] } });
    add('CA restricted to clientAuth', ['CA_EKU_NO_SERVER_AUTH'], s.files);
    const ok = await standard({ ca: { eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] } });
    add('valid CA with serverAuth and clientAuth EKU', [], ok.files);
  }
  {
    const s = await standard({
      ca: { notBefore: new Date(CORPUS_NOW.getTime() - 400 * DAY), notAfter: new Date(CORPUS_NOW.getTime() - DAY) },
    });
    add('expired intermediate', ['CERT_EXPIRED'], s.files);
    const f = await standard({ ca: { notBefore: new Date(CORPUS_NOW.getTime() + 2 * DAY) } });
    add('intermediate not yet valid', ['CERT_NOT_YET_VALID'], f.files);
    const soon = await standard({ ca: { notAfter: new Date(CORPUS_NOW.getTime() + 10 * DAY) } });
    add('intermediate expiring in 10 days', ['CERT_EXPIRING'], soon.files);
    const outlive = await standard({
      root: { notAfter: new Date(CORPUS_NOW.getTime() + 100 * DAY) },
      ca: { notAfter: new Date(CORPUS_NOW.getTime() + 200 * DAY) },
    });
    add('intermediate outliving its root', ['INTERMEDIATE_OUTLIVES_ROOT'], outlive.files);
  }
  add('ca-cert.pem with the root appended', ['CA_CERT_EXTRA_BLOCKS'], {
    ...base.files,
    'ca-cert.pem': pem(base.ca, base.root),
  });
  add('private key pasted into root-cert.pem', ['PRIVATE_KEY_IN_CERT_FILE'], {
    ...base.files,
    'root-cert.pem': pem(base.root) + (await keyPem(base.rootPair)),
  });
  add('both layouts present', ['BUNDLE_LAYOUT_AMBIGUOUS'], {
    ...base.files,
    'tls.crt': pem(base.ca, base.root),
    'tls.key': await keyPem(base.caPair),
    'ca.crt': pem(base.root),
  });
  add('istio-generated marker in the bundle', ['BUNDLE_ISTIO_GENERATED'], { ...base.files, 'istio-generated': 'true' });
  add('ca-crl.pem that is not a CRL', ['CRL_UNPARSEABLE'], { ...base.files, 'ca-crl.pem': 'not a crl' });
  return cases;
}

/** The directory name of a case. */
export const slug = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Writes every case to DIR/<slug>/ plus DIR/expected.json; key files 0600. */
export async function writeCorpus(dir: string, cases: CorpusCase[]): Promise<void> {
  for (const c of cases) {
    const d = join(dir, slug(c.name));
    await mkdir(d, { recursive: true, mode: 0o700 });
    for (const [f, content] of Object.entries(c.files)) {
      await writeFile(join(d, f), content, { mode: /key|tls\.key/.test(f) ? 0o600 : 0o644 });
    }
  }
  await writeFile(
    join(dir, 'expected.json'),
    JSON.stringify(Object.fromEntries(cases.map((c) => [slug(c.name), c.expect])), null, 2) + '\n',
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\//, ''))) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node build/test/corpus/make-corpus.js OUTDIR');
    process.exit(2);
  }
  const cases = await buildCorpus();
  await writeCorpus(out, cases);
  console.log(`wrote ${cases.length} cases to ${out}`);
}
