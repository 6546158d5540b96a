/**
 * Helpers for end-to-end tests on the real test cluster that scripts/test-cluster starts (see test/cluster/README.md).
 *
 * The e2e runner (scripts/run-tests.mjs) starts the cluster once per run and passes
 *   ISTIO_CA_E2E_KUBECONFIG  kubeconfig with contexts `admin` (current, cluster-admin) and `readonly`
 *   ISTIO_CA_E2E_KUBECTL     the kubectl built from the same Kubernetes modules as the cluster
 * Tests share one cluster: each creates its own namespaces with createNamespace().
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface E2EEnv {
  /** Absolute path of the kubeconfig (contexts admin and readonly). */
  kubeconfig: string;
  /** Absolute path of the built kubectl. */
  kubectl: string;
}

/** Reads ISTIO_CA_E2E_KUBECONFIG and ISTIO_CA_E2E_KUBECTL; throws a clear error if either is missing. */
export function e2eEnv(): E2EEnv {
  const kubeconfig = process.env.ISTIO_CA_E2E_KUBECONFIG;
  const kubectlPath = process.env.ISTIO_CA_E2E_KUBECTL;
  const missing = [
    ...(kubeconfig ? [] : ['ISTIO_CA_E2E_KUBECONFIG']),
    ...(kubectlPath ? [] : ['ISTIO_CA_E2E_KUBECTL']),
  ];
  if (missing.length > 0) {
    throw new Error(
      `end-to-end tests need ${missing.join(' and ')}: run them with \`npm run test:e2e\`, or start the cluster with ` +
        '`scripts/test-cluster up` and set ISTIO_CA_E2E_KUBECONFIG to the path it prints and ISTIO_CA_E2E_KUBECTL to ' +
        '`scripts/test-cluster kubectl-path`',
    );
  }
  for (const [name, path] of [
    ['ISTIO_CA_E2E_KUBECONFIG', kubeconfig!],
    ['ISTIO_CA_E2E_KUBECTL', kubectlPath!],
  ] as const) {
    if (!existsSync(path)) throw new Error(`${name}=${path}: no such file (is the test cluster up?)`);
  }
  return { kubeconfig: resolve(kubeconfig!), kubectl: resolve(kubectlPath!) };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** kubeconfig context: 'admin' (the default context) or 'readonly'. */
  context?: string;
  /** Written to kubectl's standard input (for `apply -f -`). */
  input?: string;
  /** Kill kubectl after this long (default 120 s). */
  timeoutMs?: number;
  /** Another kubeconfig than e2eEnv().kubeconfig (e.g. a second cluster). */
  kubeconfig?: string;
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
}

/** Runs the built kubectl with --kubeconfig (and --context if given). Never throws on a non-zero exit. */
export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const env = e2eEnv();
  const argv = [
    '--kubeconfig',
    opts.kubeconfig ?? env.kubeconfig,
    ...(opts.context ? ['--context', opts.context] : []),
    ...args,
  ];
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      env.kubectl,
      argv,
      {
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 256 * 1024 * 1024,
        env: { ...process.env, KUBECONFIG: '', ...opts.env },
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(new Error(`cannot run ${env.kubectl}: ${err.message}`));
          return;
        }
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        const killed = err && (err as { killed?: boolean }).killed;
        resolvePromise({ code, stdout, stderr: killed ? `${stderr}\n(kubectl killed after timeout)` : stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** kubectl that must succeed: returns stdout, throws with the command and its stderr otherwise. */
export async function kubectlOk(args: string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** kubectl ... -o json, parsed. */
export async function kubectlJson<T = unknown>(args: string[], opts: KubectlOptions = {}): Promise<T> {
  return JSON.parse(await kubectlOk([...args, '-o', 'json'], opts)) as T;
}

export interface WaitOptions {
  /** Poll interval, default 250 ms. */
  intervalMs?: number;
  /** Says what was awaited, for the timeout error. */
  message?: string;
}

/**
 * Polls fn until it returns a truthy value (returned) or the time runs out (throws, with the last error fn threw
 * or the last value it returned). fn may throw while the condition is not yet met.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  opts: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.message ?? 'condition'}; last: ${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/** A DNS-1123 label `<prefix>-<random>`, unique per call. */
export function uniqueName(prefix: string): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50) || 'test';
  return `${clean}-${randomBytes(4).toString('hex')}`;
}

export interface NamespaceOptions {
  labels?: Record<string, string>;
  kubeconfig?: string;
}

/**
 * Creates a namespace with a unique name from prefix and waits for its default ServiceAccount (pods are refused
 * until the controller-manager has created it). Returns the name.
 */
export async function createNamespace(prefix: string, opts: NamespaceOptions = {}): Promise<string> {
  const name = uniqueName(prefix);
  const labels = { 'istio-ca.test/e2e': 'true', ...opts.labels };
  const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  const k = opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {};
  await kubectlOk(['create', '-f', '-'], { ...k, input: manifest });
  await waitFor(async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', name], k)).code === 0, 60_000, {
    message: `ServiceAccount default in namespace ${name}`,
  });
  return name;
}

/** Deletes a namespace; by default does not wait for its contents to go. */
export async function deleteNamespace(name: string, opts: { wait?: boolean; kubeconfig?: string } = {}): Promise<void> {
  await kubectlOk(
    ['delete', 'namespace', name, '--ignore-not-found', `--wait=${opts.wait ?? false}`],
    opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {},
  );
}

/** The repository root (the directory holding test/fixtures/mesh.yaml), from src or from build/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'test', 'fixtures', 'mesh.yaml')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(
        'cannot find the repository root (test/fixtures/mesh.yaml) above ' + fileURLToPath(import.meta.url),
      );
    dir = up;
  }
}

export function fixtureMeshPath(): string {
  return join(repoRoot(), 'test', 'fixtures', 'mesh.yaml');
}

/** Namespaces of the fixture mesh, as in test/fixtures/mesh.yaml. */
export const FIXTURE_NAMESPACES = {
  istio: 'istio-system',
  inject: 'mesh-inject',
  rev: 'mesh-rev',
  plain: 'mesh-plain',
} as const;

export interface FixtureWorkload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  namespace: string;
  name: string;
  /** Whether its pod template carries the istio-proxy sidecar. */
  sidecar: boolean;
}

export interface FixtureMesh {
  /** istio-system (or its rename). */
  istioNamespace: string;
  /** Namespace labelled istio-injection=enabled. */
  injectNamespace: string;
  /** Namespace labelled istio.io/rev=default. */
  revNamespace: string;
  /** Namespace without injection. */
  plainNamespace: string;
  workloads: FixtureWorkload[];
}

export interface FixtureOptions {
  /**
   * Rename namespaces of the fixture, e.g. { 'mesh-inject': uniqueName('inject') }. Every whole-word occurrence
   * is replaced, so renaming istio-system also fixes service addresses such as istiod.istio-system.svc.
   */
  rename?: Partial<Record<string, string>>;
  /** Wait until every Deployment, StatefulSet and DaemonSet has rolled out (default true). */
  wait?: boolean;
  timeoutMs?: number;
  kubeconfig?: string;
}

const FIXTURE_WORKLOADS: FixtureWorkload[] = [
  { kind: 'Deployment', namespace: 'istio-system', name: 'istiod', sidecar: false },
  { kind: 'Deployment', namespace: 'istio-system', name: 'istio-ingressgateway', sidecar: true },
  { kind: 'Deployment', namespace: 'mesh-inject', name: 'productpage', sidecar: true },
  { kind: 'Deployment', namespace: 'mesh-inject', name: 'reviews', sidecar: true },
  { kind: 'StatefulSet', namespace: 'mesh-inject', name: 'ratings-db', sidecar: true },
  { kind: 'DaemonSet', namespace: 'mesh-inject', name: 'log-agent', sidecar: true },
  { kind: 'Deployment', namespace: 'mesh-rev', name: 'frontend', sidecar: true },
  { kind: 'StatefulSet', namespace: 'mesh-rev', name: 'cache', sidecar: true },
  { kind: 'Deployment', namespace: 'mesh-plain', name: 'legacy', sidecar: false },
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Applies test/fixtures/mesh.yaml (istio-system with istiod x2 and the ingress gateway, injected application
 * namespaces, one plain namespace) with the built kubectl and, by default, waits for every workload to roll out.
 * The fixture has no cacerts Secret: tests create it.
 */
export async function applyFixtureMesh(opts: FixtureOptions = {}): Promise<FixtureMesh> {
  const rename = (ns: string): string => opts.rename?.[ns] ?? ns;
  let text = readFileSync(fixtureMeshPath(), 'utf8');
  for (const [from, to] of Object.entries(opts.rename ?? {})) {
    if (!to || to === from) continue;
    text = text.replace(new RegExp(`(?<![A-Za-z0-9-])${escapeRegExp(from)}(?![A-Za-z0-9-])`, 'g'), to);
  }
  const k = opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {};
  await kubectlOk(['apply', '-f', '-'], { ...k, input: text });
  const workloads = FIXTURE_WORKLOADS.map((w) => ({ ...w, namespace: rename(w.namespace) }));
  const mesh: FixtureMesh = {
    istioNamespace: rename(FIXTURE_NAMESPACES.istio),
    injectNamespace: rename(FIXTURE_NAMESPACES.inject),
    revNamespace: rename(FIXTURE_NAMESPACES.rev),
    plainNamespace: rename(FIXTURE_NAMESPACES.plain),
    workloads,
  };
  if (opts.wait ?? true) {
    const timeout = Math.round((opts.timeoutMs ?? 120_000) / 1000);
    await Promise.all(
      workloads.map((w) =>
        kubectlOk(
          ['rollout', 'status', `${w.kind.toLowerCase()}/${w.name}`, '-n', w.namespace, `--timeout=${timeout}s`],
          {
            ...k,
            timeoutMs: (timeout + 10) * 1000,
          },
        ),
      ),
    );
  }
  return mesh;
}

/** Deletes the fixture mesh's namespaces (not waiting). */
export async function deleteFixtureMesh(mesh: FixtureMesh, opts: { kubeconfig?: string } = {}): Promise<void> {
  for (const ns of [mesh.injectNamespace, mesh.revNamespace, mesh.plainNamespace, mesh.istioNamespace]) {
    await deleteNamespace(ns, opts);
  }
}

/** The testcluster tool next to the built kubectl (bin/kubectl is a symlink to it). */
export function testclusterTool(): string {
  return join(dirname(e2eEnv().kubectl), 'testcluster');
}

/**
 * Re-creates the `readonly` ClusterRole from API discovery. RBAC has no deny, so the role enumerates resources:
 * call this after installing CRDs for the readonly user to see them.
 */
export async function refreshReadonlyRbac(kubeconfig?: string): Promise<void> {
  const tool = testclusterTool();
  await new Promise<void>((res, rej) => {
    execFile(
      tool,
      ['readonly-rbac', '--kubeconfig', kubeconfig ?? e2eEnv().kubeconfig, '--context', 'admin'],
      (err, _o, stderr) => {
        if (err) rej(new Error(`${tool} readonly-rbac failed: ${stderr}`));
        else res();
      },
    );
  });
}

export interface ApiResponse {
  status: number;
  body: string;
}

/**
 * A raw HTTPS GET to the API server with the credentials of a kubeconfig context, for assertions on HTTP status
 * codes (kubectl only shows them in its messages).
 */
export async function apiGet(path: string, opts: { context?: string; kubeconfig?: string } = {}): Promise<ApiResponse> {
  const args = [
    'config',
    'view',
    '--raw',
    '--minify',
    '--flatten',
    '-o',
    'json',
    ...(opts.context ? ['--context', opts.context] : []),
  ];
  const cfg = JSON.parse(await kubectlOk(args, opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}));
  const cluster = cfg.clusters[0].cluster;
  const user = cfg.users[0].user;
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);
  const url = new URL(path, cluster.server);
  return new Promise((res, rej) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: b64(cluster['certificate-authority-data']),
        cert: b64(user['client-certificate-data']),
        key: b64(user['client-key-data']),
        headers: user.token ? { Authorization: `Bearer ${user.token}` } : {},
        timeout: 30_000,
      },
      (resp) => {
        let body = '';
        resp.setEncoding('utf8');
        resp.on('data', (c: string) => (body += c));
        resp.on('end', () => {
          res({ status: resp.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', rej);
    req.end();
  });
}
