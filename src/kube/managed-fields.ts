/**
 * managedFields out of a list or watch response before it is parsed. They are most of a listed object's metadata
 * (about 80 % of a pod's as PartialObjectMetadata) and nothing reads them from a list or a watch: parsing them only
 * to delete them made most of the plugin's parse time, garbage and peak memory on large lists. Cutting them out of
 * the text is a scan for one key and a skip over its value, far cheaper than parsing it.
 *
 * Safe on any JSON: inside a string a quote is escaped, so the text `"managedFields":` (quote, name, quote, colon)
 * only occurs as a key. A value that does not scan as JSON leaves the text as it was (JSON.parse then judges it).
 */

const KEY = Buffer.from('"managedFields":');

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Index just past the JSON string starting at `i` (a quote), or -1. */
function skipString(b: Buffer, i: number): number {
  for (let j = i + 1; j < b.length; j++) {
    const c = b[j];
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22 /* " */) return j + 1;
  }
  return -1;
}

/** Index just past the JSON value starting at `i`, or -1 when it does not end. */
function skipValue(b: Buffer, i: number): number {
  const first = b[i];
  if (first === 0x22) return skipString(b, i);
  if (first !== 0x5b /* [ */ && first !== 0x7b /* { */) {
    // number, true, false, null
    let j = i;
    while (j < b.length) {
      const c = b[j];
      if (c === 0x2c || c === 0x7d || c === 0x5d || isSpace(c)) break;
      j++;
    }
    return j > i ? j : -1;
  }
  let depth = 0;
  for (let j = i; j < b.length; j++) {
    const c = b[j];
    if (c === 0x22) {
      j = skipString(b, j);
      if (j < 0) return -1;
      j--;
    } else if (c === 0x5b || c === 0x7b) depth++;
    else if (c === 0x5d || c === 0x7d) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

/**
 * The JSON bytes without any `"managedFields": …` member (and its comma). Works on the bytes as received, so a
 * large page never becomes a string of its full size.
 */
export function withoutManagedFields(json: Buffer): Buffer {
  let at = json.indexOf(KEY);
  if (at < 0) return json;
  const kept: Buffer[] = [];
  let from = 0;
  while (at >= 0) {
    let i = at + KEY.length;
    while (isSpace(json[i])) i++;
    const end = skipValue(json, i);
    if (end < 0) return json;
    let cutFrom = at;
    let cutTo = end;
    let j = end;
    while (isSpace(json[j])) j++;
    if (json[j] === 0x2c /* , */) cutTo = j + 1;
    else {
      // The last member: take the comma before it instead.
      let k = at - 1;
      while (k >= from && isSpace(json[k])) k--;
      if (k >= from && json[k] === 0x2c) cutFrom = k;
    }
    kept.push(json.subarray(from, cutFrom));
    from = cutTo;
    at = json.indexOf(KEY, from);
  }
  kept.push(json.subarray(from));
  return Buffer.concat(kept);
}
