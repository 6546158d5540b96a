/**
 * Loading kubeconfig files as kubectl does (k8s.io/client-go/tools/clientcmd, loader.go): the file list, merging
 * with the first definition of a name winning, missing files skipped, relative paths resolved against the file that
 * defines them, and field types checked as kubectl's typed decoding checks them. Errors name the file and the field,
 * never a value or a line of the file: kubeconfigs hold credentials.
 *
 * Why not @kubernetes/client-node's KubeConfig (1.4.0): it throws on a name defined in two files ("Duplicate user"),
 * fails on a listed file that does not exist, resolves relative paths against one directory for all files, ignores
 * impersonation groups/uid, and its YAML errors quote the offending line. It also costs ~150 ms to load.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { RefusedError } from '../errors.js';

export interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
  'disable-compression'?: boolean;
  extensions?: { name: string; extension: unknown }[];
}

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: string;
}

export interface UserEntry {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  as?: string;
  'as-uid'?: string;
  'as-groups'?: string[];
  'as-user-extra'?: Record<string, string[]>;
  username?: string;
  password?: string;
  'auth-provider'?: { name: string; config?: Record<string, string> };
  exec?: ExecConfig;
}

export interface ContextEntry {
  cluster?: string;
  user?: string;
  namespace?: string;
}

/** One named entry and the file that defined it (for messages and relative paths). */
export interface Defined<T> {
  name: string;
  file: string;
  value: T;
}

export interface MergedKubeconfig {
  /** The files that were read (missing ones skipped). */
  files: string[];
  /** The files that were looked at. */
  looked: string[];
  currentContext: string | undefined;
  clusters: Map<string, Defined<ClusterEntry>>;
  users: Map<string, Defined<UserEntry>>;
  contexts: Map<string, Defined<ContextEntry>>;
}

/**
 * The kubeconfig files to read: --kubeconfig, else $KUBECONFIG (a path list, duplicates dropped), else
 * ~/.kube/config.
 */
export function kubeconfigPaths(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  if (flag) return [flag];
  if (env.KUBECONFIG) return [...new Set(env.KUBECONFIG.split(delimiter).filter(Boolean))];
  return [join(env.HOME || homedir(), '.kube', 'config')];
}

type Kind = 'string' | 'boolean' | 'base64' | 'string list' | 'string map' | 'list' | 'map';

const CLUSTER_FIELDS: Record<string, Kind> = {
  server: 'string',
  'certificate-authority': 'string',
  'certificate-authority-data': 'base64',
  'insecure-skip-tls-verify': 'boolean',
  'tls-server-name': 'string',
  'proxy-url': 'string',
  'disable-compression': 'boolean',
  extensions: 'list',
};
const USER_FIELDS: Record<string, Kind> = {
  'client-certificate': 'string',
  'client-certificate-data': 'base64',
  'client-key': 'string',
  'client-key-data': 'base64',
  token: 'string',
  tokenFile: 'string',
  as: 'string',
  'as-uid': 'string',
  'as-groups': 'string list',
  'as-user-extra': 'map',
  username: 'string',
  password: 'string',
  'auth-provider': 'map',
  exec: 'map',
  extensions: 'list',
};
const CONTEXT_FIELDS: Record<string, Kind> = {
  cluster: 'string',
  user: 'string',
  namespace: 'string',
  extensions: 'list',
};
const EXEC_FIELDS: Record<string, Kind> = {
  command: 'string',
  args: 'string list',
  env: 'list',
  apiVersion: 'string',
  installHint: 'string',
  provideClusterInfo: 'boolean',
  interactiveMode: 'string',
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `a ${typeof v}`;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Go's base64.StdEncoding, which kubectl uses for *-data fields: padded, newlines ignored. */
export function isStdBase64(s: string): boolean {
  const t = s.replace(/[\r\n]/g, '');
  return t.length % 4 === 0 && BASE64.test(t);
}

class FileChecker {
  constructor(readonly file: string) {}
  fail(field: string, what: string): never {
    throw new RefusedError(`kubeconfig ${this.file}: ${field} ${what}`, 'fix the kubeconfig (kubectl rejects it too)');
  }
  /** Checks the typed fields of one map; unknown fields are ignored, as kubectl's decoder ignores them. */
  fields(where: string, obj: unknown, spec: Record<string, Kind>): Record<string, unknown> {
    if (obj === null || obj === undefined) return {};
    if (typeof obj !== 'object' || Array.isArray(obj)) this.fail(where, `must be a map, not ${describe(obj)}`);
    const rec = obj as Record<string, unknown>;
    for (const [key, kind] of Object.entries(spec)) {
      const v = rec[key];
      if (v === undefined || v === null) continue;
      const field = `${where}.${key}`;
      const ok =
        kind === 'string' || kind === 'base64'
          ? typeof v === 'string'
          : kind === 'boolean'
            ? typeof v === 'boolean'
            : kind === 'string list'
              ? Array.isArray(v) && v.every((x) => typeof x === 'string')
              : kind === 'list'
                ? Array.isArray(v)
                : typeof v === 'object' && !Array.isArray(v);
      if (!ok) this.fail(field, `must be ${kind === 'boolean' ? 'true or false' : `a ${kind}`}, not ${describe(v)}`);
      if (kind === 'base64' && !isStdBase64(v as string)) this.fail(field, 'is not valid base64');
    }
    return rec;
  }
  /** A list of `{name, <key>: {...}}` entries (clusters, users, contexts). */
  named(key: string, list: unknown, inner: string): { name: string; body: unknown; where: string }[] {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) this.fail(key, `must be a list, not ${describe(list)}`);
    const seen = new Set<string>();
    return list.map((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        this.fail(`${key}[${i}]`, `must be a map with name and ${inner}, not ${describe(item)}`);
      const rec = item as Record<string, unknown>;
      if (rec.name !== undefined && rec.name !== null && typeof rec.name !== 'string')
        this.fail(`${key}[${i}].name`, `must be a string, not ${describe(rec.name)}`);
      const name = (rec.name as string | undefined) ?? '';
      // kubectl: "duplicate name in list" within one file (across files the first wins).
      if (seen.has(name)) this.fail(`${key}[${i}]`, `repeats the name ${JSON.stringify(name)} within this file`);
      seen.add(name);
      return { name, body: rec[inner], where: `${key}[${i}] (${JSON.stringify(name)}).${inner}` };
    });
  }
}

/** Parses one kubeconfig's text. YAML errors give the position only: the line may hold a credential. */
async function parseText(file: string, text: string): Promise<unknown> {
  const { parse, YAMLParseError } = await import('yaml');
  try {
    // YAML 1.1 as kubectl's decoder (go-yaml v2) reads it: `yes`/`no` are booleans.
    return parse(text, { version: '1.1', prettyErrors: false });
  } catch (e) {
    const offset = e instanceof YAMLParseError ? e.pos[0] : undefined;
    const before = offset === undefined ? undefined : text.slice(0, offset).split('\n');
    const pos = before ? { line: before.length, col: before[before.length - 1].length + 1 } : undefined;
    const code = e instanceof YAMLParseError ? ` (${e.code})` : '';
    throw new RefusedError(
      `kubeconfig ${file}: not valid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}${code}; the line ` +
        `is not shown because it may hold a credential`,
      'fix the kubeconfig (kubectl rejects it too)',
    );
  }
}

function absolute(base: string, p: string | undefined): string | undefined {
  if (!p) return p;
  return isAbsolute(p) ? p : join(base, p);
}

/** Checks one parsed file and resolves its relative paths against its directory. */
function checkFile(
  file: string,
  doc: unknown,
): {
  current: string | undefined;
  clusters: Defined<ClusterEntry>[];
  users: Defined<UserEntry>[];
  contexts: Defined<ContextEntry>[];
} {
  const c = new FileChecker(file);
  const top = c.fields('the top level', doc, {
    'current-context': 'string',
    clusters: 'list',
    users: 'list',
    contexts: 'list',
    preferences: 'map',
  });
  const base = dirname(resolve(file));
  const clusters = c.named('clusters', top.clusters, 'cluster').map(({ name, body, where }) => {
    const v = { ...(c.fields(where, body, CLUSTER_FIELDS) as ClusterEntry) };
    const ca = absolute(base, v['certificate-authority']);
    if (ca) v['certificate-authority'] = ca;
    return { name, file, value: v };
  });
  const users = c.named('users', top.users, 'user').map(({ name, body, where }) => {
    const v = { ...(c.fields(where, body, USER_FIELDS) as UserEntry) };
    for (const k of ['client-certificate', 'client-key', 'tokenFile'] as const) {
      const p = absolute(base, v[k]);
      if (p) v[k] = p;
    }
    if (v['as-user-extra'])
      for (const [k, vals] of Object.entries(v['as-user-extra']))
        if (!Array.isArray(vals) || !vals.every((x) => typeof x === 'string'))
          c.fail(`${where}.as-user-extra.${k}`, 'must be a string list');
    const ap = v['auth-provider'];
    if (ap) {
      c.fields(`${where}.auth-provider`, ap, { name: 'string', config: 'map' });
      if (!ap.name) c.fail(`${where}.auth-provider.name`, 'is missing');
    }
    if (v.exec) {
      const ex = { ...(c.fields(`${where}.exec`, v.exec, EXEC_FIELDS) as unknown as ExecConfig) };
      for (const [i, e] of (ex.env ?? []).entries()) {
        const rec = c.fields(`${where}.exec.env[${i}]`, e, { name: 'string', value: 'string' });
        if (typeof rec.name !== 'string' || rec.name === '') c.fail(`${where}.exec.env[${i}].name`, 'is missing');
      }
      // kubectl resolves the command against the kubeconfig's directory only when it is a path, not a PATH name.
      if (ex.command && ex.command.includes(sep) && !isAbsolute(ex.command)) ex.command = join(base, ex.command);
      v.exec = ex;
    }
    return { name, file, value: v };
  });
  const contexts = c.named('contexts', top.contexts, 'context').map(({ name, body, where }) => ({
    name,
    file,
    value: c.fields(where, body, CONTEXT_FIELDS),
  }));
  return { current: (top['current-context'] as string | undefined) || undefined, clusters, users, contexts };
}

/**
 * Reads and merges the kubeconfig files. An explicit --kubeconfig must exist; files from $KUBECONFIG or the default
 * path that do not exist are skipped. The first file to define a name (or a current-context) wins.
 */
export async function loadKubeconfig(explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<MergedKubeconfig> {
  const looked = kubeconfigPaths(explicit, env);
  const merged: MergedKubeconfig = {
    files: [],
    looked,
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const file of looked) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !explicit) continue;
      const why =
        code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
      throw new RefusedError(`kubeconfig ${file} ${why}`, 'pass a readable kubeconfig with --kubeconfig');
    }
    const one = checkFile(file, await parseText(file, text));
    merged.files.push(file);
    merged.currentContext ??= one.current;
    for (const x of one.clusters) if (!merged.clusters.has(x.name)) merged.clusters.set(x.name, x);
    for (const x of one.users) if (!merged.users.has(x.name)) merged.users.set(x.name, x);
    for (const x of one.contexts) if (!merged.contexts.has(x.name)) merged.contexts.set(x.name, x);
  }
  return merged;
}

/** True when nothing usable was loaded (kubectl's "empty config"): in-cluster config may apply. */
export function isEmpty(k: MergedKubeconfig): boolean {
  return k.clusters.size === 0 && k.users.size === 0 && k.contexts.size === 0 && !k.currentContext;
}
