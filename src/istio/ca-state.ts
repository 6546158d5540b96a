/** Reading which CA the mesh uses: plugged cacerts, istiod's self-signed istio-ca-secret, or an external CA. */
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { Resources, type Secret, type Workload } from '../kube/resources.js';
import { ISTIO_GENERATED_KEY } from '../ca/bundle.js';
import { CACERTS, SELF_SIGNED_SECRET } from './names.js';

export type CaMode = 'plugged' | 'self-signed' | 'external' | 'none' | 'unknown';

export interface CaState {
  namespace: string;
  mode: CaMode;
  /** Why the CA is considered external (cert-manager annotations, istiod env), when it is. */
  externalReason: string | null;
  cacerts: Secret | null;
  selfSigned: Secret | null;
  /** False when the context may not read secrets: mode is then 'unknown' unless istiod says external. */
  secretsReadable: boolean;
  istiodDeployments: Workload[];
  /** ISTIO_MULTIROOT_MESH=true on every istiod; null when there is no istiod Deployment. */
  multiRoot: boolean | null;
}

/** The literal env values of an istiod Deployment's discovery container. */
export function istiodEnv(d: Workload): Map<string, string> {
  const env = new Map<string, string>();
  const c =
    d.spec?.template?.spec?.containers?.find((x) => x.name === 'discovery') ?? d.spec?.template?.spec?.containers?.[0];
  for (const e of c?.env ?? []) if (e.value !== undefined) env.set(e.name, e.value);
  return env;
}

async function readSecret(
  client: KubeClient,
  ns: string,
  name: string,
): Promise<{ secret: Secret | null; forbidden: boolean }> {
  try {
    return { secret: await client.get<Secret>(Resources.secrets, ns, name), forbidden: false };
  } catch (e) {
    if (e instanceof KubeApiError && e.forbidden) return { secret: null, forbidden: true };
    throw e;
  }
}

/** Reads cacerts, istio-ca-secret and the istiod Deployments; never fails only because secrets are forbidden. */
export async function readCaState(client: KubeClient, namespace: string): Promise<CaState> {
  const [cacerts, selfSigned, istiodDeployments] = await Promise.all([
    readSecret(client, namespace, CACERTS),
    readSecret(client, namespace, SELF_SIGNED_SECRET),
    client.list<Workload>(Resources.deployments, { namespace, labelSelector: 'app=istiod' }),
  ]);
  const envs = istiodDeployments.map(istiodEnv);
  const multiRoot = istiodDeployments.length === 0 ? null : envs.every((e) => e.get('ISTIO_MULTIROOT_MESH') === 'true');

  const externalCa = envs.map((e) => e.get('EXTERNAL_CA') ?? '').find((v) => v !== '');
  let externalReason: string | null = null;
  const certManager = Object.keys(cacerts.secret?.metadata.annotations ?? {}).find((k) =>
    k.startsWith('cert-manager.io/'),
  );
  if (certManager) externalReason = `secret ${CACERTS} is managed by cert-manager (annotation ${certManager})`;
  else if (cacerts.secret?.metadata.ownerReferences?.some((o) => o.kind === 'Certificate'))
    externalReason = `secret ${CACERTS} is owned by a cert-manager Certificate`;
  else if (envs.some((e) => e.get('ENABLE_CA_SERVER') === 'false'))
    externalReason =
      'istiod runs with ENABLE_CA_SERVER=false (an external CA such as cert-manager istio-csr signs workloads)';
  else if (externalCa !== undefined) externalReason = `istiod runs with EXTERNAL_CA=${externalCa}`;

  let mode: CaMode;
  if (externalReason) mode = 'external';
  else if (cacerts.forbidden) mode = 'unknown';
  else if (cacerts.secret && cacerts.secret.data?.[ISTIO_GENERATED_KEY] === undefined) mode = 'plugged';
  else if (selfSigned.secret || cacerts.secret) mode = 'self-signed';
  else mode = 'none';

  return {
    namespace,
    mode,
    externalReason,
    cacerts: cacerts.secret,
    selfSigned: selfSigned.secret,
    secretsReadable: !cacerts.forbidden,
    istiodDeployments,
    multiRoot,
  };
}
