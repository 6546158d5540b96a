/**
 * A corpus of malformed kubeconfigs, shared by the unit test (the plugin refuses each with exit 2 or 3, naming file and
 * field, without secrets) and the e2e test (kubectl refuses each too, before connecting).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_TOKEN = 'kc-secret-token-5d41402abc4b2a76b9719d911017c592';
export const b64 = (s: string) => Buffer.from(s).toString('base64');

export interface Material {
  caPem: string;
  certPem: string;
  keyPem: string;
  otherKeyPem: string;
}

/** A CA, a client certificate and key, and an unrelated key, made with openssl in `dir`. */
export function makeMaterial(dir: string): Material {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test-ca');
  ossl('req', '-x509', ...ec, '-keyout', 'client.key', '-out', 'client.crt', '-subj', '/CN=someone');
  ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  return {
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(dir, 'client.crt'), 'utf8'),
    keyPem: readFileSync(join(dir, 'client.key'), 'utf8'),
    otherKeyPem: readFileSync(join(dir, 'other.key'), 'utf8'),
  };
}

export function kubeconfig(user: string, cluster = 'server: https://127.0.0.1:1', extra = ''): string {
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

/** Fails when text holds the corpus token or any bytes of its private keys. */
export function assertNoSecrets(text: string, m: Material): void {
  const { keyPem, otherKeyPem } = m;
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

export type CorpusCase = [string, () => string, 2 | 3, RegExp];

/**
 * Every case carries the secret token and the client key somewhere, so a message that echoes a line or a value is
 * caught. [description, kubeconfig text, expected exit code, what the message must name]
 */
export function malformedKubeconfigs(m: Material): CorpusCase[] {
  const { caPem, certPem, keyPem, otherKeyPem } = m;
  return [
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
        kubeconfig(
          `token: ${SECRET_TOKEN}`,
          'server: https://127.0.0.1:1\ncertificate-authority-data: "@@not base64@@"',
        ),
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
        kubeconfig(`token: ${SECRET_TOKEN}`).replace(
          'users:\n',
          `users:\n- name: u\n  user: {token: ${SECRET_TOKEN}}\n`,
        ),
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
}
