/**
 * Fetch: what the planner needs to know about one cluster, read in a handful of requests: the CA in use and what
 * an earlier run recorded on it, every istiod (revisions, ISTIO_MULTIROOT_MESH, version, PILOT_CA_CERT_CONFIGMAP),
 * the mesh config (PROXY_CONFIG_XDS_AGENT, discoverySelectors), and what a restart would touch.
 */
import { detectLayout, type BundleData } from '../ca/bundle.js';
import { OperationError, RefusedError } from '../errors.js';
import { readCaState } from '../istio/ca-state.js';
import { meshConfigFacts, podXdsAgent, selects, type MeshConfigFacts } from '../istio/mesh-config.js';
import { Annotations, ROOT_CERT_CONFIGMAP } from '../istio/names.js';
import { CLUSTER_TRUST_BUNDLE_ENV, mixedPublication, rootPublication } from '../istio/root-publication.js';
import { managingController } from '../istio/ownership.js';
import { bundleFromSecret } from '../istio/secret-bundle.js';
import type { KubeClient } from '../kube/client.js';
import type { WatchClient } from '../kube/watch.js';
import { Resources, type ConfigMap, type KubeObject, type Workload } from '../kube/resources.js';
import { discover } from '../restart/discover.js';
import { specOf, unrollable } from '../restart/rollout.js';
import { isZtunnel, podHasSidecar, selectTargets } from '../restart/targets.js';
import type { ClusterInput, IstiodFacts, MeshFacts } from './facts.js';
import type { GateScope } from './gates.js';
import { cacertsView } from './layout.js';
import { versionFromImage } from './prechecks.js';
import { readIstiodVersion } from '../istio/istiod-version.js';
import { podReady } from '../verify/checks.js';
import type { Pod } from '../kube/resources.js';

export interface ReadOptions {
  istioNamespace: string;
  /** Restart workloads only in these namespaces (-n); undefined for all. */
  namespaces: string[] | undefined;
}

export interface ClusterState {
  input: ClusterInput;
  scope: GateScope;
}

function discoveryEnv(d: Workload): Map<string, string> {
  const containers = d.spec?.template?.spec?.containers ?? [];
  const c = containers.find((x) => x.name === 'discovery') ?? containers[0];
  return new Map((c?.env ?? []).flatMap((e) => (e.value !== undefined ? [[e.name, e.value] as const] : [])));
}

function istiodFacts(d: Workload): IstiodFacts {
  const containers = d.spec?.template?.spec?.containers ?? [];
  const c = (containers.find((x) => x.name === 'discovery') ?? containers[0]) as { image?: string } | undefined;
  const rev = d.metadata.labels?.['istio.io/rev'] ?? null;
  return {
    name: d.metadata.name,
    revision: rev === 'default' ? null : rev,
    multiRoot: discoveryEnv(d).get('ISTIO_MULTIROOT_MESH') === 'true',
    version: versionFromImage(c?.image),
    versionSource: versionFromImage(c?.image) ? 'image tag' : null,
    image: c?.image ?? null,
  };
}

/**
 * For each istiod whose image tag does not give its version, asks one Ready pod of its Deployment for /version on
 * the monitoring port (pods/proxy) and records where the version came from, or why it stays unknown.
 */
async function versionsFromEndpoint(client: KubeClient, ns: string, deployments: Workload[], facts: IstiodFacts[]) {
  const unknown = facts.filter((f) => f.version === null);
  if (!unknown.length) return;
  const pods = await client.list<Pod>(Resources.pods, { namespace: ns, labelSelector: 'app=istiod' });
  await Promise.all(
    unknown.map(async (f) => {
      const d = deployments.find((x) => x.metadata.name === f.name);
      const match = (d?.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector
        ?.matchLabels;
      const mine = pods.filter(
        (p) => match && Object.entries(match).every(([k, v]) => p.metadata.labels?.[k] === v) && podReady(p),
      );
      const tag = f.image ? `image ${f.image}` : 'no image';
      const pod = mine[0];
      if (!pod) {
        f.versionNote = `${tag} does not say, and no Ready pod to ask`;
        return;
      }
      const r = await readIstiodVersion(client, pod);
      if (r.ok && r.version) {
        f.version = r.version;
        f.versionSource = 'version endpoint';
        f.versionNote = `${r.via} answered "${r.answer}" (${tag} does not say)`;
      } else f.versionNote = `${tag} does not say; ${r.via}: ${r.ok ? `answered "${r.answer}"` : r.error}`;
    }),
  );
}

/** The CA in use as a bundle: cacerts, or istiod's self-signed certificate as a plug-in bundle. */
function currentBundle(cacerts: BundleData | null, selfSigned: Record<string, string> | undefined): BundleData {
  if (cacerts) return cacertsView(cacerts);
  const cert = Buffer.from(selfSigned?.['ca-cert.pem'] ?? '', 'base64');
  return {
    'ca-cert.pem': cert,
    'ca-key.pem': Buffer.from(selfSigned?.['ca-key.pem'] ?? '', 'base64'),
    'cert-chain.pem': cert,
    'root-cert.pem': cert,
  };
}

async function meshConfigs(client: KubeClient, ns: string, revisions: (string | null)[]): Promise<MeshConfigFacts[]> {
  const names = [...new Set(revisions.map((r) => (r ? `istio-${r}` : 'istio')))];
  const maps = await Promise.all(names.map((n) => client.get<ConfigMap>(Resources.configmaps, ns, n)));
  return maps.map((m) => meshConfigFacts(m?.data?.mesh));
}

/** Reads one cluster. Refuses (exit 2) when there is no CA to rotate; fails when secrets cannot be read. */
export async function readClusterState(
  client: WatchClient,
  next: BundleData,
  opts: ReadOptions,
): Promise<ClusterState> {
  const ns = opts.istioNamespace;
  const ctx = client.context;
  const state = await readCaState(client, ns);
  if (!state.secretsReadable)
    throw new OperationError(
      `forbidden: context ${ctx} may not get secrets in namespace ${ns}`,
      `rotate needs get, create and update on secrets in ${ns}`,
    );
  if (state.mode === 'none')
    throw new RefusedError(
      `context ${ctx}: no CA in ${ns} (no cacerts, no istio-ca-secret)`,
      'use kubectl istio-ca replace --from-dir DIR to plug the first CA',
    );
  const cacerts = state.cacerts ? bundleFromSecret(state.cacerts) : null;
  const a = state.cacerts?.metadata.annotations ?? {};
  const phase = a[Annotations.rotationPhase];
  const istiods = state.istiodDeployments.map(istiodFacts);
  await versionsFromEndpoint(client, ns, state.istiodDeployments, istiods);
  const envs = state.istiodDeployments.map(discoveryEnv);
  const configMap = envs.map((e) => e.get('PILOT_CA_CERT_CONFIGMAP')).find((v) => v) ?? ROOT_CERT_CONFIGMAP;
  const publication = rootPublication(envs);
  const trustBundle = publication.kind === 'ClusterTrustBundle' ? publication.name : null;

  const [configs, nsObjects, inventory] = await Promise.all([
    meshConfigs(client, ns, istiods.length ? istiods.map((i) => i.revision) : [null]),
    client.list<KubeObject>(Resources.namespaces, { metadataOnly: true }),
    discover(client, { istioNamespace: ns, namespaces: opts.namespaces, controlPlane: true, workloads: true }),
  ]);
  const selectors = configs.flatMap((c) => c.discoverySelectors);
  const selected = selectors.length
    ? nsObjects
        .filter((n) => n.metadata.name === ns || selectors.some((s) => selects(s, n.metadata.labels ?? {})))
        .map((n) => n.metadata.name)
        .sort()
    : null;
  const sel = selectTargets(inventory, {
    istioNamespace: ns,
    workloadNamespaces: opts.namespaces ?? null,
    controlPlane: true,
    workloads: true,
  });

  const attention: string[] = [];
  const ungated = new Set<string>();
  for (const p of sel.unmanagedPods)
    attention.push(`${p.namespace}/${p.name} (${p.owner}): no workload to roll; delete it after switch-signer`);
  for (const t of sel.workloads) {
    const blocked = unrollable(t.kind, t.object);
    const partition = specOf(t.object).updateStrategy?.rollingUpdate?.partition ?? 0;
    if (blocked || (t.kind === 'StatefulSet' && partition > 0)) {
      ungated.add(`${t.namespace}/${t.kind}/${t.name}`);
      const why = blocked ? blocked.message : `partition ${partition}: pods below it keep their certificates`;
      attention.push(`${t.namespace}/${t.kind}/${t.name}: ${why}`);
    }
  }
  for (const d of inventory.workloads.DaemonSet.filter(isZtunnel))
    attention.push(`${d.metadata.namespace}/DaemonSet/${d.metadata.name}: ztunnel is never restarted by rotate`);

  const meshPush = configs.length > 0 && configs.every((c) => c.xdsAgent === true);
  const sidecars = inventory.pods.filter(
    (p) => podHasSidecar(p) && !(p.metadata.namespace === ns && p.metadata.labels?.app === 'istiod'),
  );
  const pushed = sidecars.filter((p) => podXdsAgent(p.metadata.annotations) ?? meshPush).length;

  const notes: string[] = [];
  if (selected) notes.push(`discoverySelectors: gates look at the ${selected.length} namespaces istiod selects`);
  if (trustBundle)
    notes.push(
      `${CLUSTER_TRUST_BUNDLE_ENV}: istiod publishes roots in ClusterTrustBundle ${trustBundle}, not in ConfigMaps: ` +
        'gates read it',
    );
  else if (configMap !== ROOT_CERT_CONFIGMAP)
    notes.push(`PILOT_CA_CERT_CONFIGMAP: istiod publishes roots as ${configMap}`);
  if (mixedPublication(envs))
    attention.push(
      `only some istiod revisions run with ${CLUSTER_TRUST_BUNDLE_ENV}=true: the elected one decides whether ` +
        'ConfigMaps or the ClusterTrustBundle are kept current; pods mounting the other keep stale roots',
    );
  for (const i of istiods)
    if (i.versionSource === 'version endpoint')
      notes.push(`istiod ${i.name}: Istio ${i.version} from its version endpoint: ${i.versionNote}`);
    else if (i.version === null)
      notes.push(
        `istiod ${i.name}: Istio version unknown (${i.versionNote ?? 'no image'}): ` +
          "istiod's pre-1.30 byte rule for root changes is assumed",
      );
  if (istiods.length > 1) notes.push(`${istiods.length} istiod Deployments (revisions): each is restarted and gated`);

  const mesh: MeshFacts = {
    istiods,
    push: { enabled: pushed, total: sidecars.length },
    restart: {
      istiod: sel.istiod.length,
      gateways: sel.gateways.length,
      workloads: sel.workloads.length - ungated.size,
      pods: [...sel.gateways, ...sel.workloads].reduce((n, t) => n + t.pods, 0),
    },
    attention,
    cacertsOwner: state.externalReason ?? (state.cacerts ? managingController(state.cacerts) : null),
    trustBundle,
    notes,
  };
  const input: ClusterInput = {
    context: ctx,
    selfSigned: state.mode === 'self-signed' && !state.cacerts,
    current: currentBundle(cacerts, state.selfSigned?.data),
    layout: cacerts ? detectLayout(cacerts) : 'cacerts',
    recorded: phase
      ? { phase, target: a[Annotations.rotationTarget] ?? null, kind: a[Annotations.rotationKind] ?? null }
      : null,
    next,
    mesh,
  };
  const workloadNamespaces = opts.namespaces ?? null;
  return {
    input,
    scope: { istioNamespace: ns, configMap, trustBundle, namespaces: selected, workloadNamespaces, ungated },
  };
}
