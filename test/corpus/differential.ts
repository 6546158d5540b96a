/**
 * The differential comparison: the plugin's verdict on a bundle against istiod's own (test/istiod/cmd/bundle-oracle).
 * Pure: verdicts in, disagreements and a printable table out.
 */
import { POLICY_FINDINGS, type Finding } from '../../src/ca/findings.js';

/** One line of the oracle's output (see test/istiod/cmd/bundle-oracle/main.go). */
export interface OracleVerdict {
  bundle: string;
  layout: string;
  loads: boolean;
  error?: string;
  workloadOk: boolean;
  workloadError?: string;
  istiodOk: boolean;
  istiodError?: string;
}

export interface PluginVerdict {
  bundle: string;
  valid: boolean;
  findings: Finding[];
}

export type Disagreement =
  /** The plugin passes a bundle istiod refuses, or whose workload or istiod certificates peers reject. */
  | { kind: 'dangerous'; bundle: string; why: string }
  /** The plugin refuses a bundle istiod and its peers accept, with a finding that is not a stated policy. */
  | { kind: 'unexplained-refusal'; bundle: string; why: string };

/** Whether istiod loads the bundle and peers verify both certificates it then issues. */
export function oracleAccepts(o: OracleVerdict): boolean {
  return o.loads && o.workloadOk && o.istiodOk;
}

function oracleWhy(o: OracleVerdict): string {
  if (!o.loads) return `istiod refuses: ${o.error}`;
  const parts: string[] = [];
  if (!o.workloadOk) parts.push(`workload certificate fails: ${o.workloadError}`);
  if (!o.istiodOk) parts.push(`istiod certificate fails: ${o.istiodError}`);
  return parts.join('; ');
}

/** Compares every bundle's two verdicts; a bundle missing from either side is a disagreement too. */
export function compareVerdicts(plugin: PluginVerdict[], oracle: OracleVerdict[]): Disagreement[] {
  const byName = new Map(oracle.map((o) => [o.bundle, o]));
  const out: Disagreement[] = [];
  for (const p of plugin) {
    const o = byName.get(p.bundle);
    if (!o) {
      out.push({ kind: 'dangerous', bundle: p.bundle, why: 'the oracle gave no verdict' });
      continue;
    }
    const errors = p.findings.filter((f) => f.severity === 'error');
    if (p.valid && !oracleAccepts(o)) {
      out.push({ kind: 'dangerous', bundle: p.bundle, why: `plugin passes it; ${oracleWhy(o)}` });
    } else if (!p.valid && oracleAccepts(o)) {
      const unexplained = errors.filter((f) => !(f.code in POLICY_FINDINGS) || !/\bpolicy\b/.test(f.message));
      if (unexplained.length > 0) {
        out.push({
          kind: 'unexplained-refusal',
          bundle: p.bundle,
          why: `istiod and peers accept it, but the plugin refuses with ${unexplained.map((f) => f.code).join(', ')}, not stated as policy`,
        });
      }
    }
  }
  return out;
}

/** The table printed on failure: bundle, plugin codes, istiod's verdict, the two issued certificates. */
export function verdictTable(plugin: PluginVerdict[], oracle: OracleVerdict[]): string {
  const byName = new Map(oracle.map((o) => [o.bundle, o]));
  const rows = plugin.map((p) => {
    const o = byName.get(p.bundle);
    const codes = p.findings.filter((f) => f.severity === 'error').map((f) => f.code);
    return [
      p.bundle,
      p.valid ? 'valid' : [...new Set(codes)].join(','),
      !o ? '?' : o.loads ? 'loads' : `REFUSES (${(o.error ?? '').slice(0, 90)})`,
      !o || !o.loads ? '-' : o.workloadOk ? 'ok' : `FAILS (${(o.workloadError ?? '').slice(0, 90)})`,
      !o || !o.loads ? '-' : o.istiodOk ? 'ok' : `FAILS (${(o.istiodError ?? '').slice(0, 90)})`,
    ];
  });
  const header = ['bundle', 'plugin', 'istiod', 'workload cert', 'istiod cert'];
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i].length))));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}
