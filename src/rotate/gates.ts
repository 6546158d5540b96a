/** Gates between rotation phases: conditions on the live cluster, polled until they hold or time runs out. */
import type { KubeClient } from '../kube/client.js';
import { Resources, type ConfigMap, type KubeObject, type Pod } from '../kube/resources.js';
import { EXCLUDED_NAMESPACES, ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY } from '../istio/names.js';
import { pemFingerprints } from '../istio/secret-bundle.js';
import { podReady } from '../verify/checks.js';

export interface GateResult {
  passed: boolean;
  /** What is still missing, for progress lines and the timeout message. */
  waitingFor: string[];
}

/** Every istiod pod in `namespace` is Ready. */
export async function istiodReady(client: KubeClient, namespace: string): Promise<GateResult> {
  const pods = await client.list<Pod>(Resources.pods, { namespace, labelSelector: 'app=istiod' });
  const notReady = pods.filter((p) => !podReady(p)).map((p) => `istiod pod ${p.metadata.name} not Ready`);
  if (pods.length === 0) notReady.push(`no istiod pods in ${namespace}`);
  return { passed: notReady.length === 0, waitingFor: notReady };
}

/** Every namespace's istio-ca-root-cert holds `roots` (exactly them when `exact`). */
export async function namespacesTrust(client: KubeClient, roots: string[], exact: boolean): Promise<GateResult> {
  const [namespaces, configMaps] = await Promise.all([
    client.list<KubeObject>(Resources.namespaces, { metadataOnly: true }),
    client.list<ConfigMap>(Resources.configmaps, { fieldSelector: `metadata.name=${ROOT_CERT_CONFIGMAP}` }),
  ]);
  const byNs = new Map(
    configMaps.map((c) => [c.metadata.namespace!, [...new Set(pemFingerprints(c.data?.[ROOT_CERT_KEY]))]]),
  );
  const waiting: string[] = [];
  for (const ns of namespaces
    .map((n) => n.metadata.name)
    .filter((n) => !EXCLUDED_NAMESPACES.has(n) && (n as string) !== '')) {
    if ((namespaces.find((x) => x.metadata.name === ns)?.metadata as { deletionTimestamp?: string }).deletionTimestamp)
      continue;
    const have = byNs.get(ns);
    if (!have) waiting.push(`${ns}: no istio-ca-root-cert`);
    else if (!roots.every((r) => have.includes(r)))
      waiting.push(`${ns}: lacks ${roots.filter((r) => !have.includes(r)).length} root(s)`);
    else if (exact && have.length !== roots.length)
      waiting.push(`${ns}: still trusts ${have.length - roots.length} old root(s)`);
  }
  return { passed: waiting.length === 0, waitingFor: waiting };
}
