/**
 * kubeconfig loading and connection resolution as kubectl does them, and a corpus of malformed kubeconfigs that must
 * each be refused with exit 2 or 3, a message naming the file and the field, no stack and no secret bytes.
 * (The differential check against kubectl itself is test/e2e/connect.test.ts.)
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';
import {
  b64,
  kubeconfig,
  makeMaterial,
  malformedKubeconfigs,
  assertNoSecrets,
  SECRET_TOKEN,
  type Material,
} from './support/kubeconfig-corpus.js';
import { parseRequestTimeout, resolveConnection } from '../../src/kube/connect.js';
import { bypassesProxy, proxyFor } from '../../src/kube/proxy.js';
import type { AuthTarget } from '../../src/kube/credentials.js';

let dir = '';
let material: Material;
let caPem = '';
let certPem = '';
let keyPem = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'istio-ca-kubeconfig-'));
  material = makeMaterial(dir);
  ({ caPem, certPem, keyPem } = material);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a kubeconfig file (YAML text) under the test directory and returns its path. */
function file(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

test(`a corpus of malformed kubeconfigs: exit 2 or 3, file and field named, no stack, no secret`, async () => {
  assert.ok(malformedKubeconfigs(material).length >= 20);
  for (const [i, [what, text, code, names]] of malformedKubeconfigs(material).entries()) {
    const path = file(`corpus/${i}/kubeconfig`, text());
    const r = await cli(['status', '--kubeconfig', path], { env: { PATH: process.env.PATH } });
    const out = r.stdout + r.stderr;
    assert.equal(r.code, code, `${what}: exit ${r.code}, expected ${code}\n${out}`);
    assert.match(r.stderr, names, `${what}: the message does not name the field\n${out}`);
    assert.ok(r.stderr.includes(path), `${what}: the message does not name the file\n${out}`);
    assert.doesNotMatch(out, /\n\s+at .+:\d+:\d+|TypeError|Cannot read properties/, `${what}: a JavaScript error`);
    assertNoSecrets(out, material);
  }
});

test('KUBECONFIG list: first definition wins, missing files skipped, paths relative to the defining file', async () => {
  mkdirSync(join(dir, 'a/certs'), { recursive: true });
  mkdirSync(join(dir, 'b/certs'), { recursive: true });
  writeFileSync(join(dir, 'a/certs/ca.crt'), caPem);
  writeFileSync(join(dir, 'b/certs/client.crt'), certPem);
  writeFileSync(join(dir, 'b/certs/client.key'), keyPem);
  const a = file(
    'a/config',
    `current-context: first
clusters: [{name: k, cluster: {server: "https://first.example:6443", certificate-authority: certs/ca.crt}}]
contexts: [{name: first, context: {cluster: k, user: u, namespace: team}}]
users: [{name: u, user: {client-certificate: ../b/certs/client.crt, client-key: ../b/certs/client.key}}]
`,
  );
  const b = file(
    'b/config',
    `current-context: second
clusters: [{name: k, cluster: {server: "https://second.example:6443"}}]
contexts: [{name: first, context: {cluster: nope}}, {name: second, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate: certs/client.crt, client-key: certs/client.key}}]
`,
  );
  const env = { KUBECONFIG: [join(dir, 'missing'), a, b].join(':'), HOME: dir };
  const c = await resolveConnection(undefined, undefined, env);
  assert.equal(c.contextName, 'first');
  assert.equal(c.server, 'https://first.example:6443');
  assert.equal(c.namespace, 'team');
  assert.equal(c.ca?.toString(), caPem);
  assert.equal(c.cert?.toString(), certPem);
  const second = await resolveConnection(undefined, 'second', env);
  assert.equal(second.server, 'https://first.example:6443', 'cluster k comes from the first file');
  // --context '' is no context: the current one, as kubectl reads it.
  assert.equal((await resolveConnection(undefined, '', env)).contextName, 'first');
  await assert.rejects(resolveConnection(join(dir, 'missing'), undefined, env), /kubeconfig \S+missing does not exist/);
});

test('flags override the kubeconfig field by field, as clientcmd does', async () => {
  const k = file(
    'flags/config',
    kubeconfig(
      `token: ${SECRET_TOKEN}`,
      `server: https://127.0.0.1:1\ncertificate-authority-data: ${b64(caPem)}\ntls-server-name: in-config`,
    ),
  );
  const base = await resolveConnection(k, undefined, {});
  assert.equal(base.tlsServerName, 'in-config');
  const insecure = await resolveConnection(k, undefined, {}, { insecureSkipTlsVerify: true });
  assert.equal(insecure.ca, undefined, '--insecure-skip-tls-verify drops the kubeconfig CA');
  assert.equal(insecure.insecureSkipTlsVerify, true);
  const server = await resolveConnection(k, undefined, {}, { server: 'https://10.0.0.1:6443' });
  assert.equal(server.server, 'https://10.0.0.1:6443');
  assert.equal(server.tlsServerName, undefined, '--server drops the kubeconfig tls-server-name');
  const bare = await resolveConnection(k, undefined, {}, { server: '127.0.0.1:6443' });
  assert.equal(bare.server, 'https://127.0.0.1:6443', 'a bare host:port gets https when a CA is set');
  const t: AuthTarget = { headers: {} };
  const imp = await resolveConnection(
    k,
    undefined,
    {},
    { token: 'flag-token', as: 'readonly', asGroups: ['g1', 'g2'], asUid: '42' },
  );
  await imp.credentials!.apply(t);
  assert.deepEqual(t.headers, {
    'Impersonate-User': 'readonly',
    'Impersonate-Uid': '42',
    'Impersonate-Group': ['g1', 'g2'],
    Authorization: 'Bearer flag-token',
  });
  const plain = await resolveConnection(k, undefined, {}, { server: 'http://127.0.0.1:8080' });
  assert.equal(plain.credentials, undefined, 'no credentials over plain HTTP (kubectl sends none)');
});

test('tokenFile is relative to its kubeconfig and re-read after a 401', async () => {
  writeFileSync(join(dir, 'tok'), 'first\n');
  const k = file('tf/config', kubeconfig('tokenFile: ../tok'));
  const c = await resolveConnection(k, undefined, {});
  const t1: AuthTarget = { headers: {} };
  await c.credentials!.apply(t1);
  assert.equal(t1.headers.Authorization, 'Bearer first');
  writeFileSync(join(dir, 'tok'), 'second\n');
  c.credentials!.rejected();
  const t2: AuthTarget = { headers: {} };
  await c.credentials!.apply(t2);
  assert.equal(t2.headers.Authorization, 'Bearer second');
});

test('exec plugin: KUBERNETES_EXEC_INFO with the cluster, env, relative command, cached credential', async () => {
  const plugin = file(
    'exec/bin/plugin',
    `#!/bin/sh
echo run >> "${join(dir, 'exec/runs')}"
printf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, 'exec/info.json')}"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"$FROM_ENV"'"}}'
`,
  );
  chmodSync(plugin, 0o755);
  const k = file(
    'exec/config',
    kubeconfig(
      `exec:\n  command: bin/plugin\n  apiVersion: client.authentication.k8s.io/v1\n  interactiveMode: Never\n  provideClusterInfo: true\n  env: [{name: FROM_ENV, value: exec-token}]`,
      `server: https://127.0.0.1:1\ncertificate-authority-data: ${b64(caPem)}\ntls-server-name: kubernetes`,
    ),
  );
  const c = await resolveConnection(k, undefined, { PATH: process.env.PATH }, {}, { stdinIsTerminal: false });
  for (let i = 0; i < 3; i++) {
    const t: AuthTarget = { headers: {} };
    await c.credentials!.apply(t);
    assert.equal(t.headers.Authorization, 'Bearer exec-token');
  }
  assert.equal(readFileSync(join(dir, 'exec/runs'), 'utf8'), 'run\n', 'a credential without expiry is cached');
  const info = JSON.parse(readFileSync(join(dir, 'exec/info.json'), 'utf8'));
  assert.deepEqual(info, {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      cluster: {
        server: 'https://127.0.0.1:1',
        'tls-server-name': 'kubernetes',
        'certificate-authority-data': b64(caPem),
      },
    },
  });
});

test('in-cluster config when there is no kubeconfig and the service account files exist', async () => {
  const sa = join(dir, 'sa');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'sa-token');
  writeFileSync(join(sa, 'ca.crt'), caPem);
  writeFileSync(join(sa, 'namespace'), 'ops\n');
  const env = { HOME: join(dir, 'nohome'), KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const c = await resolveConnection(undefined, undefined, env, {}, { serviceAccountDir: sa });
  assert.equal(c.server, 'https://10.96.0.1:443');
  assert.equal(c.namespace, 'ops');
  assert.equal(c.ca?.toString(), caPem);
  const t: AuthTarget = { headers: {} };
  await c.credentials!.apply(t);
  assert.equal(t.headers.Authorization, 'Bearer sa-token');
  await assert.rejects(
    resolveConnection(undefined, undefined, { HOME: env.HOME }, {}, { serviceAccountDir: sa }),
    /no kubeconfig found .* and not running in a cluster/,
  );
});

test('--request-timeout reads as kubectl reads it', () => {
  for (const [text, ms] of [
    ['0', 0],
    ['5', 5000],
    ['3s', 3000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
  ] as const)
    assert.equal(parseRequestTimeout(text), ms, text);
  for (const bad of ['', '3x', '-1s', 's', '1 s'])
    assert.throws(() => parseRequestTimeout(bad), /is not a timeout/, bad);
});

test('NO_PROXY and the proxy variables as Go reads them', () => {
  for (const [host, port, noProxy, bypass] of [
    ['127.0.0.1', '6443', '', true],
    ['localhost', '6443', '', true],
    ['api.example.com', '443', '', false],
    ['api.example.com', '443', 'example.com', true],
    ['example.com', '443', 'example.com', true],
    ['example.com', '443', '.example.com', false],
    ['api.example.com', '443', '*.example.com', true],
    ['api.example.com', '443', 'example.com:6443', false],
    ['10.1.2.3', '443', '10.0.0.0/8', true],
    ['10.1.2.3', '443', '10.1.2.3', true],
    ['10.1.2.3', '443', 'example.com, 192.168.0.0/16', false],
    ['anything', '1', '*', true],
  ] as const)
    assert.equal(bypassesProxy(host, port, noProxy), bypass, `${host}:${port} NO_PROXY=${noProxy}`);
  const u = new URL('https://api.example.com:6443');
  assert.equal(proxyFor(u, undefined, { HTTPS_PROXY: '127.0.0.1:3128' })?.href, 'http://127.0.0.1:3128/');
  assert.equal(proxyFor(u, undefined, { https_proxy: 'http://p:1', NO_PROXY: 'example.com' }), undefined);
  assert.equal(proxyFor(u, 'http://cfg:2', { NO_PROXY: '*' })?.host, 'cfg:2', 'proxy-url ignores NO_PROXY');
});

test('pods/exec (client-node) gets the same resolved connection, and refuses impersonation it cannot send', async () => {
  const { clientNodeConfig } = await import('../../src/kube/client-node.js');
  const k = file(
    'cn/config',
    kubeconfig(
      'tokenFile: ../tok',
      `server: https://127.0.0.1:1\ncertificate-authority-data: ${b64(caPem)}\ntls-server-name: kubernetes`,
    ),
  );
  writeFileSync(join(dir, 'tok'), 'cn-token\n');
  const kc = await clientNodeConfig(await resolveConnection(k, undefined, {}, { as: 'readonly' }));
  assert.equal(kc.getCurrentCluster()?.tlsServerName, 'kubernetes');
  assert.equal(kc.getCurrentCluster()?.caData, b64(caPem));
  assert.equal(kc.getCurrentUser()?.token, 'cn-token');
  assert.equal(kc.getCurrentUser()?.impersonateUser, 'readonly');
  await assert.rejects(
    clientNodeConfig(await resolveConnection(k, undefined, {}, { as: 'readonly', asGroups: ['g'] })),
    /cannot impersonate groups/,
  );
});

test('every cluster command exits 3 when the API server cannot be reached, naming the step that failed', async () => {
  const bundle = join(dir, 'every/bundle');
  assert.equal((await cli(['generate', '-d', bundle, '--kty', 'EC'])).code, 0);
  const unreachable = ['--server', 'https://127.0.0.1:1', '--insecure-skip-tls-verify'];
  for (const argv of [
    ['status'],
    ['verify'],
    ['backup', '-d', join(dir, 'every/backups')],
    ['replace', '--from-dir', bundle, '--yes', '--backup-dir', join(dir, 'every/backups')],
    ['restart'],
    ['rotate', '--from-dir', bundle, '--yes'],
  ]) {
    const r = await cli([...argv, ...unreachable], { env: { HOME: dir, KUBECONFIG: join(dir, 'none') } });
    assert.equal(r.code, 3, `${argv[0]}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /TCP: connection to 127\.0\.0\.1:1 refused/, argv[0]);
  }
});
