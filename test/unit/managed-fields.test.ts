/** managedFields are cut out of list and watch text before parsing: the result parses as the object without them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textWithoutManagedFields as withoutManagedFields } from '../../src/kube/managed-fields.js';

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
