/**
 * Watch requests: the shapes of a list-then-watch client and the decoding of the API server's event stream (one JSON
 * object per line, `{"type": "MODIFIED", "object": {...}}`). HttpKubeClient and the test fake implement WatchClient.
 */
import type { KubeClient, ListOptions } from './client.js';
import { textWithoutManagedFields } from './managed-fields.js';
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

/** Splits a watch response body into events; chunks may end mid-line or carry several lines. */
export class WatchLineDecoder {
  private rest = '';
  push(chunk: Buffer | string): WatchEvent[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const events: WatchEvent[] = [];
    for (const line of lines) if (line.trim() !== '') events.push(parseEvent(line));
    return events;
  }
  /** Whatever is left when the stream ends (a last line without a newline). */
  end(): WatchEvent[] {
    const line = this.rest;
    this.rest = '';
    return line.trim() === '' ? [] : [parseEvent(line)];
  }
}

function parseEvent(line: string): WatchEvent {
  // managedFields are most of an event's object and nothing reads them from a watch: cut before parsing.
  const e = JSON.parse(textWithoutManagedFields(line)) as Partial<WatchEvent>;
  if (typeof e.type !== 'string' || e.object === null || typeof e.object !== 'object')
    throw new Error(`not a watch event: ${line.slice(0, 120)}`);
  return e as WatchEvent;
}
