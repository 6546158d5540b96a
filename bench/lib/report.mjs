// The figures as a table on stdout and in bench/RESULTS.md, with the machine they were measured on.
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

const tryRun = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).trim();
  } catch {
    return 'unavailable';
  }
};

export function machine({ root, kubectl, clusterVersion }) {
  const memTotal = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  return {
    date: new Date().toISOString(),
    nproc: tryRun('nproc', []),
    memory: `${(Number(memTotal) / 1048576).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    cpu: cpus()[0]?.model ?? 'unknown',
    kernel: tryRun('uname', ['-sr']),
    node: process.version,
    go: tryRun('go', ['version']),
    kubectl: tryRun(kubectl, ['version', '--client', '-o', 'json']).match(/"gitVersion":\s*"([^"]+)"/)?.[1] ?? 'unknown',
    kubernetes: clusterVersion,
    openssl: tryRun('openssl', ['version']),
    commit: tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) + (tryRun('git', ['-C', root, 'status', '--porcelain', '--', 'src']) ? ' (src/ has uncommitted changes)' : ''),
    loadStart: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

const secs = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const mb = (kib) => (Number.isFinite(kib) ? `${((kib * 1024) / 1e6).toFixed(0)} MB` : '–');
const num = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : String(x));
const fig = (x) => (typeof x === 'number' ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2)) : String(x));
const verdict = (met) => (met === null ? 'info' : met ? 'met' : 'MISSED');

function textTable(header, rows) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
const mdTable = (header, rows) => [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');

const FIG_HEADER = ['scenario', 'what ran', 'wall', 'API requests', 'all API requests', 'API server CPU', 'peak RSS', 'CPU (user+sys)', 'notes'];
const figRow = (r) => [r.scenario, r.subject, secs(r.ms), num(r.requests), num(r.allRequests), Number.isFinite(r.apiserverCpuMs) ? secs(r.apiserverCpuMs) : '–', mb(r.rssKiB) + (r.rssNote ? ` (${r.rssNote})` : ''), Number.isFinite(r.cpuMs) ? secs(r.cpuMs) : '–', r.note ?? ''];
const TGT_HEADER = ['target', 'figure', 'wanted', 'result'];
const tgtRow = (t) => [t.target, fig(t.figure), t.limit, verdict(t.met)];

export function printTables(rows, targets) {
  return `${textTable(FIG_HEADER, rows.map(figRow))}\n\n${textTable(TGT_HEADER, targets.map(tgtRow))}\n`;
}

/** Why each missed target was missed and what would reach it, from the run's own figures. */
export function missedNotes(targets) {
  const out = [];
  for (const t of targets.filter((x) => x.met === false)) {
    const w = t.why;
    if (w?.kind === 'restart') {
      const best = w.kubectlS / w.floorS;
      out.push(
        `**${t.target}: ${fig(t.figure)}, wanted ${t.limit}.** Not reachable at this rate limit by any client that restarts ` +
          `Deployments through the API: a restart is one PATCH per Deployment (there is no bulk patch) after the discovery lists, ` +
          `${w.expected} + ${Math.round(w.floorS * w.qps - w.expected)} requests, which at ${w.qps} QPS take at least ${w.floorS.toFixed(0)} s; the kubectl loop ` +
          `took ${w.kubectlS.toFixed(0)} s, so the best ratio at ${w.qps} QPS is ${best.toFixed(2)}. The plugin came within ${(((w.pluginS - w.floorS) / w.floorS) * 100).toFixed(0)}% of that floor ` +
          `(${w.pluginRequests} requests in ${w.pluginS.toFixed(0)} s; the ${w.pluginRequests - Math.round(w.floorS * w.qps)} above the floor are its status polls). ` +
          `The loop is not held to kubectl's limit: each of its processes starts with a full bucket (burst ${w.burst}) and makes at most 6 requests, ` +
          `so it ran at ${w.kubectlRate.toFixed(1)} req/s (${w.kubectlRequests} requests).

` +
          `  What would reach 5×: (1) a limit of ≥ ${Math.ceil((w.expected + (w.floorS * w.qps - w.expected)) / (w.kubectlS / 5))} QPS (${w.kubectlS.toFixed(0)} s / 5 for ${Math.round(w.floorS * w.qps)} requests), e.g. the plugin's default 50; ` +
          `(2) then rollouts, not requests, bound the run: with --concurrency 10 and a median rollout of ${w.defaults ? w.defaults.rolloutP50S.toFixed(1) : w.rolloutP50S.toFixed(1)} s here ` +
          `(kwok marks pods Ready 200 ms after scheduling; the controllers and API server share ${cpus().length} cores with the benchmark) the plugin at its defaults took ` +
          `${w.defaults ? w.defaults.s.toFixed(0) : '?'} s, so 5× also needs more rollouts at once (--concurrency ~${Math.ceil((w.expected * (w.defaults?.rolloutP50S ?? w.rolloutP50S)) / (w.kubectlS / 5))} at that rollout time), which the control plane here does not keep up with (each rollout slows down as more run at once); ` +
          `(3) cheaper waiting: the plugin's RolloutWatcher polls every 500 ms with cluster-wide Deployment lists (${Math.ceil((w.expected + 1) / 500)} pages of full objects) because that is fewest requests, ` +
          `which cost the plugin ${w.pluginCpuS.toFixed(0)} s of CPU at ${w.qps} QPS${w.defaults ? ` and ${w.defaults.cpuS.toFixed(0)} s at its defaults (peak RSS ${w.defaults.rssMB.toFixed(0)} MB)` : ''}, taken from the same 2 cores the rollouts need; ` +
          `one watch on Deployments from the discovery list's resourceVersion would be 1 request and only changed objects.`,
      );
    } else {
      out.push(`**${t.target}: ${fig(t.figure)}, wanted ${t.limit}.** Missed in this run; see the figures above and the notes below. The machine is shared, so a figure near its limit can move between runs.`);
    }
  }
  return out;
}

export function resultsMarkdown({ machine: m, rows, targets, shape, settings, notes, durationMs }) {
  return `# Benchmark results

Written by \`npm run bench\` (bench/run.mjs) on ${m.date}; the whole run took ${(durationMs / 60000).toFixed(1)} min.
Every figure below was measured in that one run, side by side, on the project's test cluster (a second instance,
\`.bench-cluster/\`, which the benchmark populates itself; see test/cluster/README.md).

## Machine

| | |
| --- | --- |
| CPUs | ${m.nproc} × ${m.cpu} |
| memory | ${m.memory} |
| kernel | ${m.kernel} |
| load average | ${m.loadStart} at start, ${m.loadEnd} at end (the machine is shared with other work) |
| Node.js | ${m.node} (the plugin as \`node bin/kubectl-istio_ca\`; the packaged binary embeds ${settings.embeddedVersion}) |
| Go | ${m.go} |
| Kubernetes | ${m.kubernetes} (kube-apiserver, etcd, controller-manager, scheduler, kwok from test/cluster) |
| kubectl | ${m.kubectl} (\`scripts/test-cluster kubectl-path\`, same modules) |
| openssl | ${m.openssl} |
| plugin commit | ${m.commit} |

## The mesh

${shape.namespaces} namespaces \`bench-NNNN\` plus istio-system, default and kube-system, each with an
\`istio-ca-root-cert\` ConfigMap holding the root of the plugged CA (verify and status check ${settings.expectedNamespaces}
namespaces); ${shape.pods} sidecar pods (container istio-proxy, init container istio-init, annotation
sidecar.istio.io/status, shaped like test/fixtures/mesh.yaml): ${shape.deployNamespaces * shape.deploymentsPerNamespace}
from as many one-replica Deployments in ${shape.deployNamespaces} namespaces, ${shape.bare} bare pods owned by nothing, bound
straight to the kwok nodes; istiod (2 replicas) in istio-system; cacerts made by \`kubectl istio-ca generate\` and
plugged in by \`kubectl istio-ca replace\`.

## Figures

${mdTable(FIG_HEADER, rows.map(figRow))}

## Targets

${mdTable(TGT_HEADER, targets.map(tgtRow))}

${missedNotes(targets).length ? `## Where a target is missed\n\n${missedNotes(targets).map((n) => `- ${n}`).join('\n')}\n\n` : ''}## How it was measured

${notes.map((n) => `- ${n}`).join('\n')}
`;
}
