/**
 * What the rotation needs from Istio's mesh config (ConfigMap `istio`, or `istio-<revision>`, key `mesh`) and from
 * a pod's `proxy.istio.io/config` annotation: whether agents get PROXY_CONFIG_XDS_AGENT=true (trust bundles pushed
 * without a new certificate), and which namespaces istiod selects with discoverySelectors (pure).
 */
import { parse } from 'yaml';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface MeshConfigFacts {
  /** defaultConfig.proxyMetadata.PROXY_CONFIG_XDS_AGENT, when set. */
  xdsAgent: boolean | null;
  discoverySelectors: LabelSelector[];
}

function parseYaml(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const v: unknown = parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function xdsAgentOf(proxyConfig: Record<string, unknown>): boolean | null {
  const md = proxyConfig.proxyMetadata as Record<string, unknown> | undefined;
  const v = md?.PROXY_CONFIG_XDS_AGENT;
  if (v === undefined || v === null) return null;
  // proxyMetadata values are strings; YAML may give a bare boolean.
  if (typeof v === 'boolean') return v;
  return typeof v === 'string' ? v.toLowerCase() === 'true' : null;
}

/** Reads the `mesh` key of the mesh config ConfigMap. */
export function meshConfigFacts(mesh: string | undefined): MeshConfigFacts {
  const m = parseYaml(mesh);
  const dc = (m.defaultConfig as Record<string, unknown> | undefined) ?? {};
  const sel = Array.isArray(m.discoverySelectors) ? (m.discoverySelectors as LabelSelector[]) : [];
  return { xdsAgent: xdsAgentOf(dc), discoverySelectors: sel };
}

/** The pod's own PROXY_CONFIG_XDS_AGENT from proxy.istio.io/config, or null when it does not set one. */
export function podXdsAgent(annotations: Record<string, string> | undefined): boolean | null {
  return xdsAgentOf(parseYaml(annotations?.['proxy.istio.io/config']));
}

/** Whether a label selector selects `labels` (matchLabels and matchExpressions In, NotIn, Exists, DoesNotExist). */
export function selects(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = labels[e.key] !== undefined;
    const inValues = has && (e.values ?? []).includes(labels[e.key] ?? '');
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}
