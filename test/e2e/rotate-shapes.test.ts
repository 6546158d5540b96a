/**
 * rotate on a mesh shaped as they come in production, against the real istiod: cacerts in the tls.crt/tls.key/ca.crt
 * layout whose ca.crt has CRLF line ends and a comment around the PEM, reached through a proxy in front of the API
 * server that answers the first attempt of every write to cacerts with 429 Too Many Requests and Retry-After.
 * The rotation completes, istiod rejects nothing, the layout is kept, and verify -A passes right after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyFixtureMesh,
  deleteFixtureMesh,
  e2eEnv,
  kubectlOk,
  uniqueName,
  waitFor,
  type FixtureMesh,
} from './support/cluster.js';
import { getCacerts, plugin, registerKeys } from './support/plugin.js';
import { ISTIOD_REJECTIONS, startIstiod, type Istiod } from './support/istiod.js';
import { resolveConnection } from '../../src/kube/connect.js';
import { pemFingerprints } from '../../src/istio/secret-bundle.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-shapes-'));
let mesh: FixtureMesh;
let istiod: Istiod | null = null;
const dir = (n: string) => join(work, n);

/** A streaming proxy to the real API server (admin credentials); the first try of each cacerts write gets 429. */
async function throttlingProxy(): Promise<{ server: Server; kubeconfig: string; throttled: () => number }> {
  const conn = await resolveConnection(e2eEnv().kubeconfig, 'admin', {});
  const seen = new Set<string>();
  let throttled = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const write =
        ['PUT', 'POST', 'PATCH'].includes(req.method ?? '') && /\/secrets\/cacerts(\?|$)/.test(req.url ?? '');
      const key = `${req.method} ${body.toString('base64')}`;
      if (write && !seen.has(key)) {
        seen.add(key);
        throttled++;
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        return res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429 }));
      }
      const up = httpsRequest(
        conn.server + (req.url ?? '/'),
        {
          method: req.method,
          headers: { ...req.headers, host: new URL(conn.server).host },
          ca: conn.ca,
          cert: conn.cert,
          key: conn.key,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => req.socket.destroy());
      res.on('close', () => up.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const kubeconfig = join(work, 'proxy.yaml');
  await writeFile(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: http://127.0.0.1:${port}\nusers:\n- name: proxy\n  user: {}\ncontexts:\n- name: proxy\n  context: {cluster: proxy, user: proxy}\ncurrent-context: proxy\n`,
  );
  return { server, kubeconfig, throttled: () => throttled };
}

test('setup: fixture mesh, cacerts A in the tls layout with a CRLF, commented ca.crt, multi-root istiod', async () => {
  mesh = await applyFixtureMesh({
    rename: {
      'istio-system': uniqueName('istio-shape'),
      'mesh-inject': uniqueName('inject-shape'),
      'mesh-rev': uniqueName('rev-shape'),
      'mesh-plain': uniqueName('plain-shape'),
    },
  });
  for (const n of ['a', 'b']) {
    assert.equal((await plugin(['generate', '-d', dir(n), '--kty', 'EC'])).code, 0);
    registerKeys(dir(n));
  }
  const root = await readFile(join(dir('a'), 'root-cert.pem'), 'utf8');
  const crlf = `# root A, issued by the platform team\r\n${root.replace(/\n/g, '\r\n')}# end\r\n`;
  const b64 = async (f: string) => (await readFile(join(dir('a'), f))).toString('base64');
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cacerts', namespace: mesh.istioNamespace },
      type: 'Opaque',
      data: {
        'tls.crt': await b64('cert-chain.pem'),
        'tls.key': await b64('ca-key.pem'),
        'ca.crt': Buffer.from(crlf).toString('base64'),
      },
    }),
  });
  await kubectlOk([
    'set',
    'env',
    'deployment/istiod',
    '-n',
    mesh.istioNamespace,
    '-c',
    'discovery',
    'ISTIO_MULTIROOT_MESH=true',
  ]);
  istiod = await startIstiod({ namespace: mesh.istioNamespace, syncDelayMs: 1000 });
  assert.match(istiod.log(), /Use local CA certificate|Added cacerts files watcher/);
});

test('rotate A -> B through 429s: completes, keeps the tls layout, istiod rejects nothing, verify -A passes at once', async () => {
  const proxy = await throttlingProxy();
  let r;
  try {
    r = await plugin(
      [
        'rotate',
        '--from-dir',
        dir('b'),
        '-i',
        mesh.istioNamespace,
        '-n',
        mesh.injectNamespace,
        '-n',
        mesh.revNamespace,
        '--kubelet-sync',
        '3s',
        '--gate-timeout',
        '3m',
        '--yes',
        '--backup-dir',
        join(work, 'backups'),
        '-o',
        'json',
      ],
      { kubeconfig: proxy.kubeconfig },
    );
  } finally {
    proxy.server.close();
    proxy.server.closeAllConnections();
  }
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(
    out.phases.map((p: { phase: string }) => p.phase),
    ['trust-both', 'switch-signer', 'drop-old'],
  );
  assert.ok(proxy.throttled() >= 4, `every phase's write and the final record met a 429 (${proxy.throttled()})`);
  const rootB = pemFingerprints(await readFile(join(dir('b'), 'root-cert.pem'), 'utf8'));
  assert.deepEqual(out.finalRoots, rootB);
  const secret = (await getCacerts(mesh.istioNamespace))!;
  assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'the layout is kept');
  const log = istiod!.log();
  for (const re of ISTIOD_REJECTIONS) assert.doesNotMatch(log, re, 'istiod rejected a bundle');
  await waitFor(async () => /newly added intermediate CA|certificates are reloaded/.test(istiod!.log()), 30_000, {
    message: 'istiod to reload',
  });
  const v = await plugin(['verify', '-i', mesh.istioNamespace, '-n', mesh.injectNamespace, '-n', mesh.revNamespace]);
  assert.equal(v.code, 0, `verify right after rotate:\n${v.stdout}${v.stderr}`);
});

test('teardown', async () => {
  await istiod?.stop();
  await deleteFixtureMesh(mesh);
  await rm(work, { recursive: true, force: true });
});
