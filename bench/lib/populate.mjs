// Populates the benchmark's cluster once: a plugged CA (cacerts made by the plugin's generate and replace),
// istiod, N namespaces each with istio-ca-root-cert holding the bundle's root, Deployments with sidecars to
// restart, and bare sidecar pods (owned by nothing) bound straight to the kwok nodes. Everything goes through
// the API with bounded concurrency; a marker ConfigMap records the finished shape so a re-run skips the work.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pool } from './api.mjs';
import { barePod, deployment, istiod, rootConfigMap } from './mesh.mjs';
import { etcdPutAll } from './etcd-load.mjs';

const MARKER = '/api/v1/namespaces/default/configmaps/istio-ca-bench-population';
const CONCURRENCY = 24;
/** The kwok nodes bare pods are bound to (each takes 10k pods); the large mesh's cluster starts with 4. */
const nodesOf = (shape) => Array.from({ length: shape.nodes ?? 2 }, (_, i) => `kwok-node-${i}`);
const ISTIOD_REPLICAS = 2;

export const nsName = (i) => `bench-${String(i).padStart(4, '0')}`;

/** What to build. `pods` counts every sidecar pod: the Deployments' replicas plus bare pods. */
export function shapeOf({ namespaces, pods, deployNamespaces, deploymentsPerNamespace, nodes = 2 }) {
  const deployPods = deployNamespaces * deploymentsPerNamespace;
  if (deployNamespaces > namespaces || deployPods > pods) throw new Error('inconsistent shape');
  const shape = { version: 2, namespaces, pods, deployNamespaces, deploymentsPerNamespace, bare: pods - deployPods };
  // The shape the 2,000-namespace runs recorded stays as it was (its marker compares the JSON).
  return nodes === 2 ? shape : { ...shape, nodes };
}

async function createAll(api, label, objects, collectionOf, log, concurrency = CONCURRENCY) {
  let made = 0;
  let existed = 0;
  const t0 = Date.now();
  await pool(objects, concurrency, async (obj) => {
    for (let attempt = 1; ; attempt++) {
      const r = await api.req('POST', collectionOf(obj), obj);
      if (r.status === 201 || r.status === 200) return void made++;
      if (r.status === 409) return void existed++;
      // A new namespace's default ServiceAccount may not exist yet (pods), or the namespace is still settling.
      if ((r.status === 403 || r.status === 404 || r.status === 429 || r.status >= 500) && attempt < 60) {
        await new Promise((res) => setTimeout(res, 250 * Math.min(attempt, 8)));
        continue;
      }
      throw new Error(
        `creating ${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${r.status} ${r.body?.message ?? ''}`,
      );
    }
  });
  log(`${label}: ${made} created, ${existed} already there (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** Polls until check() is true, at most timeoutMs. */
async function until(what, timeoutMs, check) {
  const t0 = Date.now();
  for (;;) {
    // A read the API server answers 5xx (e.g. its watch cache still catching up after a bulk load) is tried again.
    const state = await check().catch((e) => `read failed: ${e.message.slice(0, 160)}`);
    if (state === true) return;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what} (${state})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Every Deployment in the namespaces rolled out (updated, available, no old replicas). */
export async function deploymentsSettled(api, expected) {
  const ds = (await api.list('/apis/apps/v1/deployments')).filter(
    (d) => d.metadata.namespace.startsWith('bench-') || d.metadata.name === 'istiod',
  );
  const pending = ds.filter((d) => {
    const s = d.status ?? {};
    const want = d.spec.replicas ?? 1;
    return (
      (s.observedGeneration ?? 0) < d.metadata.generation ||
      (s.updatedReplicas ?? 0) < want ||
      (s.replicas ?? 0) > (s.updatedReplicas ?? 0) ||
      (s.availableReplicas ?? 0) < want
    );
  });
  if (ds.length < expected) return `${ds.length} of ${expected} Deployments exist`;
  return pending.length === 0 ? true : `${pending.length} Deployments rolling`;
}

export async function waitSettled(api, expected, log, timeoutMs = 600_000) {
  const t0 = Date.now();
  await until('every Deployment to roll out', timeoutMs, () => deploymentsSettled(api, expected), log);
  log(`all ${expected} Deployments rolled out (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/**
 * Pods Running and Ready in bench namespaces and istio-system, against the number expected. At 25,000 pods a list of
 * whole pods is hundreds of MB: count them by metadata, and read whole only those not Running yet.
 */
async function podsReady(api, expected) {
  const META = { Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json' };
  const ours = (p) => p.metadata.namespace.startsWith('bench-') || p.metadata.namespace === 'istio-system';
  const all = (await api.list('/api/v1/pods', '', META)).filter((p) => ours(p) && !p.metadata.deletionTimestamp);
  const notRunning = (await api.list('/api/v1/pods', 'fieldSelector=status.phase%21%3DRunning')).filter(ours);
  const ready = all.length - notRunning.length;
  return ready >= expected ? true : `${ready} of ${expected} pods Running (${all.length} exist)`;
}

/**
 * Builds the mesh unless the marker says this shape is complete. Returns { rootPem, fresh }.
 * `plugin(args)` runs the plugin with the admin kubeconfig.
 */
/**
 * `bulk`: the cluster's etcd URL: namespaces, root ConfigMaps and bare pods are then written straight into etcd
 * (etcd-load.mjs) instead of created through the API; istiod, cacerts and Deployments always go through the API.
 */
export async function populate({ api, shape, stateDir, plugin, log, concurrency = CONCURRENCY, bulk = null }) {
  const caDir = join(stateDir, 'ca');
  const marker = await api.req('GET', MARKER);
  const expectedDeployments = shape.deployNamespaces * shape.deploymentsPerNamespace + 1;
  if (
    marker.status === 200 &&
    marker.body.data?.shape === JSON.stringify(shape) &&
    existsSync(join(caDir, 'root-cert.pem'))
  ) {
    log(
      'the cluster already holds this mesh (marker ConfigMap default/istio-ca-bench-population): not populating again',
    );
    await waitSettled(api, expectedDeployments, log);
    await until('pods to be Ready', 300_000, () => podsReady(api, shape.pods + ISTIOD_REPLICAS), log);
    return { rootPem: readFileSync(join(caDir, 'root-cert.pem'), 'utf8'), fresh: false };
  }
  const t0 = Date.now();
  log(
    `populating: ${shape.namespaces} namespaces, ${shape.deployNamespaces * shape.deploymentsPerNamespace} Deployments in ${shape.deployNamespaces} of them, ${shape.bare} bare sidecar pods`,
  );

  // 1. The CA: a bundle from the plugin, plugged in with the plugin (before istiod and every pod starts).
  await createAll(
    api,
    'namespace istio-system',
    [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }],
    () => '/api/v1/namespaces',
    log,
  );
  if (!existsSync(join(caDir, 'root-cert.pem'))) await plugin(['generate', '--out-dir', caDir, '--force']);
  const rootPem = readFileSync(join(caDir, 'root-cert.pem'), 'utf8');
  const cacerts = await api.req('GET', '/api/v1/namespaces/istio-system/secrets/cacerts');
  if (
    cacerts.status !== 200 ||
    Buffer.from(cacerts.body.data?.['root-cert.pem'] ?? '', 'base64').toString() !== rootPem
  ) {
    await plugin([
      'replace',
      '--from-dir',
      caDir,
      '--yes',
      '--allow-root-change',
      '-i',
      'istio-system',
      '--backup-dir',
      join(stateDir, 'backups'),
    ]);
  }
  await createAll(
    api,
    'istiod',
    [istiod('istio-system', ISTIOD_REPLICAS)],
    () => '/apis/apps/v1/namespaces/istio-system/deployments',
    log,
  );

  // 2. Namespaces, and istio-ca-root-cert where istiod's namespace controller would write it.
  const names = Array.from({ length: shape.namespaces }, (_, i) => nsName(i));
  const apiMany = (label, objects, collectionOf) => createAll(api, label, objects, collectionOf, log, concurrency);
  const many = bulk ? (label, objects) => etcdPutAll(bulk, objects, { log, label }) : apiMany;
  await many(
    'namespaces',
    names.map((name) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'istio-injection': 'enabled' } },
    })),
    () => '/api/v1/namespaces',
    log,
  );
  // Each namespace's default ServiceAccount, which pods need before they are admitted: created here rather than
  // waited for, as the controller-manager's serviceaccount controller makes them one by one (735 of 2,000 after 8
  // minutes on the shared machine at load 20). 409 where the controller was first.
  await apiMany(
    'default ServiceAccounts',
    (bulk ? names.slice(0, shape.deployNamespaces) : names).map((ns) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: ns },
    })),
    (o) => `/api/v1/namespaces/${o.metadata.namespace}/serviceaccounts`,
  );
  const cmNamespaces = ['istio-system', 'default', 'kube-system', ...names];
  // 3. Deployments (one replica each) in the first namespaces, and bare pods spread over all of them; the
  // ConfigMaps, Deployments and pods are created at the same time (each kind at `concurrency`).
  const deps = [];
  for (let i = 0; i < shape.deployNamespaces; i++)
    for (let j = 0; j < shape.deploymentsPerNamespace; j++) deps.push(deployment(nsName(i), `app-${j}`, 1));
  const NODES = nodesOf(shape);
  const bare = Array.from({ length: shape.bare }, (_, k) =>
    barePod(nsName(k % shape.namespaces), `solo-${Math.floor(k / shape.namespaces)}`, NODES[k % NODES.length]),
  );
  await Promise.all([
    many(
      'istio-ca-root-cert ConfigMaps',
      cmNamespaces.map((ns) => rootConfigMap(ns, rootPem)),
      (o) => `/api/v1/namespaces/${o.metadata.namespace}/configmaps`,
    ),
    apiMany('Deployments', deps, (o) => `/apis/apps/v1/namespaces/${o.metadata.namespace}/deployments`),
    many('bare sidecar pods', bare, (o) => `/api/v1/namespaces/${o.metadata.namespace}/pods`),
  ]);

  await waitSettled(api, expectedDeployments, log);
  await until('pods to be Ready', 600_000, () => podsReady(api, shape.pods + ISTIOD_REPLICAS), log);
  await api
    .ok('PUT', MARKER, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio-ca-bench-population', namespace: 'default' },
      data: { shape: JSON.stringify(shape), at: new Date().toISOString() },
    })
    .catch(async () =>
      api.ok('POST', '/api/v1/namespaces/default/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'istio-ca-bench-population', namespace: 'default' },
        data: { shape: JSON.stringify(shape), at: new Date().toISOString() },
      }),
    );
  log(`populated in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { rootPem, fresh: true };
}
