/** managedFields are cut out of list and watch text before parsing: the result parses as the object without them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ManagedFieldsCutter,
  memberKey,
  withoutManagedFields as cut,
  withoutMembers,
} from '../../src/kube/managed-fields.js';

const withoutManagedFields = (text: string) => cut(Buffer.from(text)).toString('utf8');

const without = (o: unknown): unknown =>
  JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === 'managedFields' ? undefined : v)));

const cases: [string, unknown][] = [
  [
    'a field set whose keys hold quotes, commas and brackets',
    { metadata: { name: 'a', managedFields: [{ manager: 'x', fieldsV1: { 'f:data': { 'k:{"name":"x,]}"}': {} } } }] } },
  ],
  ['managedFields first', { metadata: { managedFields: [], name: 'b' } }],
  ['managedFields last, null', { metadata: { name: 'c', managedFields: null } }],
  [
    'a list of several objects, one holding the key text in a string',
    {
      items: [
        { metadata: { name: 'a', managedFields: [{ a: '"managedFields":' }], labels: { x: 'y' } } },
        { metadata: { managedFields: [{}] } },
      ],
    },
  ],
  ['the key text inside a string value is data, not a key', { data: { x: '"managedFields":[1,2]' } }],
  ['an escaped backslash before a closing quote', { metadata: { name: 'x\\', managedFields: [{ m: 'a\\"b' }] } }],
];

for (const [name, obj] of cases) {
  test(`cuts managedFields: ${name}`, () => {
    for (const indent of [0, 2])
      assert.deepEqual(JSON.parse(withoutManagedFields(JSON.stringify(obj, null, indent))), without(obj));
  });
}

test('text that is not JSON is left as it was', () => {
  const broken = '{"metadata":{"managedFields":[{"a":"b"';
  assert.equal(withoutManagedFields(broken), broken);
});

/** The cutter fed `text` in chunks of the given sizes (cycled). */
const cutInChunks = (text: string, sizes: number[]) => {
  const bytes = Buffer.from(text);
  const c = new ManagedFieldsCutter();
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    c.push(bytes.subarray(at, at + n));
    at += n;
  }
  return c.text();
};

test('cuts managedFields chunk by chunk as from the whole body, byte for byte, for every split', () => {
  const texts = cases.flatMap(([, obj]) => [JSON.stringify(obj), JSON.stringify(obj, null, 2)]);
  texts.push(
    '{"a":1 , "managedFields":[] }',
    '{"b":[1] ,\n "managedFields": null\n}',
    '{"x":"é", "managedFields":{"é":"\\""} , "y":"ü"}',
  );
  for (const text of texts) {
    const whole = withoutManagedFields(text);
    for (let size = 1; size <= Buffer.byteLength(text); size++)
      assert.equal(cutInChunks(text, [size]), whole, `${text} in chunks of ${size}`);
  }
});

test('cuts managedFields from random objects whose strings hold quotes, backslashes and brackets', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const alphabet = ['"', '\\', '{', '}', '[', ']', ',', ':', 'a', 'f:', ' ', '\\"', 'é', '"managedFields":'];
  const str = () => Array.from({ length: rand(6) }, () => alphabet[rand(alphabet.length)]).join('');
  const value = (depth: number): unknown => {
    const k = rand(depth > 3 ? 3 : 6);
    if (k === 0) return str();
    if (k === 1) return rand(1000) - 500;
    if (k === 2) return [true, false, null][rand(3)];
    if (k === 3) return Array.from({ length: rand(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: rand(4) }, () => [str(), value(depth + 1)]));
  };
  for (let i = 0; i < 500; i++) {
    const obj = {
      items: Array.from({ length: 1 + rand(3) }, () => ({
        metadata: { name: str(), managedFields: [{ manager: str(), fieldsV1: value(0) }], labels: { [str()]: str() } },
        spec: value(0),
      })),
    };
    for (const indent of [0, 1]) {
      const text = JSON.stringify(obj, null, indent);
      assert.deepEqual(JSON.parse(withoutManagedFields(text)), without(obj), `case ${i}`);
      // Streamed in uneven chunks (splitting multi-byte characters too), the same text as cut whole.
      assert.equal(
        cutInChunks(text, [1 + rand(7), 1 + rand(40), 1 + rand(3)]),
        withoutManagedFields(text),
        `case ${i}`,
      );
    }
  }
});

test('withoutMembers cuts every named member at any depth, and keeps a key that only ends in the name', () => {
  const obj = {
    metadata: { name: 'web', managedFields: [{ manager: 'x' }], annotations: { 'a"template': 'kept' } },
    spec: { replicas: 2, template: { spec: { containers: [{ name: '"template":' }] } }, strategy: { type: 'R' } },
    status: { template: 1 },
  };
  const keys = [memberKey('managedFields'), memberKey('template')];
  for (const indent of [0, 2]) {
    const out = JSON.parse(withoutMembers(Buffer.from(JSON.stringify(obj, null, indent)), keys).toString('utf8'));
    assert.deepEqual(out, {
      metadata: { name: 'web', annotations: { 'a"template': 'kept' } },
      spec: { replicas: 2, strategy: { type: 'R' } },
      status: {},
    });
  }
});
