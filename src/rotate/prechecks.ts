/**
 * Prechecks a rotation must pass before anything is written (pure). Each refusal says what to change; the planner
 * refuses them all at once (exit 2, nothing changed).
 */
import type { ClusterInput, IstiodFacts, RotationKind } from './facts.js';

export interface Refusal {
  context: string;
  message: string;
  hint: string;
}

/** Istio releases whose multi-root trust handling is broken (istio/istio#55793). */
export const MULTI_ROOT_BUGGY_VERSIONS = ['1.24.4', '1.25.1'];

/** [major, minor, patch] of a version like 1.28.0, or null. */
export function parseVersion(v: string | null): [number, number, number] | null {
  const m = v?.match(/^(\d+)\.(\d+)\.(\d+)/);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** The Istio version in an image reference's tag (docker.io/istio/pilot:1.28.0-distroless -> 1.28.0), or null. */
export function versionFromImage(image: string | undefined): string | null {
  const tag = image?.split('@')[0]?.split('/').pop()?.split(':')[1];
  const m = tag?.match(/^v?(\d+\.\d+\.\d+)/);
  return m?.[1] ?? null;
}

const below = (v: [number, number, number], major: number, minor: number) =>
  v[0] < major || (v[0] === major && v[1] < minor);

/**
 * Whether istiod's hot reload needs the old root file's bytes inside the new one (Istio before 1.30). An unknown
 * version is treated as old: the byte rule is the stricter of the two.
 */
export function needsByteRule(istiods: IstiodFacts[]): boolean {
  return istiods.some((i) => {
    const v = parseVersion(i.version);
    return v === null || below(v, 1, 30);
  });
}

const changesRoots = (kind: RotationKind) => kind === 'root-rotation' || kind === 'self-signed-to-plugged';

/** Refusals for one cluster and the rotation kind it needs. `allowDowntime` lifts the multi-root requirement. */
export function precheck(input: ClusterInput, kind: RotationKind, allowDowntime: boolean): Refusal[] {
  const out: Refusal[] = [];
  const refuse = (message: string, hint: string) => out.push({ context: input.context, message, hint });
  const { mesh } = input;
  if (mesh.cacertsOwner)
    refuse(
      `secret cacerts is managed by ${mesh.cacertsOwner}, which would revert or fight the rotation's writes`,
      'rotate the CA through that tool, or remove its ownership of cacerts first',
    );
  if (!changesRoots(kind)) return out;
  if (mesh.istiods.length === 0) {
    refuse(
      'no istiod Deployment (label app=istiod) in the Istio namespace: nothing would reload the phases',
      'name the control plane namespace with -i/--istio-namespace',
    );
    return out;
  }
  const single = mesh.istiods.filter((i) => !i.multiRoot).map((i) => i.name);
  if (single.length && !allowDowntime)
    refuse(
      `istiod does not run with ISTIO_MULTIROOT_MESH=true (${single.join(', ')}): it would reject the combined ` +
        'root bundle ("Multi root is disabled, updating new ROOT-CA not supported")',
      'enable it (istioctl install --set values.pilot.env.ISTIO_MULTIROOT_MESH=true, and ' +
        'meshConfig.defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT="true"), restart the mesh once, then rotate; ' +
        'or accept an outage with --allow-downtime',
    );
  for (const i of mesh.istiods) {
    const v = parseVersion(i.version);
    if (i.version && MULTI_ROOT_BUGGY_VERSIONS.includes(i.version))
      refuse(
        `istiod ${i.name} runs Istio ${i.version}` +
          `${i.versionSource === 'version endpoint' ? ' (its version endpoint says)' : ''}, ` +
          'whose multi-root trust handling is broken (istio/istio#55793)',
        'upgrade istiod to a later patch release first',
      );
    else if (v && below(v, 1, 20))
      refuse(
        `istiod ${i.name} runs Istio ${i.version}: zero-downtime root rotation needs Istio 1.20 or later`,
        'upgrade Istio first',
      );
  }
  return out;
}
