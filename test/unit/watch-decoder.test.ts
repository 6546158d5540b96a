/** The watch stream's decoder: events split anywhere between chunks (even inside a character) arrive whole. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WatchLineDecoder } from '../../src/kube/watch.js';

const events = [
  {
    type: 'MODIFIED',
    object: {
      metadata: {
        name: 'café-ünïcode-✓',
        managedFields: [{ manager: 'kube-controller-manager', fieldsV1: { 'f:status': {} } }],
        annotations: { note: 'a "quoted" \\ value, {brackets} and 日本語' },
      },
      status: { replicas: 1 },
    },
  },
  { type: 'BOOKMARK', object: { metadata: { resourceVersion: '42' } } },
  { type: 'DELETED', object: { metadata: { name: 'ß', managedFields: [] } } },
];
const expected = events.map((e) =>
  JSON.parse(JSON.stringify(e, (k, v: unknown) => (k === 'managedFields' ? undefined : v))),
);
const body = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n\n');

test('every split of the stream into two chunks decodes the same events', () => {
  for (let at = 0; at <= body.length; at++) {
    const d = new WatchLineDecoder();
    const got = [...d.push(body.subarray(0, at)), ...d.push(body.subarray(at)), ...d.end()];
    assert.deepEqual(got, expected, `split at byte ${at}`);
  }
});

test('one byte at a time, and a last line without a newline', () => {
  const d = new WatchLineDecoder();
  const trimmed = body.subarray(0, body.length - 2);
  const got = [];
  for (let i = 0; i < trimmed.length; i++) got.push(...d.push(trimmed.subarray(i, i + 1)));
  got.push(...d.end());
  assert.deepEqual(got, expected);
});

test('a line that is not a watch event is an error naming it', () => {
  assert.throws(() => new WatchLineDecoder().push('{"kind":"Status"}\n'), /not a watch event: \{"kind":"Status"\}/);
});
