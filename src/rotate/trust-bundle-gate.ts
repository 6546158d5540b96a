/**
 * The gate for meshes whose istiod runs with ENABLE_CLUSTER_TRUST_BUNDLE_API=true: istiod publishes its roots in one
 * ClusterTrustBundle and writes no istio-ca-root-cert ConfigMap, so waiting for ConfigMaps would never end. This gate
 * waits for that ClusterTrustBundle to hold the phase's roots (exactly them when the old root is dropped).
 */
import { CLUSTER_TRUST_BUNDLE_ENV, ISTIOD_TRUST_BUNDLE, listTrustBundle } from '../istio/root-publication.js';
import type { Gate, GateContext } from './gates.js';

export function clusterTrustBundleGate(c: GateContext): Gate {
  const name = c.scope.trustBundle ?? ISTIOD_TRUST_BUNDLE;
  const { roots, exactRoots } = c.expect;
  return {
    name: 'cluster-trust-bundle',
    waitsFor: `ClusterTrustBundle ${name} holds ${exactRoots ? 'only ' : ''}${roots.length} root(s)`,
    async check() {
      const { bundle: b, listed } = await listTrustBundle(c.client, name);
      const waiting: string[] = [];
      if (!b) waiting.push(`no ClusterTrustBundle ${name} (istiod runs with ${CLUSTER_TRUST_BUNDLE_ENV}=true)`);
      else {
        const lacks = roots.filter((r) => !b.roots.includes(r)).length;
        if (lacks) waiting.push(`ClusterTrustBundle ${name}: lacks ${lacks} root(s)`);
        else if (exactRoots && b.roots.length !== roots.length)
          waiting.push(`ClusterTrustBundle ${name}: still trusts ${b.roots.length - roots.length} old root(s)`);
      }
      const evidence = b
        ? `ClusterTrustBundle ${name} (${b.apiVersion}) holds ${b.roots.length} root(s); ` +
          `istiod runs with ${CLUSTER_TRUST_BUNDLE_ENV}=true, so no ConfigMap is checked`
        : `no ClusterTrustBundle ${name}`;
      // Listed through the context's client (served from a watch in the executor): a change to the bundle wakes the
      // executor. Read by GET (list forbidden, or no version served): it must look again on its timer.
      return { passed: waiting.length === 0, waitingFor: waiting, evidence, reread: !listed && waiting.length > 0 };
    },
  };
}
