/**
 * Runs the built plugin (bin/kubectl-istio_ca) as a user would, against the test cluster, and checks every run's
 * stdout and stderr for private key bytes of every key file the test registered.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { e2eEnv, kubectlOk, repoRoot } from './cluster.js';
import { checkPrinted } from '../../unit/support/documents.js';

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

const keyLines = new Set<string>();

/** Remembers the base64 lines of every *key*.pem / tls.key under dir, so no later run may print them. */
export function registerKeys(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(entry));
    if (!/(key\.pem|tls\.key)$/.test(path) || !statSync(path).isFile()) continue;
    for (const line of readFileSync(path, 'utf8').split('\n'))
      if (line.length >= 40 && !line.startsWith('-----')) keyLines.add(line);
  }
}

export function assertNoKeyBytes(text: string): void {
  if (/BEGIN [A-Z ]*PRIVATE KEY/.test(text)) throw new Error('private key PEM found in output');
  for (const l of keyLines) if (text.includes(l)) throw new Error('private key bytes found in output');
  // Secret data is base64 of the PEM: catch a key that went out encoded once more.
  for (const l of keyLines) {
    const enc = Buffer.from(l).toString('base64').slice(8, 48);
    if (text.includes(enc)) throw new Error('base64-encoded private key bytes found in output');
  }
}

export interface PluginOptions {
  context?: string;
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Commands that never connect: they refuse connection flags, so none is added to them. */
const OFFLINE = new Set(['generate', 'inspect', 'version', 'completion']);

/**
 * Runs `kubectl-istio_ca ARGS --kubeconfig E2E [--context C]` (ARGS alone for generate, inspect, version and
 * completion); never throws on a non-zero exit.
 */
export function plugin(args: string[], opts: PluginOptions = {}): Promise<PluginRun> {
  const env = e2eEnv();
  const argv = [
    join(repoRoot(), 'bin', 'kubectl-istio_ca'),
    ...args,
    ...(OFFLINE.has(args[0] ?? '')
      ? []
      : ['--kubeconfig', opts.kubeconfig ?? env.kubeconfig, ...(opts.context ? ['--context', opts.context] : [])]),
  ];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      argv,
      {
        cwd: opts.cwd ?? repoRoot(),
        timeout: opts.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, KUBECONFIG: '', NO_COLOR: '1', ...opts.env },
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- ExecFileException is an Error
          reject(err);
          return;
        }
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        try {
          assertNoKeyBytes(stdout);
          assertNoKeyBytes(stderr);
          // Every -o json / -o yaml printed against the real cluster must match the schema of its kind.
          if (code === 0 || code === 1 || code === 124) checkPrinted(args, stdout);
        } catch (e) {
          reject(e);
          return;
        }
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Stands in for istiod's namespace controller: writes istio-ca-root-cert with `rootPem` into each namespace. */
export async function writeRootConfigMaps(namespaces: string[], rootPem: string, kubeconfig?: string): Promise<void> {
  const items = namespaces.map((ns) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio-ca-root-cert', namespace: ns, labels: { 'istio.io/config': 'true' } },
    data: { 'root-cert.pem': rootPem },
  }));
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
    ...(kubeconfig ? { kubeconfig } : {}),
  });
}

/** The cacerts secret as kubectl sees it (null when absent). */
export async function getCacerts(
  namespace: string,
  kubeconfig?: string,
): Promise<{
  metadata: { resourceVersion: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data: Record<string, string>;
} | null> {
  try {
    return JSON.parse(
      await kubectlOk(['get', 'secret', 'cacerts', '-n', namespace, '-o', 'json'], kubeconfig ? { kubeconfig } : {}),
    );
  } catch (e) {
    if (/NotFound|not found/.test((e as Error).message)) return null;
    throw e;
  }
}

/** A bundle directory as the cacerts secret's data would hold it (base64 of each file). */
export async function bundleData(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'])
    out[f] = readFileSync(join(dir, f)).toString('base64');
  return out;
}
