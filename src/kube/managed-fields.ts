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

/** The text a member named `name` starts with: `"name":` (no space between: the API server writes none). */
export const memberKey = (name: string): Buffer => Buffer.from(`"${name}":`);

/**
 * The JSON bytes without any `"managedFields": …` member (and its comma). Works on the bytes as received, so a
 * large page never becomes a string of its full size.
 */
export function withoutManagedFields(json: Buffer): Buffer {
  return withoutMembers(json, [KEY]);
}

/**
 * The JSON bytes without any member whose key text is one of `keys` (memberKey), at any depth, with its comma. A
 * key preceded by a backslash is the tail of another key that holds an escaped quote, and is kept.
 */
export function withoutMembers(json: Buffer, keys: readonly Buffer[]): Buffer {
  // The next occurrence of each key at or after `from` (-1: none left); each is searched again only once passed.
  const next = keys.map((k) => json.indexOf(k));
  const nextKey = (from: number): number => {
    let best = -1;
    for (let k = 0; k < keys.length; k++) {
      while (next[k] >= 0 && (next[k] < from || (next[k] > 0 && json[next[k] - 1] === 0x5c)))
        next[k] = json.indexOf(keys[k], Math.max(from, next[k] + 1));
      if (next[k] >= 0 && (best < 0 || next[k] < next[best])) best = k;
    }
    return best;
  };
  let k = nextKey(0);
  if (k < 0) return json;
  const kept: Buffer[] = [];
  let from = 0;
  while (k >= 0) {
    const at = next[k];
    let i = at + keys[k].length;
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
      let c = at - 1;
      while (c >= from && isSpace(json[c])) c--;
      if (c >= from && json[c] === 0x2c) cutFrom = c;
    }
    kept.push(json.subarray(from, cutFrom));
    from = cutTo;
    k = nextKey(from);
  }
  kept.push(json.subarray(from));
  return Buffer.concat(kept);
}

const EMPTY = Buffer.alloc(0);

/**
 * withoutManagedFields for a body that arrives in chunks: each chunk is cut and decoded as it arrives, so a large
 * list page is never held whole as bytes (the chunks, their concatenation and the cut copy were three copies of it,
 * most of a paged list's peak memory). text() gives the same text as withoutManagedFields of the whole body would,
 * for any JSON and any split into chunks.
 */
export class ManagedFieldsCutter {
  private readonly parts: string[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  /** Bytes not yet judged: a possible start of the key, or the comma and spaces that may precede it. */
  private tail = EMPTY;
  /** Within a cut value: 0 scanning, 1 before the value, 2 in a string, 3 in an object or array, 4 in a scalar. */
  private state = 0;
  private depth = 0;
  private escaped = false;
  /** While cutting: the comma (and spaces) before the key, kept only when a comma follows the value. */
  private held = EMPTY;
  /** After the value: the spaces seen while looking for a comma. */
  private after: Buffer[] | undefined;

  push(chunk: Buffer): void {
    const out: Buffer[] = [];
    let b = chunk;
    if (this.tail.length) {
      b = Buffer.concat([this.tail, chunk]);
      this.tail = EMPTY;
    }
    let i = 0;
    while (i < b.length) {
      if (this.after !== undefined) i = this.afterValue(this.after, b, i, out);
      else if (this.state === 0) i = this.scan(b, i, out);
      else i = this.skip(b, i);
    }
    this.emit(out);
  }

  /** The whole text, cut; call once, after the last chunk. */
  text(): string {
    const out: Buffer[] = [];
    if (this.after !== undefined)
      out.push(...this.after); // the value was last: its comma before goes
    else if (this.state === 0) out.push(this.tail);
    this.tail = EMPTY;
    this.emit(out);
    this.parts.push(this.decoder.decode());
    return this.parts.join('');
  }

  private emit(out: Buffer[]): void {
    const bytes = out.length === 1 ? out[0] : Buffer.concat(out);
    if (bytes.length) this.parts.push(this.decoder.decode(bytes, { stream: true }));
  }

  /** Emits up to the next key (holding back what may precede it); returns where scanning stops. */
  private scan(b: Buffer, from: number, out: Buffer[]): number {
    const at = b.indexOf(KEY, from);
    if (at < 0) {
      let keep = Math.max(from, b.length - (KEY.length - 1));
      keep = heldFrom(b, from, keep);
      out.push(b.subarray(from, keep));
      this.tail = Buffer.from(b.subarray(keep));
      return b.length;
    }
    const comma = heldFrom(b, from, at);
    out.push(b.subarray(from, comma));
    this.held = Buffer.from(b.subarray(comma, at));
    this.state = 1;
    return at + KEY.length;
  }

  /**
   * Skips the key's value; returns where it stopped (the value's end, or the chunk's). The scan state lives in locals
   * while a chunk is scanned: most of a list page's bytes pass through this loop.
   */
  private skip(b: Buffer, from: number): number {
    const n = b.length;
    let i = from;
    if (this.state === 1) {
      while (i < n && isSpace(b[i])) i++;
      if (i === n) return n;
      const c = b[i];
      this.state = c === 0x22 ? 2 : c === 0x5b || c === 0x7b ? 3 : 4;
      this.depth = this.state === 3 ? 1 : 0;
      if (this.state === 4 && (c === 0x2c || c === 0x7d || c === 0x5d)) return this.valueEnded(i);
      i++;
    }
    if (this.state === 4) {
      for (; i < n; i++) {
        const c = b[i];
        if (c === 0x2c || c === 0x7d || c === 0x5d || isSpace(c)) return this.valueEnded(i);
      }
      return n;
    }
    // 2: in a string value; 3: in an object or array, depth kept negative while inside one of its strings.
    const inString = this.state === 2;
    let depth = this.depth;
    let escaped = this.escaped;
    for (; i < n; i++) {
      const c = b[i];
      if (escaped) escaped = false;
      else if (c === 0x5c && (inString || depth < 0)) escaped = true;
      else if (c === 0x22) {
        if (inString) return this.valueEnded(i + 1);
        depth = -depth;
      } else if (depth > 0 && (c === 0x5b || c === 0x7b)) depth++;
      else if (depth > 0 && (c === 0x5d || c === 0x7d) && --depth === 0) return this.valueEnded(i + 1);
    }
    this.depth = depth;
    this.escaped = escaped;
    return n;
  }

  private valueEnded(i: number): number {
    this.state = 0;
    this.depth = 0;
    this.escaped = false;
    this.after = [];
    return i;
  }

  /** After a cut value: a comma goes (and the text before the key stays), else the comma before the key goes. */
  private afterValue(after: Buffer[], b: Buffer, i: number, out: Buffer[]): number {
    let j = i;
    while (j < b.length && isSpace(b[j])) j++;
    if (j === b.length) {
      after.push(Buffer.from(b.subarray(i, j)));
      return j;
    }
    if (b[j] === 0x2c) {
      out.push(this.held);
      j++;
    } else {
      out.push(...after, b.subarray(i, j));
    }
    this.held = EMPTY;
    this.after = undefined;
    return j;
  }
}

/** Where the text held back before `to` starts: at a comma followed only by spaces, else at `to`. */
function heldFrom(b: Buffer, from: number, to: number): number {
  let k = to - 1;
  while (k >= from && isSpace(b[k])) k--;
  return k >= from && b[k] === 0x2c ? k : to;
}
