// Bulk population straight into the benchmark cluster's etcd (its v3 JSON gateway on loopback), for the tens of
// thousands of objects the larger mesh needs: creating them through the API server ran at 3-15 objects/s on the
// shared 2-core machine (admission, the ServiceAccount controller, kwok's status writes all compete). Objects are
// written as the API server stores them (JSON, which it reads as well as protobuf: uid, creationTimestamp, no
// resourceVersion; pods with the status kwok's pod-ready stage would give them, so kwok leaves them alone), each
// only if its key is absent. Nothing measured goes this way: the plugin, kubectl and the API floor read everything
// through the API server, whose watch cache picks the objects up from etcd.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pool } from './api.mjs';

const b64 = (s) => Buffer.from(s).toString('base64');

/** The etcd client URL of a test-cluster instance (state dir), loopback only. */
export function etcdUrl(stateDir) {
  const port = /ETCD_PORT=(\d+)/.exec(readFileSync(join(stateDir, 'ports'), 'utf8'))?.[1];
  if (!port) throw new Error(`no ETCD_PORT in ${stateDir}/ports`);
  return `http://127.0.0.1:${port}`;
}

function post(url, path, body) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const r = request(
      new URL(path, url),
      { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`etcd ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
          else resolve(JSON.parse(text));
        });
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
}

/** The registry key the API server (--etcd-prefix /registry) keeps an object under. */
export function registryKey(obj) {
  const plural = { Namespace: 'namespaces', ConfigMap: 'configmaps', Pod: 'pods' }[obj.kind];
  if (!plural) throw new Error(`etcd-load: ${obj.kind} not supported`);
  return obj.metadata.namespace
    ? `/registry/${plural}/${obj.metadata.namespace}/${obj.metadata.name}`
    : `/registry/${plural}/${obj.metadata.name}`;
}

/**
 * A FieldsV1 tree of the fields an object sets, as server-side field tracking records it (`f:name`, list items of
 * containers and the like by `k:{"name":…}`): so that objects written here carry managedFields of the size the API
 * server gives every object it stores, and lists of them are as large as lists of created objects.
 */
function fieldsOf(v) {
  if (Array.isArray(v)) {
    const out = {};
    for (const item of v)
      if (item && typeof item === 'object' && typeof item.name === 'string')
        out[`k:${JSON.stringify({ name: item.name })}`] = { '.': {}, ...fieldsOf(item) };
    return out;
  }
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[`f:${k}`] = x && typeof x === 'object' ? fieldsOf(x) : {};
    return out;
  }
  return {};
}

function managedFields(o, ts) {
  const { name: _n, namespace: _ns, uid: _u, creationTimestamp: _c, ...meta } = o.metadata;
  const spec = { metadata: meta, ...(o.spec ? { spec: o.spec } : {}), ...(o.data ? { data: o.data } : {}) };
  const entries = [
    {
      manager: 'istio-ca-bench',
      operation: 'Update',
      apiVersion: 'v1',
      time: ts,
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsOf(spec),
    },
  ];
  if (o.kind === 'Pod' && o.status)
    entries.push({
      manager: 'kwok',
      operation: 'Update',
      apiVersion: 'v1',
      time: ts,
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsOf({ status: o.status }),
      subresource: 'status',
    });
  return entries;
}

/** What the API server would have stored: uid, creationTimestamp, managedFields, pods' and namespaces' status. */
export function asStored(obj, now = new Date()) {
  const ts = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const o = structuredClone(obj);
  o.metadata.uid = randomUUID();
  o.metadata.creationTimestamp = ts;
  if (o.kind === 'Namespace') {
    o.metadata.labels = { ...o.metadata.labels, 'kubernetes.io/metadata.name': o.metadata.name };
    o.spec = { finalizers: ['kubernetes'] };
    o.status = { phase: 'Active' };
  }
  if (o.kind === 'Pod') {
    const cond = (type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: ts });
    const running = (c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: true,
      restartCount: 0,
      started: true,
      state: { running: { startedAt: ts } },
    });
    o.spec.restartPolicy ??= 'Always';
    o.spec.dnsPolicy ??= 'ClusterFirst';
    o.spec.schedulerName ??= 'default-scheduler';
    o.spec.serviceAccountName ??= 'default';
    o.spec.enableServiceLinks ??= true;
    o.spec.preemptionPolicy ??= 'PreemptLowerPriority';
    o.spec.priority ??= 0;
    o.status = {
      phase: 'Running',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(cond),
      hostIP: '10.0.0.1',
      podIP: `10.${(Math.random() * 250) | 0}.${(Math.random() * 250) | 0}.${(Math.random() * 250) | 0}`,
      startTime: ts,
      qosClass: 'Burstable',
      initContainerStatuses: (o.spec.initContainers ?? []).map((c) => ({
        ...running(c),
        ready: true,
        started: false,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: ts, finishedAt: ts } },
      })),
      containerStatuses: o.spec.containers.map(running),
    };
  }
  o.metadata.managedFields = managedFields(o, ts);
  return o;
}

/**
 * Writes each object under its registry key unless the key exists (one etcd transaction per 100 objects, a few at
 * once). Returns { made, existed }.
 */
export async function etcdPutAll(url, objects, { batch = 100, concurrency = 4, log, label } = {}) {
  const t0 = Date.now();
  const batches = [];
  for (let i = 0; i < objects.length; i += batch) batches.push(objects.slice(i, i + batch));
  let made = 0;
  let existed = 0;
  const now = new Date();
  await pool(batches, concurrency, async (group) => {
    // Per object: put if absent (create_revision 0). A txn has one compare list, so one txn per object would be
    // 100x the requests: first read which keys exist (one range request per key in a single txn), then put the rest.
    const keys = group.map(registryKey);
    const probe = await post(url, '/v3/kv/txn', {
      success: keys.map((k) => ({ request_range: { key: b64(k) } })),
    });
    // Present: stored by the API server (protobuf), or by this loader with managedFields already; an object this
    // loader wrote before it wrote managedFields (JSON without them) is written again.
    const present = (probe.responses ?? []).map((r) => {
      const kv = r.response_range?.kvs?.[0];
      if (!kv) return false;
      const value = Buffer.from(kv.value ?? '', 'base64').toString();
      return !value.startsWith('{') || value.includes('"managedFields"');
    });
    const puts = group
      .map((o, i) =>
        present[i] ? null : { request_put: { key: b64(keys[i]), value: b64(JSON.stringify(asStored(o, now))) } },
      )
      .filter(Boolean);
    existed += group.length - puts.length;
    if (puts.length) await post(url, '/v3/kv/txn', { success: puts });
    made += puts.length;
  });
  log?.(`${label}: ${made} written to etcd, ${existed} already there (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return { made, existed };
}
