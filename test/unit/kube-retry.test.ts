/**
 * Retries of API requests over the real HttpKubeClient against a local server: 429 with Retry-After on a write,
 * 5xx and a reset connection on reads, never a blind retry of a write that may have been applied, and a paged list
 * that starts over when its continue token expires (410).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { HttpKubeClient } from '../../src/kube/http.js';
import { localConnection } from './support/local-server.js';
import { KubeApiError, KubeTransportError } from '../../src/kube/errors.js';
import { Resources, type KubeObject } from '../../src/kube/resources.js';
import type { Connection } from '../../src/kube/connect.js';
import { backoffMs, DEFAULT_RETRY, parseRetryAfter, retryable, withRetries } from '../../src/kube/retry.js';
import { transportError } from '../../src/kube/transport.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const status = (res: ServerResponse, code: number, reason: string, headers: Record<string, string> = {}) => {
  res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify({ kind: 'Status', code, reason, message: `scripted ${code}` }));
};
const json = (res: ServerResponse, body: unknown) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

async function server(steps: Handler[]) {
  const seen: string[] = [];
  const waits: number[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const step = steps.shift();
      if (!step) {
        status(res, 500, 'InternalError');
        return;
      }
      step(req, res, body);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = new HttpKubeClient(localConnection(srv));
  client.retry = { ...DEFAULT_RETRY, sleep: async (ms) => void waits.push(ms), random: () => 1 };
  return {
    client,
    seen,
    waits,
    close: async () => {
      client.close();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

const secret: KubeObject = { metadata: { name: 'cacerts', namespace: 'istio-system', resourceVersion: '7' } };

test('a write answered 429 with Retry-After is sent again after that many seconds, then succeeds', async () => {
  const s = await server([
    (_q, res) => {
      status(res, 429, 'TooManyRequests', { 'Retry-After': '3' });
    },
    (_q, res, body) => {
      json(res, JSON.parse(body));
    },
  ]);
  try {
    const out = await s.client.update(Resources.secrets, 'istio-system', secret);
    assert.equal(out.metadata.name, 'cacerts');
    assert.deepEqual(s.seen, Array(2).fill('PUT /api/v1/namespaces/istio-system/secrets/cacerts'));
    assert.deepEqual(s.waits, [3000]);
  } finally {
    await s.close();
  }
});

test('a write answered 500 without Retry-After is not sent again (it may have been applied)', async () => {
  const s = await server([
    (_q, res) => {
      status(res, 500, 'InternalError');
    },
  ]);
  try {
    await assert.rejects(
      s.client.update(Resources.secrets, 'istio-system', secret),
      (e: KubeApiError) => e.status === 500,
    );
    assert.equal(s.seen.length, 1);
  } finally {
    await s.close();
  }
});

test('reads are retried on 503 and on a reset connection, with growing backoff', async () => {
  const s = await server([
    (_q, res) => {
      status(res, 503, 'ServiceUnavailable');
    },
    (req) => req.socket.destroy(),
    (_q, res) => {
      json(res, secret);
    },
  ]);
  try {
    const out = await s.client.get(Resources.secrets, 'istio-system', 'cacerts');
    assert.equal(out?.metadata.name, 'cacerts');
    assert.equal(s.seen.length, 3);
    assert.deepEqual(s.waits, [250, 500]);
  } finally {
    await s.close();
  }
});

test('retries stop after the policy allows: the last error is thrown', async () => {
  const s = await server(
    Array.from({ length: 5 }, () => (_q: IncomingMessage, res: ServerResponse) => {
      status(res, 429, 'TooManyRequests');
    }),
  );
  try {
    await assert.rejects(s.client.get(Resources.secrets, 'x', 'y'), (e: KubeApiError) => e.status === 429);
    assert.equal(s.seen.length, 5);
  } finally {
    await s.close();
  }
});

test('a paged list whose continue token expired (410) starts over and returns each object once', async () => {
  const page = (names: string[], cont?: string) => ({
    metadata: { resourceVersion: '5', ...(cont ? { continue: cont } : {}) },
    items: names.map((n) => ({ metadata: { name: n, namespace: 'ns' } })),
  });
  const s = await server([
    (_q, res) => {
      json(res, page(['a', 'b'], 'c1'));
    },
    (_q, res) => {
      status(res, 410, 'Expired');
    },
    (_q, res) => {
      json(res, page(['a', 'b'], 'c2'));
    },
    (_q, res) => {
      json(res, page(['c']));
    },
  ]);
  try {
    const items = await s.client.list(Resources.configmaps, { limit: 2 });
    assert.deepEqual(
      items.map((i) => i.metadata.name),
      ['a', 'b', 'c'],
    );
    assert.equal(s.seen.length, 4);
    assert.doesNotMatch(s.seen[2], /continue=/, 'the list started over without the expired token');
  } finally {
    await s.close();
  }
});

test('what is retried: 429 and 5xx with Retry-After for every verb; 5xx and resets only for reads', () => {
  const api = (status: number, after?: number) => new KubeApiError(status, 'x', 'y', 'get', 'secrets', 'ns', after);
  assert.equal(retryable('PUT', api(429)), true);
  assert.equal(retryable('POST', api(503, 2)), true);
  assert.equal(retryable('PUT', api(500)), false);
  assert.equal(retryable('GET', api(500)), true);
  assert.equal(retryable('GET', api(404)), false);
  assert.equal(retryable('GET', api(409)), false);
  const conn = { server: 'https://k:6443', source: 'test' } as Connection;
  const url = new URL('https://k:6443/api');
  const reset = transportError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), conn, url);
  const refused = transportError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), conn, url);
  assert.ok(reset instanceof KubeTransportError);
  assert.equal(retryable('GET', reset), true);
  assert.equal(retryable('PUT', reset), false);
  assert.equal(retryable('GET', refused), false, 'a server that is not there is reported at once (exit 3)');
  assert.equal(parseRetryAfter('7'), 7);
  assert.ok((parseRetryAfter(new Date(Date.now() + 4000).toUTCString()) ?? 0) >= 3, 'an HTTP date');
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(backoffMs(1, api(429, 120), { ...DEFAULT_RETRY, maxMs: 30_000 }), 30_000, 'Retry-After is capped');
});

test('withRetries returns the first success and never retries what is not retryable', async () => {
  let n = 0;
  const policy = { ...DEFAULT_RETRY, sleep: async () => undefined };
  await assert.rejects(
    withRetries(
      'PUT',
      async () => {
        n++;
        throw new KubeApiError(409, 'Conflict', 'c', 'update', 'secrets', 'ns');
      },
      policy,
    ),
  );
  assert.equal(n, 1);
});
