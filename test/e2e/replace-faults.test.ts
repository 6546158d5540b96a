/**
 * replace under concurrency and failure, on the real API server: a resourceVersion conflict aborts cleanly, and a
 * proxy in front of the API server drops the connection or returns 500 on the write. Afterwards cacerts is present
 * and valid (old or new bundle) and a backup exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eEnv, kubectlOk, uniqueName } from './support/cluster.js';
import { bundleData, getCacerts, plugin, registerKeys } from './support/plugin.js';
import { resolveConnection } from '../../src/kube/connect.js';
import { HttpKubeClient } from '../../src/kube/http.js';
import type { KubeClient } from '../../src/kube/client.js';
import { runReplace } from '../../src/replace/run.js';
import { OperationError } from '../../src/errors.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-faults-'));
const ns = uniqueName('istio-faults');
const dirA = join(work, 'a');
const dirC = join(work, 'c');
const backups = join(work, 'backups');

test("setup: namespace with cacerts = A; bundle C is a new intermediate under A's root", async () => {
  await kubectlOk(['create', 'namespace', ns]);
  assert.equal((await plugin(['generate', '-d', dirA, '--kty', 'EC'])).code, 0);
  assert.equal(
    (
      await plugin([
        'generate',
        '-d',
        dirC,
        '--kty',
        'EC',
        '--root-cert',
        join(dirA, 'root-cert.pem'),
        '--root-key',
        join(dirA, 'root-key.pem'),
      ])
    ).code,
    0,
  );
  registerKeys(work);
  const r = await plugin(['replace', '--from-dir', dirA, '-i', ns, '--yes', '--no-backup']);
  assert.equal(r.code, 0, r.stderr);
});

test('a change to cacerts between read and write aborts with a clear message and writes nothing', async () => {
  const conn = await resolveConnection(e2eEnv().kubeconfig, 'admin', {});
  const real = new HttpKubeClient(conn);
  const racing: KubeClient = {
    context: real.context,
    get: (t, n, name) => real.get(t, n, name),
    list: (t, o) => real.list(t, o),
    create: (t, n, b, o) => real.create(t, n, b, o),
    patch: (t, n, name, p, pt, o) => real.patch(t, n, name, p, pt, o),
    requestCount: () => real.requestCount(),
    update: async (t, n, b, o) => {
      await kubectlOk(['annotate', 'secret', 'cacerts', '-n', ns, 'someone-else=was-here', '--overwrite']);
      return real.update(t, n, b, o);
    },
  };
  try {
    await assert.rejects(
      runReplace(
        {
          fromDir: dirC,
          namespace: ns,
          dryRun: 'none',
          backupDir: backups,
          noBackup: true,
          allowRootChange: false,
          yes: true,
        },
        { client: racing, now: () => new Date(), notice: () => {}, confirm: async () => false },
      ),
      (e: unknown) =>
        e instanceof OperationError &&
        /was changed by someone else after it was read/.test(e.message) &&
        /nothing was written/.test(e.message),
    );
  } finally {
    real.close();
  }
  const s = (await getCacerts(ns))!;
  assert.deepEqual(s.data, await bundleData(dirA));
  assert.equal(s.metadata.annotations?.['someone-else'], 'was-here');
});

type Fault = 'drop-before-write' | 'error-500' | 'drop-after-write';

/** An HTTP proxy to the real API server (admin credentials) that injects `fault` into writes of secrets. */
async function faultProxy(fault: Fault): Promise<{ server: Server; kubeconfig: string; writes: () => number }> {
  const conn = await resolveConnection(e2eEnv().kubeconfig, 'admin', {});
  let writes = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isWrite =
        (req.method === 'PUT' || req.method === 'POST') && /\/secrets(\/cacerts)?(\?|$)/.test(req.url ?? '');
      if (isWrite) writes++;
      if (isWrite && fault === 'drop-before-write') return req.socket.destroy();
      if (isWrite && fault === 'error-500') {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        return res.end(
          JSON.stringify({
            kind: 'Status',
            status: 'Failure',
            reason: 'InternalError',
            message: 'injected fault',
            code: 500,
          }),
        );
      }
      const up = httpsRequest(
        `${conn.server}${req.url ?? ''}`,
        {
          method: req.method,
          headers: { ...req.headers, host: new URL(conn.server).host },
          ca: conn.ca,
          cert: conn.cert,
          key: conn.key,
        },
        (upRes) => {
          const body: Buffer[] = [];
          upRes.on('data', (c: Buffer) => body.push(c));
          upRes.on('end', () => {
            if (isWrite && fault === 'drop-after-write') return req.socket.destroy();
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(body));
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const kubeconfig = join(work, `proxy-${fault}.yaml`);
  await writeFile(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: http://127.0.0.1:${port}\nusers:\n- name: proxy\n  user: {}\ncontexts:\n- name: proxy\n  context: {cluster: proxy, user: proxy}\ncurrent-context: proxy\n`,
  );
  return { server, kubeconfig, writes: () => writes };
}

for (const fault of ['drop-before-write', 'error-500', 'drop-after-write'] as const) {
  test(`a write that fails (${fault}) leaves cacerts present and valid, old or new, and a backup on disk`, async () => {
    const before = (await getCacerts(ns))!.data;
    const proxy = await faultProxy(fault);
    const backupDir = join(backups, fault);
    try {
      const r = await plugin(['replace', '--from-dir', dirC, '-i', ns, '--yes', '--backup-dir', backupDir], {
        kubeconfig: proxy.kubeconfig,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(proxy.writes(), 1, 'exactly one write was attempted: no delete, no retry loop');
      assert.match(r.stderr, /cacerts holds either the old or the new bundle/);
      assert.match(r.stderr, /the backup is at /);
    } finally {
      proxy.server.close();
    }
    const after = (await getCacerts(ns))!;
    assert.ok(after, 'cacerts still present');
    const candidates = [before, await bundleData(dirC)];
    assert.ok(
      candidates.some((c) => JSON.stringify(c) === JSON.stringify(after.data)),
      'cacerts holds the old or the new bundle',
    );
    if (fault !== 'drop-after-write') assert.deepEqual(after.data, before);
    const [backup] = await readdir(backupDir);
    assert.ok(backup, 'a backup exists');
    assert.deepEqual((await readdir(join(backupDir, backup))).filter((f) => f.endsWith('.pem')).sort(), [
      'ca-cert.pem',
      'ca-key.pem',
      'cert-chain.pem',
      'root-cert.pem',
    ]);
    const v = await plugin(['inspect', join(backupDir, backup)]);
    assert.equal(v.code, 0, 'the backup validates');
    // put A back for the next fault
    assert.equal((await plugin(['replace', '--from-dir', dirA, '-i', ns, '--yes', '--no-backup'])).code, 0);
  });
}

test('teardown', async () => {
  await kubectlOk(['delete', 'namespace', ns, '--wait=false']);
  await rm(work, { recursive: true, force: true });
});
