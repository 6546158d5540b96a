/**
 * kubeconfig loading and connection resolution as kubectl does them, and a corpus of malformed kubeconfigs that must
 * each be refused with exit 2 or 3, a message naming the file and the field, no stack and no secret bytes.
 * (The differential check against kubectl itself is test/e2e/connect.test.ts.)
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/run-cli.js';
import { parseRequestTimeout, resolveConnection } from '../../src/kube/connect.js';
import { bypassesProxy, proxyFor } from '../../src/kube/proxy.js';
import type { AuthTarget } from '../../src/kube/credentials.js';

const SECRET_TOKEN = 'kc-secret-token-5d41402abc4b2a76b9719d911017c592';
let dir = '';
let caPem = '';
let certPem = '';
let keyPem = '';
let otherKeyPem = '';
const b64 = (s: string) => Buffer.from(s).toString('base64');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'istio-ca-kubeconfig-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test-ca');
  ossl('req', '-x509', ...ec, '-keyout', 'client.key', '-out', 'client.crt', '-subj', '/CN=someone');
  ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  certPem = readFileSync(join(dir, 'client.crt'), 'utf8');
  keyPem = readFileSync(join(dir, 'client.key'), 'utf8');
  otherKeyPem = readFileSync(join(dir, 'other.key'), 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a kubeconfig file (YAML text) under the test directory and returns its path. */
function file(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

function kubeconfig(user: string, cluster = 'server: https://127.0.0.1:1', extra = ''): string {
  return `apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    ${cluster.split('\n').join('\n    ')}
users:
- name: u
  user:
    ${user.split('\n').join('\n    ')}
contexts:
- name: c
  context: {cluster: k, user: u}
${extra}`;
}

function assertNoSecrets(text: string): void {
  assert.ok(!text.includes(SECRET_TOKEN), 'the token leaked');
  for (const pem of [keyPem, otherKeyPem]) {
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const l of body) assert.ok(!text.includes(l.slice(0, 40)), 'private key bytes leaked');
    assert.ok(!text.includes(b64(pem).slice(10, 60)), 'base64 private key bytes leaked');
  }
  assert.doesNotMatch(text, /BEGIN [A-Z ]*PRIVATE KEY/);
}

// Every case carries the secret token and the client key somewhere, so a message that echoes a line or a value
// is caught. [description, kubeconfig text, expected exit code, what the message must name]
const corpus: [string, () => string, 2 | 3, RegExp][] = [
  [
    'YAML syntax error on the token line',
    () => kubeconfig(`token: "${SECRET_TOKEN}\n  client-key-data: ${b64(keyPem)}`),
    2,
    /not valid YAML at line \d+, column \d+/,
  ],
  [
    'YAML with a tab-indented token',
    () => `users:\n- name: u\n  user:\n\ttoken: ${SECRET_TOKEN}\n`,
    2,
    /not valid YAML/,
  ],
  ['the top level is a list', () => `- token: ${SECRET_TOKEN}\n`, 2, /the top level must be a map/],
  [
    'clusters is a number',
    () => `clusters: 5\nusers: [{name: u, user: {token: ${SECRET_TOKEN}}}]\n`,
    2,
    /clusters must be a list/,
  ],
  ['users is a map', () => `users: {u: {token: ${SECRET_TOKEN}}}\n`, 2, /users must be a list/],
  [
    'a cluster entry is a number',
    () => `clusters: [5]\nusers: [{name: u, user: {token: ${SECRET_TOKEN}}}]\n`,
    2,
    /clusters\[0\]/,
  ],
  [
    'server is a number',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'server: 6443'),
    2,
    /cluster\.server must be a string/,
  ],
  ['the token is a list', () => kubeconfig(`token: [${SECRET_TOKEN}]`), 2, /user\.token must be a string/],
  [
    'insecure-skip-tls-verify is not a boolean',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'server: https://127.0.0.1:1\ninsecure-skip-tls-verify: maybe'),
    2,
    /insecure-skip-tls-verify must be true or false/,
  ],
  [
    'certificate-authority-data is not base64',
    () =>
      kubeconfig(`token: ${SECRET_TOKEN}`, 'server: https://127.0.0.1:1\ncertificate-authority-data: "@@not base64@@"'),
    2,
    /certificate-authority-data is not valid base64/,
  ],
  [
    'client-key-data is the PEM itself, not base64',
    () => kubeconfig(`client-certificate-data: ${b64(certPem)}\nclient-key-data: "${keyPem.replace(/\n/g, '\\n')}"`),
    2,
    /client-key-data is not valid base64/,
  ],
  [
    'a user name repeats within one file',
    () =>
      kubeconfig(`token: ${SECRET_TOKEN}`).replace('users:\n', `users:\n- name: u\n  user: {token: ${SECRET_TOKEN}}\n`),
    2,
    /users\[1\] repeats the name "u" within this file/,
  ],
  [
    'current-context names a context that does not exist',
    () => kubeconfig(`token: ${SECRET_TOKEN}`).replace('current-context: c', 'current-context: nope'),
    2,
    /context nope is not in the kubeconfig/,
  ],
  [
    'the context names a cluster that does not exist',
    () => kubeconfig(`token: ${SECRET_TOKEN}`).replace('{cluster: k,', '{cluster: gone,'),
    2,
    /context c names cluster "gone"/,
  ],
  [
    'a context entry is a string',
    () => `contexts: [{name: c, context: "${SECRET_TOKEN}"}]\n`,
    2,
    /contexts\[0\] \("c"\)\.context must be a map/,
  ],
  [
    'the cluster has no server',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'tls-server-name: x'),
    2,
    /cluster k has no server/,
  ],
  [
    'server is not a URL',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'server: "https://exa mple:6443"'),
    2,
    /cluster k: server is not a URL/,
  ],
  [
    'certificate-authority file does not exist',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'server: https://127.0.0.1:1\ncertificate-authority: missing/ca.crt'),
    2,
    /certificate-authority \S+missing\/ca\.crt does not exist/,
  ],
  [
    'client-certificate-data is base64 of something that is not a certificate',
    () => kubeconfig(`client-certificate-data: ${b64(SECRET_TOKEN)}\nclient-key-data: ${b64(keyPem)}`),
    2,
    /user u: the client certificate is not a PEM certificate/,
  ],
  [
    'client-key-data does not match the certificate',
    () => kubeconfig(`client-certificate-data: ${b64(certPem)}\nclient-key-data: ${b64(otherKeyPem)}`),
    2,
    /user u: the client key does not match the client certificate/,
  ],
  [
    'a client certificate without its key',
    () => kubeconfig(`client-certificate-data: ${b64(certPem)}\ntoken: ${SECRET_TOKEN}`),
    2,
    /a client certificate needs its key/,
  ],
  [
    'insecure-skip-tls-verify together with a CA',
    () =>
      kubeconfig(
        `token: ${SECRET_TOKEN}`,
        `server: https://127.0.0.1:1\ninsecure-skip-tls-verify: true\ncertificate-authority-data: ${b64(caPem)}`,
      ),
    2,
    /cluster k: insecure-skip-tls-verify is set together with a certificate authority/,
  ],
  [
    'exec without apiVersion',
    () => kubeconfig(`exec: {command: /bin/true, args: ["${SECRET_TOKEN}"]}`),
    2,
    /user u: exec apiVersion must be one of/,
  ],
  [
    'exec v1 without interactiveMode',
    () => kubeconfig(`exec: {command: /bin/true, apiVersion: client.authentication.k8s.io/v1}`),
    2,
    /exec interactiveMode must be set/,
  ],
  [
    'exec args is not a list',
    () => kubeconfig(`exec: {command: /bin/true, args: "${SECRET_TOKEN}"}`),
    2,
    /user\.exec\.args must be a string list/,
  ],
  [
    'exec command that does not exist',
    () =>
      kubeconfig(
        `exec: {command: ./no-such-plugin, apiVersion: client.authentication.k8s.io/v1beta1, args: ["${SECRET_TOKEN}"]}`,
      ),
    3,
    /exec credential plugin "\S+no-such-plugin" was not found/,
  ],
  [
    'exec plugin that prints a bare token instead of an ExecCredential',
    () =>
      kubeconfig(
        `exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1, args: [-c, "echo ${SECRET_TOKEN}"]}`,
      ),
    3,
    /exec credential plugin "sh" printed something that is not an ExecCredential/,
  ],
  [
    'exec plugin answering with another apiVersion',
    () =>
      kubeconfig(
        `exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1, args: [-c, 'echo {\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"status\\":{\\"token\\":\\"${SECRET_TOKEN}\\"}}']}`,
      ),
    3,
    /returned apiVersion "client.authentication.k8s.io\/v1", but the kubeconfig asks for/,
  ],
  [
    'exec plugin failing',
    () => kubeconfig(`exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1, args: [-c, 'exit 7']}`),
    3,
    /exited with code 7/,
  ],
  [
    'the removed gcp auth provider',
    () => kubeconfig(`auth-provider: {name: gcp, config: {access-token: ${SECRET_TOKEN}}}`),
    2,
    /user u: The gcp auth plugin was removed/,
  ],
  [
    'exec and auth-provider together',
    () =>
      kubeconfig(
        `exec: {command: sh, apiVersion: client.authentication.k8s.io/v1beta1}\nauth-provider: {name: oidc, config: {id-token: ${SECRET_TOKEN}}}`,
      ),
    2,
    /has both exec and auth-provider/,
  ],
  [
    'impersonation groups without a user',
    () => kubeconfig(`token: ${SECRET_TOKEN}\nas-groups: [admins]`),
    2,
    /impersonation groups, uid or extra are set without a user/,
  ],
  [
    'tokenFile that does not exist',
    () => kubeconfig('tokenFile: secrets/token'),
    2,
    /user u: tokenFile \S+secrets\/token does not exist/,
  ],
  [
    'a socks5 proxy-url',
    () => kubeconfig(`token: ${SECRET_TOKEN}`, 'server: https://127.0.0.1:1\nproxy-url: socks5://127.0.0.1:1080'),
    2,
    /socks5 proxies are not supported/,
  ],
  [
    'token together with username and password',
    () => kubeconfig(`token: ${SECRET_TOKEN}\nusername: a\npassword: b`),
    2,
    /both a token and username\/password/,
  ],
];

test(`a corpus of ${corpus.length} malformed kubeconfigs: exit 2 or 3, file and field named, no stack, no secret`, async () => {
  assert.ok(corpus.length >= 20);
  for (const [i, [what, text, code, names]] of corpus.entries()) {
    const path = file(`corpus/${i}/kubeconfig`, text());
    const r = await cli(['status', '--kubeconfig', path], { env: { PATH: process.env.PATH } });
    const out = r.stdout + r.stderr;
    assert.equal(r.code, code, `${what}: exit ${r.code}, expected ${code}\n${out}`);
    assert.match(r.stderr, names, `${what}: the message does not name the field\n${out}`);
    assert.ok(r.stderr.includes(path), `${what}: the message does not name the file\n${out}`);
    assert.doesNotMatch(out, /\n\s+at .+:\d+:\d+|TypeError|Cannot read properties/, `${what}: a JavaScript error`);
    assertNoSecrets(out);
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
