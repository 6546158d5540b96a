// The benchmark's own test-cluster instance (.bench-cluster/, apart from the e2e tests' one), the identity every
// measured client uses, and the API-request counters read from the API server's /metrics.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Api, credentials, sumMetric } from './api.mjs';

/** Name of the ServiceAccount, ClusterRoleBinding and FlowSchema of the measured clients. */
export const BENCH_IDENTITY = 'istio-ca-bench';

/** Starts (or finds running) the instance in stateDir; returns its admin kubeconfig and the matching kubectl. */
export function clusterUp(root, stateDir, log, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv, ISTIO_CA_TEST_CLUSTER_DIR: stateDir };
  const script = join(root, 'scripts', 'test-cluster');
  const pidFile = join(stateDir, 'pids', 'kube-apiserver.pid');
  let kubeconfig;
  // Already running (every component): no `up`, which would wait for the instance lock.
  if (spawnSync(script, ['status'], { env, stdio: 'ignore', timeout: 60_000 }).status === 0) {
    kubeconfig = spawnSync(script, ['kubeconfig'], { env, encoding: 'utf8' }).stdout.trim();
    log(`the benchmark's cluster is running (${stateDir})`);
  } else {
    log(`starting the benchmark's cluster (ISTIO_CA_TEST_CLUSTER_DIR=${stateDir}; a first run may build it)`);
    const up = spawnSync(script, ['up'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 45 * 60_000,
    });
    if (up.status !== 0)
      throw new Error(`scripts/test-cluster up failed (exit ${up.status ?? up.signal}); see its output above`);
    kubeconfig = up.stdout.trim().split('\n').pop();
  }
  return { kubeconfig, kubectl: kubectlPath(root, env), env, pidFile };
}

/** The kubectl built with the cluster (test/cluster/bin/kubectl); built by the script only when missing. */
export function kubectlPath(root, env = process.env) {
  const built = join(root, 'test', 'cluster', 'bin', 'kubectl');
  if (existsSync(built)) return built;
  const kp = spawnSync(join(root, 'scripts', 'test-cluster'), ['kubectl-path'], {
    env,
    encoding: 'utf8',
    timeout: 45 * 60_000,
  });
  if (kp.status !== 0) throw new Error(`scripts/test-cluster kubectl-path failed: ${kp.stderr}`);
  return kp.stdout.trim().split('\n').pop();
}

/**
 * A ServiceAccount bound to cluster-admin, and a FlowSchema that routes its requests (and only its requests) to
 * the exempt priority level, as the admin user's are: the API server then counts exactly this client's requests
 * in apiserver_flowcontrol_dispatched_requests_total{flow_schema="istio-ca-bench"}, apart from the controllers'
 * and kwok's. Returns the path of a kubeconfig with a fresh 2-hour token for it.
 */
export async function benchIdentity(admin, stateDir, adminCreds, caFile) {
  const ns = 'default';
  const put = async (path, collection, obj) => {
    const r = await admin.req('POST', collection, obj);
    if (r.status === 409)
      await admin.ok('PUT', path, {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: (await admin.ok('GET', path)).metadata.resourceVersion },
      });
    else if (r.status >= 300) throw new Error(`POST ${collection}: ${r.status} ${r.body?.message}`);
  };
  await put(`/api/v1/namespaces/${ns}/serviceaccounts/${BENCH_IDENTITY}`, `/api/v1/namespaces/${ns}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: BENCH_IDENTITY, namespace: ns },
  });
  await put(
    `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${BENCH_IDENTITY}`,
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: BENCH_IDENTITY },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: BENCH_IDENTITY, namespace: ns }],
    },
  );
  await put(
    `/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/${BENCH_IDENTITY}`,
    '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas',
    {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name: BENCH_IDENTITY },
      spec: {
        matchingPrecedence: 10,
        priorityLevelConfiguration: { name: 'exempt' },
        rules: [
          {
            subjects: [{ kind: 'ServiceAccount', serviceAccount: { name: BENCH_IDENTITY, namespace: ns } }],
            resourceRules: [
              { verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true },
            ],
            nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
          },
        ],
      },
    },
  );
  const tr = await admin.ok('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${BENCH_IDENTITY}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 7200 },
  });
  const path = join(stateDir, 'bench.kubeconfig');
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'bench', cluster: { server: adminCreds.server, 'certificate-authority': caFile } }],
    users: [{ name: BENCH_IDENTITY, user: { token: tr.status.token } }],
    contexts: [{ name: 'bench', context: { cluster: 'bench', user: BENCH_IDENTITY, namespace: 'default' } }],
    'current-context': 'bench',
  };
  writeFileSync(path, stringify(kc), { mode: 0o600 });
  chmodSync(path, 0o600);
  // The FlowSchema must be in force before anything is measured: wait until a request of the identity is counted.
  const bench = new Api(credentials(path));
  const before = (await counters(admin)).client;
  for (let i = 0; i < 100; i++) {
    await bench.ok('GET', '/api/v1/namespaces/default');
    if ((await counters(admin)).client > before) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  bench.close();
  return path;
}

/**
 * API requests counted by the API server so far: `client`, those of the benchmark identity (APF dispatch count of
 * its FlowSchema); `all`, apiserver_request_total summed over every label (controllers, scheduler, kwok included).
 */
export async function counters(admin) {
  const text = await admin.ok('GET', '/metrics', undefined, { Accept: 'text/plain' });
  return {
    client: sumMetric(text, 'apiserver_flowcontrol_dispatched_requests_total', { flow_schema: BENCH_IDENTITY }),
    all: sumMetric(text, 'apiserver_request_total'),
    apiserverCpuMs: apiserverCpuMs(admin.apiserverPidFile),
  };
}

/** CPU time (user + system) the instance's kube-apiserver process has used, in ms; NaN when unknown. */
function apiserverCpuMs(apiserverPidFile) {
  try {
    const pid = readFileSync(apiserverPidFile, 'utf8').trim();
    // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks of 1/100 s, after the ")" of the comm field.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
