/** Human view of a rotation: the plan as a table (phases x clusters), then what each phase did. */
import { renderTable } from '../output/table.js';
import type { Style } from '../output/style.js';
import type { RotateResult } from './run.js';

const short = (fp: string) => (fp ? fp.slice(0, 11) + '…' : '-');

function duration(s: number): string {
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s}s`;
}

function expectation(e: RotateResult['plan']['phases'][number]['clusters'][number]['expect']): string {
  const only = e.exactRoots ? ' (only)' : '';
  return `trust ${e.roots.length}${only}${e.signer ? `, leaf by ${short(e.signer)}` : ''}`;
}

export function renderRotate(r: RotateResult, style: Style): string {
  const p = r.plan;
  const dry = r.dryRun ? ' (dry run: nothing changed)' : '';
  let out = `${style.bold('rotation')} ${r.kind}${dry} on ${r.contexts.join(', ')}\n`;
  const rows = p.phases.flatMap((ph) =>
    ph.clusters.map((c) => [
      ph.phase,
      c.context,
      c.status,
      c.roots.map(short).join('+'),
      short(c.signer),
      expectation(c.expect),
      c.delivery,
      c.restarts,
      c.gates.map((g) => g.name).join(', '),
    ]),
  );
  out += renderTable(
    ['phase', 'context', 'status', 'roots after', 'signer', 'proxies must', 'delivery', 'restarts', 'gates'],
    rows,
    style,
  );
  out += `${p.restarts} rollout(s) in all; estimated ${duration(p.estimate.seconds)} (${p.estimate.basis})\n`;
  for (const n of p.notes) out += `  ${style.dim('note:')} ${n}\n`;
  for (const a of p.attention) out += `  ${style.warn('needs attention:')} ${a}\n`;
  if (r.dryRun) {
    out += '\ngates:\n';
    const seen = new Set<string>();
    for (const ph of p.phases)
      for (const c of ph.clusters)
        for (const g of c.gates) {
          const line = `  ${ph.phase} ${g.name}: ${g.waitsFor}`;
          if (!seen.has(line)) out += `${line}\n`;
          seen.add(line);
        }
    return out;
  }
  out += '\n';
  for (const ph of r.phases) {
    out += `  ${style.bold(ph.phase)}\n`;
    for (const c of ph.clusters) {
      const restarted = c.restarted ? `, ${c.restarted} rollout(s)` : '';
      const gates = c.gateSeconds !== null ? `, gates passed in ${c.gateSeconds}s` : '';
      const backup = c.backup ? ` (backup ${c.backup})` : '';
      out += `    ${c.context}: ${c.action} (${c.delivery}${restarted})${gates}${backup}\n`;
      for (const g of c.gates) out += `      ${style.ok('√')} ${g.name}: ${g.evidence ?? g.waitsFor}\n`;
    }
  }
  const roots = r.finalRoots.map((f) => f.slice(0, 23) + '…').join(', ');
  out += `${style.ok('√')} every cluster ends on root ${roots}\n`;
  return out;
}
