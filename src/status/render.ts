/** Human view of status: one screen, with a validity bar per certificate on a terminal. */
import { renderTable } from '../output/table.js';
import type { Style } from '../output/style.js';
import type { StatusResult } from './run.js';

const MODES: Record<string, string> = {
  plugged: 'plugged-in CA (secret cacerts)',
  'self-signed': "istiod's self-signed CA (istio-ca-secret)",
  external: 'external CA',
  none: 'none found (no cacerts, no istio-ca-secret)',
  unknown: 'unknown (secrets may not be read with this context)',
};

function age(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function bar(fraction: number, style: Style): string {
  const width = 12;
  const filled = Math.round(fraction * width);
  const text = '█'.repeat(filled) + '░'.repeat(width - filled);
  return fraction < 0.1 ? style.bad(text) : fraction < 0.25 ? style.warn(text) : style.ok(text);
}

export function renderStatus(r: StatusResult, style: Style): string {
  const line = (k: string, v: string) => `${style.bold(k.padEnd(22))}${v}\n`;
  let out = line('context', `${r.context} (namespace ${r.istioNamespace})`);
  out += line(
    'CA in use',
    MODES[r.caMode] +
      (r.externalReason ? `: ${r.externalReason}` : '') +
      (r.bundleValid === false ? style.bad(' (INVALID: run kubectl istio-ca verify)') : ''),
  );
  out += line(
    'multi-root mesh',
    r.multiRootMesh === null
      ? 'no istiod Deployment found'
      : r.multiRootMesh
        ? 'ISTIO_MULTIROOT_MESH=true on istiod'
        : 'off (ISTIO_MULTIROOT_MESH not "true": root changes need an istiod restart)',
  );
  const lr = r.lastReplacement;
  const replacedBy = lr.by ? ` by ${lr.by}` : lr.source !== 'annotation' ? ' (not recorded by this plugin)' : '';
  out += line('last replacement', lr.at ? `${lr.at}${lr.kind ? ` (${lr.kind})` : ''}${replacedBy}` : '-');
  if (r.rotationPhase && r.rotationPhase !== 'complete')
    out += line(
      'rotation',
      style.warn(
        `in progress: phase ${r.rotationPhase} applied; finish with kubectl istio-ca rotate --resume --from-dir DIR`,
      ),
    );
  if (r.certificates.length) {
    const head = ['role', 'subject', 'serial', 'sha-256', 'key', 'not after', 'days left'];
    if (style.color) head.push('life left');
    const rows = r.certificates.map((c) => {
      const row: string[] = [
        c.role,
        c.subject,
        c.serial.length > 16 ? c.serial.slice(0, 16) + '…' : c.serial,
        c.fingerprintSha256.slice(0, 23) + '…',
        c.key.label,
        c.notAfter.slice(0, 10),
        String(c.daysLeft),
      ];
      if (style.color) row.push(bar(c.lifeLeft, style));
      return row;
    });
    out += '\n' + renderTable(head, rows, style) + '\n';
  }
  if (r.rootsPublishedIn.kind === 'ClusterTrustBundle')
    out += line(
      'roots published in',
      `ClusterTrustBundle ${r.rootsPublishedIn.name} (ENABLE_CLUSTER_TRUST_BUNDLE_API), ` +
        (r.rootsPublishedIn.inSync === null
          ? 'not compared'
          : r.rootsPublishedIn.inSync
            ? 'holds every root'
            : style.bad('lacks a root of the CA')),
    );
  out += line(
    'namespaces in sync',
    `${r.namespaces.inSync} of ${r.namespaces.total}${outOfSyncNote(r.namespaces.outOfSync)}`,
  );
  out += line(
    'awaiting restart',
    r.workloadsAwaitingRestart.workloads
      ? `${r.workloadsAwaitingRestart.workloads} workload(s), ${r.workloadsAwaitingRestart.pods} pod(s)`
      : 'none',
  );
  out += line(
    'istiod pods',
    r.istiodPods.length
      ? r.istiodPods
          .map((p) => `${p.name} (${p.ready ? 'Ready' : style.bad('not Ready')}, age ${age(p.ageSeconds)})`)
          .join(', ')
      : 'none',
  );
  for (const s of r.skipped) out += `${style.dim(`skipped ${s}`)}\n`;
  return out;
}

/** " (out of sync: a, b, …)" naming at most 8 namespaces, or nothing when all are in sync. */
function outOfSyncNote(outOfSync: string[]): string {
  if (outOfSync.length === 0) return '';
  return ` (out of sync: ${outOfSync.slice(0, 8).join(', ')}${outOfSync.length > 8 ? ', …' : ''})`;
}
