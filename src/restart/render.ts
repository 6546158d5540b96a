/** How people see a restart: live progress on stderr, then one summary table with totals and hints on stdout. */
import { renderTable } from '../output/table.js';
import { MARK, type Style } from '../output/style.js';
import type { ProgressEvent, RestartResult, RolloutItem, RolloutStatus } from './run.js';

function seconds(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${s % 60}s`;
}

function statusText(s: RolloutStatus, style: Style): string {
  switch (s) {
    case 'restarted':
    case 'patched':
    case 'dry-run':
      return style.ok(s);
    case 'timeout':
    case 'skipped':
      return style.warn(s);
    case 'failed':
      return style.bad(s);
  }
}

const ref = (i: { kind: string; namespace: string; name: string }) =>
  `${i.kind.toLowerCase()}/${i.name} -n ${i.namespace}`;

/** The summary table (NAMESPACE KIND NAME STATUS DURATION MESSAGE), a line of totals, then hints and notes. */
export function renderRestart(r: RestartResult, style: Style): string {
  const items = [...r.controlPlane, ...r.workloads];
  let out = '';
  if (items.length === 0) out += 'no workloads with a sidecar found: nothing to restart\n';
  else {
    const rows = items.map((i) => [
      i.namespace,
      i.kind,
      i.name,
      statusText(i.status, style),
      seconds(i.durationMs),
      i.message,
    ]);
    out += renderTable(['namespace', 'kind', 'name', 'status', 'duration', 'message'], rows, style);
  }
  const s = r.summary;
  const parts = [
    s.restarted && `${s.restarted} restarted`,
    s.patched && `${s.patched} patched (not waited for)`,
    s.dryRun &&
      `${s.dryRun} would restart (${r.dryRun === 'server' ? 'server dry run' : 'client dry run: nothing sent'}; ` +
        `nothing changed)`,
    s.failed && style.bad(`${s.failed} failed`),
    s.timeout && style.warn(`${s.timeout} timed out`),
    s.skipped && style.warn(`${s.skipped} skipped`),
  ].filter(Boolean);
  const mark = s.failed ? style.bad(MARK.fail) : s.timeout || s.skipped ? style.warn(MARK.warn) : style.ok(MARK.ok);
  out +=
    `${mark} ${s.total} workload(s): ${parts.join(', ') || 'none'} in ${seconds(s.durationMs)}, ` +
    `${s.apiRequests} API requests (control plane ${r.controlPlane.length}, workloads ${r.workloads.length})\n`;
  const hints = new Map<string, string[]>();
  for (const i of items)
    if (i.hint && (i.status === 'failed' || i.status === 'timeout'))
      hints.set(i.hint, [...(hints.get(i.hint) ?? []), ref(i)]);
  for (const [hint, refs] of hints) {
    const who = refs.length > 3 ? `${refs.slice(0, 3).join(', ')} and ${refs.length - 3} more` : refs.join(', ');
    out += `  ${style.dim('hint')} for ${who}: ${hint}\n`;
  }
  if (s.timeout)
    out +=
      `  ${style.dim('hint:')} a rollout still running may finish on its own: kubectl rollout status ` +
      `<kind>/<name> -n <namespace>; or run again with a longer --timeout\n`;
  if (r.unmanagedPods.length) {
    const shown = r.unmanagedPods
      .slice(0, 5)
      .map((p) => `${p.namespace}/${p.name} (${p.owner})`)
      .join(', ');
    out +=
      `  ${style.dim('note:')} ${r.unmanagedPods.length} sidecar pod(s) belong to no Deployment, StatefulSet ` +
      `or DaemonSet and were not restarted: ${shown}${r.unmanagedPods.length > 5 ? ', …' : ''}\n`;
  }
  return out;
}

export interface ProgressSink {
  write(text: string): void;
}

/**
 * Live progress. On a terminal one line redrawn in place (`restarting: 12/40 done, 3 in progress, 1 failed`),
 * cleared at the end; otherwise one line per finished workload.
 */
export function progressReporter(
  sink: ProgressSink,
  interactive: boolean,
  style: Style,
): { start: () => void; onEvent: (e: ProgressEvent) => void; end: () => void } {
  let total = 0;
  let done = 0;
  let running = 0;
  let failed = 0;
  let drawn = false;
  const draw = () => {
    sink.write(`\r\u001b[2Krestarting: ${done}/${total} done, ${running} in progress, ${failed} failed`);
    drawn = true;
  };
  const line = (i: RolloutItem) => {
    const mark =
      i.status === 'failed'
        ? style.bad(MARK.fail)
        : i.status === 'timeout' || i.status === 'skipped'
          ? style.warn(MARK.warn)
          : style.ok(MARK.ok);
    const took = i.durationMs !== null ? ` (${seconds(i.durationMs)})` : '';
    const why = i.status === 'restarted' ? '' : `: ${i.message}`;
    return `${mark} ${ref(i)}: ${i.status}${took}${why}\n`;
  };
  return {
    start() {
      if (!interactive) return;
      sink.write('restarting: finding workloads with a sidecar…');
      drawn = true;
    },
    onEvent(e) {
      if (e.type === 'planned') total = e.total;
      else if (e.type === 'started') running++;
      else {
        if (e.item.startedAt !== null) running--;
        done++;
        if (e.item.status === 'failed' || e.item.status === 'timeout') failed++;
        if (!interactive) sink.write(line(e.item));
      }
      if (interactive) draw();
    },
    end() {
      if (drawn) sink.write('\r\u001b[2K');
    },
  };
}
