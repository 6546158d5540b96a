/**
 * The informer over the real HttpKubeClient against a local HTTP server that speaks the API server's watch protocol:
 * events split across chunks, a stream that breaks off, a 410 Gone as an ERROR event and as HTTP 410, a server that
 * ends the watch, bookmarks. Every request is checked for what it asked (resourceVersion, allowWatchBookmarks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { HttpKubeClient } from '../../src/kube/http.js';
import { localConnection } from './support/local-server.js';
import { Informer } from '../../src/kube/informer.js';
import { Resources, type KubeObject } from '../../src/kube/resources.js';

type Step = (res: ServerResponse, q: URLSearchParams) => void | Promise<void>;

const cm = (name: string, rv: number, data = 'x'): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: String(rv), managedFields: [{ manager: 'm' }] },
  data: { v: data },
});
const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

/** Serves list and watch requests from a script: one step per request, in order. */
async function apiServer(steps: Step[]) {
  const seen: string[] = [];
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    const q = url.searchParams;
    seen.push(
      `${q.get('watch') ? 'watch' : 'list'} ${q.get('resourceVersion') ?? ''}${q.get('allowWatchBookmarks') ? ' bookmarks' : ''}`,
    );
    const step = steps.shift();
    if (!step) {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ kind: 'Status', code: 500, reason: 'InternalError', message: 'script ended' }));
    }
    await step(res, q);
  };
  const server = createServer((req, res) => {
    void serve(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new HttpKubeClient(localConnection(server));
  return {
    client,
    seen,
    close: async () => {
      client.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const list =
  (rv: number, ...items: KubeObject[]): Step =>
  (res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMapList', metadata: { resourceVersion: String(rv) }, items }));
  };
const stream = (res: ServerResponse) => res.writeHead(200, { 'Content-Type': 'application/json' });

test('list, then watch: chunks split mid-line, a broken stream resumed from the last event, a 410 re-lists, bookmarks move the resourceVersion on', async () => {
  const api = await apiServer([
    list(10, cm('a', 5)),
    // Watch 1: an event split across two chunks, then the connection is cut.
    async (res) => {
      stream(res);
      const text = line('MODIFIED', cm('a', 11, 'y'));
      res.write(text.slice(0, 17));
      await new Promise((r) => setTimeout(r, 20));
      res.write(text.slice(17) + line('ADDED', cm('b', 12)).slice(0, 30));
      await new Promise((r) => setTimeout(r, 20));
      res.socket!.destroy();
    },
    // Watch 2 (from 11, the last whole event): too late; the API server says so in the stream.
    (res) => {
      stream(res);
      res.end(line('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }));
    },
    list(20, cm('a', 11, 'y'), cm('c', 19)),
    // Watch 3: a bookmark, then the server ends the watch (its timeoutSeconds).
    (res) => {
      stream(res);
      res.end(line('BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '25' } }));
    },
    // Watch 4 (from the bookmark's 25): HTTP 410 this time.
    (res) => {
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Gone', message: 'too old' }));
    },
    list(30, cm('c', 19)),
    (res) => {
      stream(res);
      res.write(line('DELETED', cm('c', 31)));
    },
  ]);
  const changes: string[] = [];
  const sleeps: number[] = [];
  const inf = new Informer<KubeObject>(api.client, Resources.configmaps, {
    namespace: 'ns',
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0,
    onChange: (t, o) => changes.push(`${t} ${o.metadata.name} ${o.metadata.resourceVersion}`),
  });
  try {
    inf.start();
    for (let i = 0; i < 200 && !changes.includes('DELETED c 31'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(api.seen, [
      'list ',
      'watch 10 bookmarks',
      'watch 11 bookmarks',
      'list ',
      'watch 20 bookmarks',
      'watch 25 bookmarks',
      'list ',
      'watch 30 bookmarks',
    ]);
    assert.deepEqual(changes, ['ADDED a 5', 'MODIFIED a 11', 'ADDED c 19', 'DELETED a 11', 'DELETED c 31']);
    assert.deepEqual(sleeps, [800], 'a backoff after the broken stream only; 410 and a clean end resume at once');
    assert.deepEqual(inf.stats, { lists: 3, watches: 5, relists: 2, reconnects: 1, bookmarks: 1, events: 2 });
    assert.equal(api.client.requestCount(), 8, 'every list and watch is a counted request');
    assert.deepEqual(inf.list(), []);
  } finally {
    await inf.stop();
    await api.close();
  }
});

test('a forbidden watch stops the informer and reports it as fatal; managedFields are dropped from events', async () => {
  const api = await apiServer([
    list(10),
    (res) => {
      stream(res);
      res.end(line('ADDED', cm('a', 11)));
    },
    (res) => {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'configmaps is forbidden' }));
    },
  ]);
  const errors: string[] = [];
  const inf = new Informer<KubeObject>(api.client, Resources.configmaps, {
    sleep: async () => {},
    onError: (e, fatal) => errors.push(`${fatal ? 'fatal' : 'retry'}: ${e.message}`),
  });
  try {
    inf.start();
    for (let i = 0; i < 200 && !inf.failed(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(errors.join('\n'), /^fatal: watch configmaps: 403 Forbidden: configmaps is forbidden$/);
    assert.equal(inf.get('ns', 'a')?.metadata.managedFields, undefined);
    assert.deepEqual(api.seen, ['list ', 'watch 10 bookmarks', 'watch 11 bookmarks']);
  } finally {
    await inf.stop();
    await api.close();
  }
});
