/**
 * Watch requests: the shapes of a list-then-watch client and the decoding of the API server's event stream (one JSON
 * object per line, `{"type": "MODIFIED", "object": {...}}`). HttpKubeClient and the test fake implement WatchClient.
 */
import type { KubeClient, ListOptions } from './client.js';
import { withoutMembers } from './managed-fields.js';
import { project, projectionCuts, type Projection } from './projection.js';
import type { KubeObject, ResourceType } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** An ERROR event's object: a metav1.Status (code 410 = the resourceVersion is too old to watch from). */
export interface WatchStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  /** The object; for BOOKMARK only metadata.resourceVersion is meaningful; for ERROR a WatchStatus. */
  object: T;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Events carry PartialObjectMetadata (each object's metadata only). */
  metadataOnly?: boolean;
  /** Watch changes after this resourceVersion (from a list or the last event seen). */
  resourceVersion: string;
  /** Ask for BOOKMARK events: the resourceVersion moves on even when no watched object changes. */
  allowWatchBookmarks?: boolean;
  /** The API server ends the stream cleanly after this many seconds. */
  timeoutSeconds?: number;
  /**
   * Only the projection's fields of each object are read (projection.ts): the client may ask for protobuf and decode
   * just those, or cut the rest from JSON.
   */
  projection?: Projection;
}

export interface VersionedList<T> {
  items: T[];
  /** The resourceVersion of the list's snapshot: a watch from it sees every change after the list. */
  resourceVersion: string;
}

export interface WatchStream {
  /**
   * Settles when the stream ends: resolves when the server closes it (timeoutSeconds) or after stop(); rejects with
   * KubeApiError when the watch is refused (e.g. 403, 410 Gone) and KubeTransportError when the connection breaks.
   */
  readonly done: Promise<void>;
  /** Closes the stream; `done` then resolves. */
  stop(): void;
}

/** A KubeClient that can also list with a resourceVersion and watch from it. */
export interface WatchClient extends KubeClient {
  /** A paged list (as `list`) with its snapshot's resourceVersion. */
  listVersioned<T extends KubeObject>(type: ResourceType, opts?: ListOptions): Promise<VersionedList<T>>;
  /** One watch request, counted and rate-limited like any other request; events arrive in order. */
  watch<T extends KubeObject>(
    type: ResourceType,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): WatchStream;
}

export function isWatchClient(c: KubeClient): c is WatchClient {
  return (
    typeof (c as Partial<WatchClient>).watch === 'function' &&
    typeof (c as Partial<WatchClient>).listVersioned === 'function'
  );
}

/** The query of a watch request. */
export function watchQuery(opts: WatchOptions): URLSearchParams {
  const q = new URLSearchParams();
  q.set('watch', 'true');
  q.set('resourceVersion', opts.resourceVersion);
  if (opts.allowWatchBookmarks) q.set('allowWatchBookmarks', 'true');
  if (opts.timeoutSeconds !== undefined) q.set('timeoutSeconds', String(opts.timeoutSeconds));
  if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
  if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
  return q;
}

/**
 * Splits a watch response body into events; chunks may end mid-line, mid-character or carry several lines. Works on
 * the bytes: a line is decoded once, after its managedFields (and what a projection drops) are cut, so a multi-byte
 * character split between two chunks arrives whole. With a projection, objects of `kind` come out projected.
 */
export class WatchLineDecoder {
  private rest: Buffer[] = [];
  private readonly cut: readonly Buffer[];
  constructor(
    private readonly projection?: Projection,
    private readonly kind?: string,
  ) {
    this.cut = projectionCuts(projection);
  }
  push(chunk: Buffer | string): WatchEvent[] {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const events: WatchEvent[] = [];
    let from = 0;
    for (let nl = b.indexOf(0x0a); nl >= 0; nl = b.indexOf(0x0a, from)) {
      let line = b.subarray(from, nl);
      if (this.rest.length) {
        this.rest.push(line);
        line = Buffer.concat(this.rest);
        this.rest = [];
      }
      from = nl + 1;
      const e = this.parseEvent(line);
      if (e) events.push(e);
    }
    if (from < b.length) this.rest.push(b.subarray(from));
    return events;
  }
  /** Whatever is left when the stream ends (a last line without a newline). */
  end(): WatchEvent[] {
    const line = Buffer.concat(this.rest);
    this.rest = [];
    const e = this.parseEvent(line);
    return e ? [e] : [];
  }

  /** The event of one line, or undefined for a blank line. */
  private parseEvent(line: Buffer): WatchEvent | undefined {
    // managedFields are most of an event's object and nothing reads them from a watch: cut before parsing.
    const text = withoutMembers(line, this.cut).toString('utf8');
    if (text.trim() === '') return undefined;
    const e = JSON.parse(text) as Partial<WatchEvent>;
    if (typeof e.type !== 'string' || e.object === null || typeof e.object !== 'object')
      throw new Error(`not a watch event: ${text.slice(0, 120)}`);
    if (this.projection && this.kind && e.type !== 'ERROR') e.object = project(e.object, this.projection, this.kind);
    return e as WatchEvent;
  }
}
