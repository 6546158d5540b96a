/**
 * The machine-readable output of every command (`-o json`, `-o yaml`): one document per run, in an envelope like
 * kubectl's objects, `{ apiVersion, kind, ...fields }`. Each kind has a JSON Schema in schemas/ (made from the types
 * below by `npm run schemas`), described in docs/OUTPUT.md and checked against real output by the unit and e2e
 * tests. Fields are only ever added within one apiVersion; renaming or removing one needs a new apiVersion.
 */
import type { BackupResult } from '../backup/run.js';
import type { GenerateResult } from '../generate/run.js';
import type { InspectResult } from '../inspect/run.js';
import type { ReplaceResult } from '../replace/run.js';
import type { RestartResult } from '../restart/run.js';
import type { RotateResult } from '../rotate/run.js';
import type { StatusResult } from '../status/run.js';
import type { VerifyResult } from '../verify/checks.js';

export const API_VERSION = 'istio-ca.kubectl.io/v1alpha1';

/** A document's fields: everything but the envelope. */
type Fields<T> = Omit<T, 'apiVersion' | 'kind'>;

export interface VersionInfo {
  /** The plugin's version (semver, no leading v). */
  version: string;
  /** The Node.js that runs it (process.version). */
  node: string;
  /** os/arch, as Node names them (linux/x64). */
  platform: string;
}

/** `inspect DIR`: a bundle directory validated as istiod reads it. */
export type InspectBundleFields = Fields<Extract<InspectResult, { kind: 'bundle' }>>;
/** `inspect FILE` and `inspect -`: the certificates and keys of one file. */
export type InspectFileFields = Fields<Extract<InspectResult, { kind: 'file' }>>;

/** `status`, with `expiringWithin` when --fail-within is given. */
export interface StatusFields extends StatusResult {
  /** With --fail-within: the certificates that expire within it (exit 1 when any). */
  expiringWithin?: { role: string; subject: string; notAfter: string }[];
}

/** `rotate`: its `kind` (intermediate-only, root-rotation, ...) is `rotation` here, as `kind` names the document. */
export type RotateFields = Omit<RotateResult, 'kind'> & { rotation: RotateResult['kind'] };

/** rotate's document fields: the rotation's kind moves to `rotation`. */
export function rotateFields(result: RotateResult): RotateFields {
  const { kind: rotation, ...fields } = result;
  return { rotation, ...fields };
}

/** Every kind of document and its fields. */
export interface Documents {
  GenerateResult: GenerateResult;
  InspectBundleResult: InspectBundleFields;
  InspectFileResult: InspectFileFields;
  BackupResult: BackupResult;
  ReplaceResult: ReplaceResult;
  RestartResult: RestartResult;
  VerifyResult: VerifyResult;
  StatusResult: StatusFields;
  RotateResult: RotateFields;
  VersionResult: VersionInfo;
}

export type DocumentKind = keyof Documents;
export const DOCUMENT_KINDS: readonly DocumentKind[] = [
  'GenerateResult',
  'InspectBundleResult',
  'InspectFileResult',
  'BackupResult',
  'ReplaceResult',
  'RestartResult',
  'VerifyResult',
  'StatusResult',
  'RotateResult',
  'VersionResult',
];

/** The document as printed: the envelope first, then the fields. */
export type Document<K extends DocumentKind> = { apiVersion: typeof API_VERSION; kind: K } & Documents[K];

/** Wraps `fields` in the envelope. A field named apiVersion or kind would be shadowed: that is a bug. */
export function toDocument(kind: string, fields: unknown): Record<string, unknown> {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields))
    throw new Error(`internal: the ${kind} document is not an object`);
  if ('apiVersion' in fields || 'kind' in fields)
    throw new Error(`internal: the fields of ${kind} hold apiVersion or kind, which the envelope owns`);
  return { apiVersion: API_VERSION, kind, ...fields };
}
