/**
 * The API server's protobuf encoding (application/vnd.kubernetes.protobuf), read for the few shapes the plugin asks
 * for in it: metadata-only lists (PartialObjectMetadataList) and Status errors. Objects come out as their JSON form
 * would parse (same keys, same omitted empties, RFC 3339 times), minus managedFields, which are skipped by length:
 * a JSON page has to be scanned byte by byte to cut them (managed-fields.ts), a protobuf page is not. Field numbers
 * are those of k8s.io/apimachinery's generated.proto (meta/v1 and runtime); unknown fields are skipped, as protobuf
 * readers do.
 *
 * A message is a sequence of (tag, value) with tag = field << 3 | wire type; wire type 0 is a varint, 2 a
 * length-delimited value (string, bytes, embedded message, map entry), 1 and 5 fixed 64 and 32 bits.
 */
import { decodeProjected, schemaOf, type Projection } from './projection.js';
import type { KubeObject } from './resources.js';
import type { WatchEvent } from './watch.js';

/** The four bytes before every object the API server encodes in protobuf ("k8s" and a zero byte). */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';

const EMPTY = Buffer.alloc(0);

export class ProtoReader {
  constructor(
    private readonly buf: Buffer,
    public pos = 0,
    private readonly end = buf.length,
  ) {}

  more(): boolean {
    return this.pos < this.end;
  }

  /**
   * A varint as a number: exact up to 2^53, which every count, generation and time the plugin reads is below; a
   * negative int64 (ten bytes) comes out approximately, which only fields skipped unread can hold.
   */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError('a varint runs past its message');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return i === 9 ? result - 2 ** 64 : result;
      scale *= 128;
    }
    throw new ProtoError('a varint is longer than ten bytes');
  }

  /** The number and wire type of the field read last by next(). */
  field = 0;
  wire = 0;

  /** Reads the next field's key into `field` and `wire` (properties, not a pair: a page holds many keys). */
  next(): void {
    const key = this.varint();
    this.field = Math.floor(key / 8);
    this.wire = key & 7;
  }

  /** A length-delimited value's bounds; pos moves past it. */
  private delimited(): [start: number, end: number] {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) throw new ProtoError('a length-delimited field runs past its message');
    this.pos = start + n;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.delimited();
    return this.buf.toString('utf8', s, e);
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const [s, e] = this.delimited();
    return new ProtoReader(this.buf, s, e);
  }

  bytes(): Buffer {
    const [s, e] = this.delimited();
    return this.buf.subarray(s, e);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.delimited();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new ProtoError(`wire type ${wire} is not one the API server writes`);
    if (this.pos > this.end) throw new ProtoError('a fixed-size field runs past its message');
  }
}

export class ProtoError extends Error {}

/**
 * The message inside the API server's envelope: the magic bytes, then a runtime.Unknown (typeMeta = 1, raw = 2,
 * contentEncoding = 3, contentType = 4) whose raw bytes are the object. Returns the object's kind and bytes.
 */
export function unwrap(body: Buffer): { apiVersion: string; kind: string; raw: ProtoReader } {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC))
    throw new ProtoError('the body does not start with the protobuf envelope');
  const r = new ProtoReader(body, MAGIC.length);
  let apiVersion = '';
  let kind = '';
  let raw: ProtoReader | undefined;
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 1 && w === 2) {
      const t = r.message();
      while (t.more()) {
        t.next();
        const { field: tf, wire: tw } = t;
        if (tf === 1 && tw === 2) apiVersion = t.string();
        else if (tf === 2 && tw === 2) kind = t.string();
        else t.skip(tw);
      }
    } else if (f === 2 && w === 2) raw = r.message();
    else if (f === 3 && w === 2) {
      if (r.string() !== '') throw new ProtoError('the object is content-encoded');
    } else r.skip(w);
  }
  if (!raw) throw new ProtoError('the envelope holds no object');
  return { apiVersion, kind, raw };
}

/**
 * metav1.Time (seconds = 1, nanos = 2) as its JSON form: RFC 3339, UTC, whole seconds; the zero time, which the API
 * server writes as an empty message, is null.
 */
function time(r: ProtoReader): string | null {
  if (!r.more()) return null;
  let seconds = 0;
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 1 && w === 0) seconds = r.varint();
    else r.skip(w);
  }
  let text = TIMES.get(seconds);
  if (text === undefined) {
    // toISOString is YYYY-MM-DDTHH:MM:SS.sssZ for years 0-9999 (cut its milliseconds), six-digit years otherwise.
    const iso = new Date(seconds * 1000).toISOString();
    text = iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d+Z$/, 'Z');
    if (TIMES.size >= 4096) TIMES.clear();
    TIMES.set(seconds, text);
  }
  return text;
}

/** Times already written out: objects made together (a Deployment's pods, say) share their creation second. */
const TIMES = new Map<number, string>();

/** A map entry (key = 1, value = 2) into `into`. */
export function mapEntry(r: ProtoReader, into: Record<string, string>): void {
  let key = '';
  let value = '';
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 1 && w === 2) key = r.string();
    else if (f === 2 && w === 2) value = r.string();
    else r.skip(w);
  }
  into[key] = value;
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

function ownerReference(r: ProtoReader): OwnerReference {
  const o: OwnerReference = { apiVersion: '', kind: '', name: '', uid: '' };
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 5 && w === 2) o.apiVersion = r.string();
    else if (f === 1 && w === 2) o.kind = r.string();
    else if (f === 3 && w === 2) o.name = r.string();
    else if (f === 4 && w === 2) o.uid = r.string();
    else if (f === 6 && w === 0) o.controller = r.varint() !== 0;
    else if (f === 7 && w === 0) o.blockOwnerDeletion = r.varint() !== 0;
    else r.skip(w);
  }
  // JSON's key order, for output that prints these objects.
  const { apiVersion, kind, name, uid, ...flags } = o;
  return { apiVersion, kind, name, uid, ...flags };
}

const STRING_FIELDS: Record<number, string> = {
  1: 'name',
  2: 'generateName',
  3: 'namespace',
  4: 'selfLink',
  5: 'uid',
  6: 'resourceVersion',
};

/**
 * metav1.ObjectMeta as JSON has it (empty strings, zero generation and empty maps and lists left out), without
 * managedFields.
 */
export function objectMeta(r: ProtoReader): KubeObject['metadata'] {
  const m: Record<string, unknown> = {};
  let labels: Record<string, string> | undefined;
  let annotations: Record<string, string> | undefined;
  let owners: OwnerReference[] | undefined;
  let finalizers: string[] | undefined;
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    const key = STRING_FIELDS[f];
    if (key !== undefined && w === 2) {
      const s = r.string();
      if (s !== '') m[key] = s;
    } else if (f === 7 && w === 0) {
      const g = r.varint();
      if (g !== 0) m.generation = g;
    } else if (f === 8 && w === 2) m.creationTimestamp = time(r.message());
    else if (f === 9 && w === 2) {
      const t = time(r.message());
      if (t !== null) m.deletionTimestamp = t;
    } else if (f === 10 && w === 0) m.deletionGracePeriodSeconds = r.varint();
    else if (f === 11 && w === 2) mapEntry(r.message(), (labels ??= {}));
    else if (f === 12 && w === 2) mapEntry(r.message(), (annotations ??= {}));
    else if (f === 13 && w === 2) (owners ??= []).push(ownerReference(r.message()));
    else if (f === 14 && w === 2) (finalizers ??= []).push(r.string());
    else r.skip(w); // managedFields (17) among them: skipped by length, never read
  }
  if (labels) m.labels = labels;
  if (annotations) m.annotations = annotations;
  if (owners) m.ownerReferences = owners;
  if (finalizers) m.finalizers = finalizers;
  return m as KubeObject['metadata'];
}

export interface ListPage<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
}

/** metav1.ListMeta: selfLink = 1, resourceVersion = 2, continue = 3, remainingItemCount = 4. */
function listMeta(r: ProtoReader): ListPage<never>['metadata'] {
  const m: ListPage<never>['metadata'] = {};
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 2 && w === 2) {
      const s = r.string();
      if (s) m.resourceVersion = s;
    } else if (f === 3 && w === 2) {
      const s = r.string();
      if (s) m.continue = s;
    } else if (f === 4 && w === 0) m.remainingItemCount = r.varint();
    else r.skip(w);
  }
  return m;
}

/** A PartialObjectMetadata (metadata = 1) as its JSON form. */
function partialObjectMetadata(r: ProtoReader): KubeObject {
  let metadata: KubeObject['metadata'] = { name: '' };
  while (r.more()) {
    r.next();
    const { field: f, wire: w } = r;
    if (f === 1 && w === 2) metadata = objectMeta(r.message());
    else r.skip(w);
  }
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}

/** A PartialObjectMetadataList page (metadata = 1, items = 2), whole. */
export function decodeMetadataList(body: Buffer): ListPage<KubeObject> {
  const d = new MetadataListDecoder();
  d.push(body);
  return d.end();
}

/**
 * A list page (ListMeta = 1, items = 2) decoded as its chunks arrive: each item is decoded by `item` once its bytes
 * are in and its chunks are let go, so a page (5 MB for 1,000 pods, mostly managedFields) is never held whole.
 */
export class ListDecoder {
  constructor(
    private readonly listKind: string,
    private readonly item: (r: ProtoReader) => KubeObject,
  ) {}
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** 0: the envelope's magic; 1: the envelope's fields; 2: inside its raw object, `rawLeft` bytes left. */
  private state = 0;
  private rawLeft = 0;
  private kind = '';
  private readonly page: ListPage<KubeObject> = { items: [], metadata: {} };

  push(chunk: Buffer): void {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.drain();
  }

  /** The page; throws when the body ended early or was not such a list. */
  end(): ListPage<KubeObject> {
    this.drain();
    if (this.state !== 1 || this.buffered !== 0) throw new ProtoError('the body ends inside a message');
    if (this.kind !== this.listKind) throw new ProtoError(`expected a ${this.listKind}, got ${this.kind || 'no kind'}`);
    return this.page;
  }

  private drain(): void {
    for (;;) {
      if (this.state === 0) {
        if (this.buffered < MAGIC.length) return;
        if (!this.take(MAGIC.length).equals(MAGIC))
          throw new ProtoError('the body does not start with the protobuf envelope');
        this.state = 1;
        continue;
      }
      // A field: its tag and, for a length-delimited one, its length, both varints of up to ten bytes.
      const head = this.peekHead();
      if (!head) return;
      const [field, wire, len, headBytes] = head;
      if (this.state === 1 && field === 2 && wire === 2) {
        this.take(headBytes);
        this.state = len === 0 ? 1 : 2;
        this.rawLeft = len;
        continue;
      }
      if (wire === 2 && this.buffered < headBytes + len) return;
      if (wire !== 2 && wire !== 0) throw new ProtoError(`wire type ${wire} where a list holds none`);
      this.take(headBytes);
      const value = wire === 2 ? this.take(len) : undefined;
      if (this.state === 2) {
        this.rawLeft -= headBytes + (value?.length ?? 0);
        if (this.rawLeft < 0) throw new ProtoError('an item runs past the list');
        if (value && field === 1) this.page.metadata = listMeta(new ProtoReader(value));
        else if (value && field === 2) this.page.items.push(this.item(new ProtoReader(value)));
        if (this.rawLeft === 0) this.state = 1;
      } else if (value && field === 1) {
        const t = new ProtoReader(value);
        while (t.more()) {
          t.next();
          const { field: tf, wire: tw } = t;
          if (tf === 2 && tw === 2) this.kind = t.string();
          else t.skip(tw);
        }
      } else if (value && field === 3 && value.length) throw new ProtoError('the object is content-encoded');
    }
  }

  /**
   * The next field's number, wire type, length (of a length-delimited value; the varint itself for wire type 0,
   * consumed with the head) and the bytes its head takes; null until they are all buffered.
   */
  private peekHead(): [number, number, number, number] | null {
    const head = this.peek(Math.min(this.buffered, 20));
    try {
      const r = new ProtoReader(head);
      r.next();
      const { field: field, wire: wire } = r;
      const len = wire === 2 || wire === 0 ? r.varint() : 0;
      return [field, wire, wire === 2 ? len : 0, r.pos];
    } catch (e) {
      if (head.length < 20 && e instanceof ProtoError) return null; // not all in yet
      throw e;
    }
  }

  /** The first n buffered bytes, not consumed. */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const some: Buffer[] = [];
    for (let i = 0, got = 0; got < n && i < this.chunks.length; i++) {
      some.push(this.chunks[i]);
      got += this.chunks[i].length;
    }
    return Buffer.concat(some).subarray(0, n);
  }

  /** The first n buffered bytes, consumed (a view of a chunk when they lie in one, else a copy). */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length > n) {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    } else if (first.length === n) {
      out = first;
      this.chunks.shift();
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** A PartialObjectMetadataList page, decoded item by item as it arrives. */
export class MetadataListDecoder extends ListDecoder {
  constructor() {
    super('PartialObjectMetadataList', partialObjectMetadata);
  }
}

/**
 * A page of a typed list (a DeploymentList, say), its items decoded as the projection keeps them; like JSON list
 * items, they carry no kind or apiVersion.
 */
export function projectedListDecoder(projection: Projection, kind: string): ListDecoder {
  const schema = schemaOf(projection, kind);
  if (!schema) throw new ProtoError(`no ${projection} projection of a ${kind}`);
  return new ListDecoder(`${kind}List`, (r) => decodeProjected(r, schema) as KubeObject);
}

/**
 * A metav1.Status (status = 2, message = 3, reason = 4, details = 5, code = 6) as its JSON form, for the error path
 * that reads Status objects; details are left out.
 */
export function decodeStatus(body: Buffer): Record<string, unknown> {
  const { kind, raw } = unwrap(body);
  const s: Record<string, unknown> = { kind, apiVersion: 'v1', metadata: {} };
  while (raw.more()) {
    raw.next();
    const { field: f, wire: w } = raw;
    if (f === 2 && w === 2) s.status = raw.string();
    else if (f === 3 && w === 2) s.message = raw.string();
    else if (f === 4 && w === 2) s.reason = raw.string();
    else if (f === 6 && w === 0) s.code = raw.varint();
    else raw.skip(w);
  }
  return s;
}

/**
 * An object in its envelope, decoded as the projection keeps it (its kind must have a schema there); a Status
 * (the object of a watch's ERROR event) is decoded as one.
 */
export function decodeProjectedObject(body: Buffer, projection: Projection): KubeObject {
  const { apiVersion, kind, raw } = unwrap(body);
  if (kind === 'Status') return decodeStatus(body) as unknown as KubeObject;
  const schema = schemaOf(projection, kind);
  if (!schema) throw new ProtoError(`no ${projection} projection of a ${kind || 'kindless object'}`);
  return { kind, apiVersion, ...decodeProjected(raw, schema) } as KubeObject;
}

/**
 * A protobuf watch stream (application/vnd.kubernetes.protobuf;stream=watch): frames of a 4-byte big-endian length
 * and a metav1.WatchEvent (type = 1, object = 2: a RawExtension whose raw = 1 holds the object in its envelope).
 * Chunks may end anywhere; a frame is decoded once whole.
 */
export class WatchFrameDecoder {
  private rest: Buffer = EMPTY;
  constructor(private readonly projection: Projection) {}

  push(chunk: Buffer): WatchEvent[] {
    let b = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const events: WatchEvent[] = [];
    while (b.length >= 4) {
      const n = b.readUInt32BE(0);
      if (b.length < 4 + n) break;
      events.push(this.event(b.subarray(4, 4 + n)));
      b = b.subarray(4 + n);
    }
    // What is left is at most one frame: copied, so the chunk it came in is not held.
    this.rest = b.length ? Buffer.from(b) : EMPTY;
    return events;
  }

  /** Throws when the stream ended inside a frame. */
  end(): WatchEvent[] {
    if (this.rest.length) throw new ProtoError('the watch stream ends inside an event');
    return [];
  }

  private event(frame: Buffer): WatchEvent {
    const r = new ProtoReader(frame);
    let type = '';
    let object: KubeObject | undefined;
    while (r.more()) {
      r.next();
      const { field: f, wire: w } = r;
      if (f === 1 && w === 2) type = r.string();
      else if (f === 2 && w === 2) {
        const ext = r.message();
        while (ext.more()) {
          ext.next();
          const { field: ef, wire: ew } = ext;
          if (ef === 1 && ew === 2) object = decodeProjectedObject(ext.bytes(), this.projection);
          else ext.skip(ew);
        }
      } else r.skip(w);
    }
    if (!type || !object) throw new ProtoError('not a watch event');
    return { type, object } as WatchEvent;
  }
}
