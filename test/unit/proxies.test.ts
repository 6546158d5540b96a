import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigDump, readProxies, type ProxyReader } from '../../src/proxies/read.js';
import { proxyChecks } from '../../src/verify/proxies.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';
import { cli } from './support/run-cli.js';

const dir = await mkdtemp(join(tmpdir(), 'istio-ca-proxies-'));
await cli(['generate', '-d', join(dir, 'a'), '--kty', 'EC']);
await cli(['generate', '-d', join(dir, 'b'), '--kty', 'EC']);
const rootA = await readFile(join(dir, 'a/root-cert.pem'), 'utf8');
const rootB = await readFile(join(dir, 'b/root-cert.pem'), 'utf8');
const chainA = await readFile(join(dir, 'a/cert-chain.pem'), 'utf8');
const [fpA] = pemFingerprints(rootA);
const [fpB] = pemFingerprints(rootB);
const [signerA] = pemFingerprints(await readFile(join(dir, 'a/ca-cert.pem'), 'utf8'));

/** A config_dump as Envoy prints it: the workload chain (leaf first) and the ROOTCA bundle, keys redacted. */
function dump(roots: string, chain: string): string {
  const b = (s: string) => Buffer.from(s).toString('base64');
  return JSON.stringify({
    configs: [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
        dynamic_active_secrets: [
          {
            name: 'default',
            secret: {
              name: 'default',
              tls_certificate: {
                certificate_chain: { inline_bytes: b(chain) },
                private_key: { inline_bytes: 'W3JlZGFjdGVkXQ==' },
              },
            },
          },
          {
            name: 'ROOTCA',
            secret: { name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: b(roots) } } },
          },
        ],
      },
    ],
  });
}

test('config_dump: every root of a multi-root ROOTCA is decoded, not just the first block', () => {
  const certs = parseConfigDump(dump(rootA + rootB, chainA));
  assert.deepEqual(certs.roots, [fpA, fpB]);
  assert.equal(certs.chain[0], signerA, 'cert-chain.pem of the bundle starts with the signer');
});

test('config_dump?resource=dynamic_active_secrets: one DynamicSecret per entry of configs, as Envoy answers it', () => {
  const wrapped = JSON.parse(dump(rootA + rootB, chainA)) as { configs: { dynamic_active_secrets: object[] }[] };
  const flat = JSON.stringify({
    configs: wrapped.configs[0].dynamic_active_secrets.map((s) => ({
      '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump.DynamicSecret',
      ...s,
    })),
  });
  const certs = parseConfigDump(flat);
  assert.deepEqual(certs.roots, [fpA, fpB]);
  assert.equal(certs.chain[0], signerA);
  assert.equal(certs.rootSubjects?.length, 2);
  assert.equal(certs.leaf?.spiffeId, null, 'an intermediate has no SPIFFE ID');
  assert.match(certs.leaf.issuer, /CN=/);
  assert.ok(Date.parse(certs.leaf.notAfter) > Date.now());
});

test('proxy checks: a sidecar lacking the new root or signed by an old intermediate fails, by name', async () => {
  const reader: ProxyReader = {
    async read(namespace, pod) {
      if (pod === 'denied')
        return { namespace, pod, ok: false, forbidden: true, error: 'forbidden: create pods/exec in namespace x' };
      const roots = pod === 'old' ? rootA : rootA + rootB;
      return { namespace, pod, ok: true, certs: parseConfigDump(dump(roots, 'LEAF\n' + chainA)) };
    },
  };
  const readings = await readProxies(
    reader,
    [
      { namespace: 'app', name: 'new' },
      { namespace: 'app', name: 'old' },
      { namespace: 'app', name: 'denied' },
    ],
    2,
  );
  const checks = proxyChecks(readings, [fpA, fpB], signerA);
  const roots = checks.find((c) => c.id === 'proxies.roots')!;
  assert.equal(roots.status, 'fail');
  assert.deepEqual(roots.items, ['app/old: trusts 1 root(s), lacks 1']);
  assert.equal(checks.find((c) => c.id === 'proxies.read')!.status, 'warn');
});

test('proxy checks: exec forbidden everywhere is a skip that says what permission is missing', () => {
  const c = proxyChecks([{ namespace: 'a', pod: 'p', ok: false, forbidden: true, error: 'forbidden' }], [fpA], null);
  assert.equal(c[0].status, 'skip');
  assert.match(c[0].hint!, /pods\/exec/);
});

test.after(() => rm(dir, { recursive: true, force: true }));
