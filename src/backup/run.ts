/**
 * `backup`: saves cacerts, istio-ca-secret and every namespace's istio-ca-root-cert into DIR/<context>-<UTC time>/:
 * one YAML per object that `kubectl apply -f` restores, the decoded PEM files laid out for `replace --from-dir`,
 * and manifest.json with SHA-256 checksums. Everything is read before anything is written; the folder appears
 * (by rename) only when complete. Folder 0700, files 0600.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeClient } from '../kube/client.js';
import { Resources, type ConfigMap, type KubeObject, type Secret } from '../kube/resources.js';
import { CACERTS, ROOT_CERT_CONFIGMAP, SELF_SIGNED_SECRET } from '../istio/names.js';
import { bundleFromSecret } from '../istio/secret-bundle.js';
import { ensurePrivateDir } from '../fsutil/atomic.js';
import { OperationError, ConnectionError } from '../errors.js';
import { KubeApiError } from '../kube/errors.js';

export interface BackupOptions {
  outDir: string;
  namespace: string;
}

export interface BackupFile {
  path: string;
  sha256: string;
  /** The object a YAML file restores, or the secret a PEM file was decoded from. */
  source: string;
}

export interface BackupResult {
  path: string;
  context: string;
  createdAt: string;
  cacerts: boolean;
  selfSignedSecret: boolean;
  configMaps: number;
  files: BackupFile[];
}

const SERVER_FIELDS = [
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'generation',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/** An object as `kubectl apply -f` wants it back: apiVersion and kind set, server-owned fields removed. */
export function restorable(obj: KubeObject, apiVersion: string, kind: string): KubeObject {
  const metadata: Record<string, unknown> = { ...obj.metadata };
  for (const f of SERVER_FIELDS) delete metadata[f];
  const annotations = { ...(obj.metadata.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return { apiVersion, kind, metadata: metadata as KubeObject['metadata'], ...rest };
}

function timestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

async function optionalSecret(client: KubeClient, ns: string, name: string): Promise<Secret | null> {
  return client.get<Secret>(Resources.secrets, ns, name);
}

/**
 * Renames the finished folder to `base`, or `base-2`, `base-3` ... when a backup of the same context already holds
 * that name (two backups in one second: rotate backs up before every phase).
 */
async function renameUnique(tmp: string, base: string): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    try {
      await rename(tmp, candidate);
      return candidate;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || n >= 1000) throw e;
    }
  }
}

/** Reads everything, then writes the backup folder atomically (temp folder + rename). */
export async function runBackup(client: KubeClient, opts: BackupOptions, now: Date): Promise<BackupResult> {
  let cacerts: Secret | null, selfSigned: Secret | null, configMaps: ConfigMap[];
  try {
    [cacerts, selfSigned, configMaps] = await Promise.all([
      optionalSecret(client, opts.namespace, CACERTS),
      optionalSecret(client, opts.namespace, SELF_SIGNED_SECRET),
      client.list<ConfigMap>(Resources.configmaps, { fieldSelector: `metadata.name=${ROOT_CERT_CONFIGMAP}` }),
    ]);
  } catch (e) {
    // API refusals and connection failures (exit 3) keep their own type and message.
    if (e instanceof KubeApiError || e instanceof ConnectionError) throw e;
    throw new OperationError(`backup failed while reading the cluster: ${(e as Error).message}; nothing was written`);
  }

  const files: { rel: string; content: string | Buffer; source: string }[] = [];
  if (cacerts) {
    files.push({
      rel: 'secret-cacerts.yaml',
      content: stringify(restorable(cacerts, 'v1', 'Secret')),
      source: `secret/${CACERTS}`,
    });
    for (const [name, bytes] of Object.entries(bundleFromSecret(cacerts)))
      files.push({ rel: name, content: bytes, source: `secret/${CACERTS}` });
  }
  if (selfSigned) {
    files.push({
      rel: 'secret-istio-ca-secret.yaml',
      content: stringify(restorable(selfSigned, 'v1', 'Secret')),
      source: `secret/${SELF_SIGNED_SECRET}`,
    });
    for (const [name, bytes] of Object.entries(bundleFromSecret(selfSigned)))
      files.push({ rel: join(SELF_SIGNED_SECRET, name), content: bytes, source: `secret/${SELF_SIGNED_SECRET}` });
  }
  for (const cm of configMaps.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? ''))) {
    files.push({
      rel: join('configmaps', `${cm.metadata.namespace}.yaml`),
      content: stringify(restorable(cm, 'v1', 'ConfigMap')),
      source: `configmap/${cm.metadata.namespace}/${ROOT_CERT_CONFIGMAP}`,
    });
  }

  const createdAt = now.toISOString();
  const name = `${client.context.replace(/[^A-Za-z0-9._-]/g, '_')}-${timestamp(now)}`;
  await ensurePrivateDir(opts.outDir);
  const tmp = join(opts.outDir, `.${name}.${randomBytes(4).toString('hex')}.partial`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    const out: BackupFile[] = [];
    for (const f of files) {
      const path = join(tmp, f.rel);
      await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
      await writeFile(path, f.content, { mode: 0o600 });
      out.push({ path: f.rel, sha256: createHash('sha256').update(f.content).digest('hex'), source: f.source });
    }
    const manifest = {
      kind: 'IstioCaBackup',
      version: 1,
      context: client.context,
      namespace: opts.namespace,
      createdAt,
      files: out,
    };
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    const final = await renameUnique(tmp, join(opts.outDir, name));
    return {
      path: final,
      context: client.context,
      createdAt,
      cacerts: cacerts !== null,
      selfSignedSecret: selfSigned !== null,
      configMaps: configMaps.length,
      files: out,
    };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new OperationError(
      `cannot write the backup under ${opts.outDir}: ${(e as Error).message}; nothing was kept`,
      'check that the directory is writable and has space',
    );
  }
}
