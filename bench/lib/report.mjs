// The figures as a table on stdout and in bench/RESULTS.md, with the machine they were measured on.
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg } from 'node:os';
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
    kubectl:
      tryRun(kubectl, ['version', '--client', '-o', 'json']).match(/"gitVersion":\s*"([^"]+)"/)?.[1] ?? 'unknown',
    kubernetes: clusterVersion,
    openssl: tryRun('openssl', ['version']),
    commit:
      tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) +
      (tryRun('git', ['-C', root, 'status', '--porcelain', '--', 'src']) ? ' (src/ has uncommitted changes)' : ''),
    loadStart: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

const secs = (ms) =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
const mb = (kib) => (Number.isFinite(kib) ? `${((kib * 1024) / 1e6).toFixed(0)} MB` : '–');
const num = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : String(x));
const fig = (x) => (typeof x === 'number' ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2)) : String(x));
const verdict = (met) => (met === null ? 'info' : met ? 'met' : 'MISSED');

function textTable(header, rows) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => String(c).padEnd(w[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
const mdTable = (header, rows) =>
  [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`),
  ].join('\n');

const FIG_HEADER = [
  'scenario',
  'what ran',
  'wall',
  'API requests',
  'all API requests',
  'API server CPU',
  'peak RSS',
  'CPU (user+sys)',
  'notes',
];
const figRow = (r) => [
  r.scenario,
  r.subject,
  secs(r.ms),
  num(r.requests),
  num(r.allRequests),
  Number.isFinite(r.apiserverCpuMs) ? secs(r.apiserverCpuMs) : '–',
  mb(r.rssKiB) + (r.rssNote ? ` (${r.rssNote})` : ''),
  Number.isFinite(r.cpuMs) ? secs(r.cpuMs) : '–',
  r.note ?? '',
];
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
          `took ${w.kubectlS.toFixed(0)} s, so the best ratio at ${w.qps} QPS is ${best.toFixed(2)}. The plugin took ${w.pluginS.toFixed(0)} s, ${(((w.pluginS - w.floorS) / w.floorS) * 100).toFixed(0)}% above that floor, ` +
          `with ${w.pluginRequests} requests (${w.pluginRequests - Math.round(w.floorS * w.qps)} above the floor: its watch, and re-lists or resumed watches if any) at ${(w.pluginRequests / w.pluginS).toFixed(1)} req/s` +
          (w.pluginRequests / w.pluginS < 0.9 * w.qps
            ? `, below the limit: in this run its rollouts bound it (median ${w.rolloutP50S.toFixed(1)} s from patch to rolled out, --concurrency ${w.concurrency} at once, waiting for a token included), not the limiter. `
            : ': the limiter bound it. ') +
          `The loop is not held to kubectl's limit: each of its processes starts with a full bucket (burst ${w.burst}) and makes at most 6 requests, ` +
          `so it ran at ${w.kubectlRate.toFixed(1)} req/s (${w.kubectlRequests} requests).

` +
          `  What would reach 5×: (1) a limit of ≥ ${Math.ceil((w.expected + (w.floorS * w.qps - w.expected)) / (w.kubectlS / 5))} QPS (${w.kubectlS.toFixed(0)} s / 5 for ${Math.round(w.floorS * w.qps)} requests), e.g. the plugin's default 50; ` +
          `(2) then rollouts, not requests, bound the run: with --concurrency ${w.concurrency} and a median rollout of ${w.defaults ? w.defaults.rolloutP50S.toFixed(1) : w.rolloutP50S.toFixed(1)} s here ` +
          `(kwok marks pods Ready 200 ms after scheduling; the controllers and API server share ${cpus().length} cores with the benchmark) the plugin at its defaults took ` +
          `${w.defaults ? w.defaults.s.toFixed(0) : '?'} s, so 5× also needs more rollouts at once (--concurrency ~${Math.ceil((w.expected * (w.defaults?.rolloutP50S ?? w.rolloutP50S)) / (w.kubectlS / 5))} at that rollout time), which the control plane here does not keep up with (each rollout slows down as more run at once); ` +
          `(3) waiting is no longer the cost: the plugin waits by one watch on Deployments from discovery's list (no polls), ` +
          `and took ${w.pluginCpuS.toFixed(1)} s of CPU at ${w.qps} QPS${w.defaults ? ` and ${w.defaults.cpuS.toFixed(1)} s at its defaults (peak RSS ${w.defaults.rssMB.toFixed(0)} MB)` : ''}.`,
      );
    } else if (w?.kind === 'restart-watch-wall') {
      out.push(
        `**${t.target}: ${fig(t.figure)}, wanted ${t.limit}.** At its defaults the plugin's wall is bound by rollouts, not ` +
          `requests or waiting: ${w.expected} rollouts, at most ${w.concurrency} at once, a median of ${w.rolloutP50S.toFixed(1)} s ` +
          `each from patch to rolled out (the controllers, the scheduler and kwok share the machine's cores with everything ` +
          `else running), about ${((w.expected * w.rolloutP50S) / w.concurrency).toFixed(0)} s; it took ${w.pluginS.toFixed(0)} s. ` +
          `Half the kubectl loop's ${w.kubectlS.toFixed(0)} s needs a median rollout of ${(((w.kubectlS / 2) * w.concurrency) / w.expected).toFixed(2)} s at ` +
          `--concurrency ${w.concurrency}, or more rollouts at once (--concurrency ${Math.ceil((w.expected * w.rolloutP50S) / (w.kubectlS / 2))} at this rollout time), ` +
          `if the control plane keeps up with them.`,
      );
    } else {
      out.push(
        `**${t.target}: ${fig(t.figure)}, wanted ${t.limit}.** Missed in this run; see the figures above and the notes below. The machine is shared, so a figure near its limit can move between runs.`,
      );
    }
  }
  return out;
}

/** How each figure was measured, for RESULTS.md. */
export function measurementNotes({ machine: m, settings, verifyDetail: vd }) {
  const rs = settings.restart;
  const notes = [
    'Wall time: from spawn to exit of the process (or of the whole group of processes), timed by the benchmark.',
    "Peak RSS: GNU time `%M` of each process. A shell loop reports the largest of its processes, which run one at a time; the floor's kubectl processes run at once, so their peaks are summed. CPU: GNU time's user + system time, children included.",
    `API requests: counted by the API server. Every measured client (plugin, kubectl, the recipe's loop, the API floor) uses one ServiceAccount, \`istio-ca-bench\`, whose FlowSchema sends its requests to the exempt priority level (as the admin user's are); the figure is the increase of \`apiserver_flowcontrol_dispatched_requests_total{flow_schema="istio-ca-bench"}\` over the run, read from /metrics with the admin client certificate before and after. "all API requests" is the increase of \`apiserver_request_total\` summed over all labels in the same interval, so it also holds what the controllers, the scheduler and kwok did meanwhile (during restarts: creating and deleting pods).`,
    'API server CPU: user + system CPU time of the kube-apiserver process over the run (/proc/PID/stat), which also holds its work for the controllers and kwok meanwhile.',
    `verify -A and status run with \`-o json\` (verify must pass on every namespace before it is measured), ${settings.reps} times each, interleaved with the floors; the row is the run with the median wall time. kubectl uses a warm discovery cache (KUBECACHEDIR in .bench-cluster/), as on a workstation.`,
    "The floor: kubectl fetching, as JSON, the lists verify reads, each list by one kubectl, all at once: namespaces, the istio-ca-root-cert ConfigMaps (field selector), pods -A, the cacerts and istio-ca-secret Secrets, istiod's Deployment and pods. kubectl pages with its default --chunk-size 500, as the plugin pages at 500. The plugin asks for less than this floor does: metadata only (PartialObjectMetadataList) for namespaces and pods, so the API floor (verify's own requests, same pages and Accept headers: the metadata-only pages in protobuf, each page parsed or decoded with the plugin's decoder and dropped) is the tighter bound. It is measured two ways. As a program (the target's floor): bench/api-floor-client.mjs, a bare client that reads the kubeconfig, makes the requests and exits, run by the Node.js the plugin runs on and timed from spawn to exit as the plugin is; it pays what any client pays (process start, compiling and running its code cold, TLS) and nothing of the plugin's (CLI, checks, output). In-process (the transfer floor, information only): the same requests inside the benchmark's own process, on code already compiled and optimized by earlier rounds: what the API server and the transfer alone cost; no program reaches it.",
    `The recipe's loop: bench/recipe-loop.sh, \`kubectl get namespaces\`, then for each namespace \`kubectl get configmap istio-ca-root-cert -o jsonpath\` piped to \`openssl x509 -fingerprint -sha256\`, compared with the root's fingerprint.${settings.recipeEvery > 1 ? ` Measured on every ${settings.recipeEvery}th namespace and extrapolated linearly (the row says so).` : ' Run on every namespace, not a sample.'}`,
    `restart: the plugin at kubectl's own client-side rate limit. kubectl ${m.kubectl} sets no QPS on its API client (only on discovery: 50 QPS, burst 300, k8s.io/kubectl/pkg/cmd/cmd.go), so client-go's defaults apply: 5 QPS, burst 10 (k8s.io/client-go/rest/config.go DefaultQPS/DefaultBurst), per process; kubectl has no --qps flag. The plugin runs with --qps ${rs.qps} --burst ${rs.burst} --concurrency ${rs.concurrency} for the whole restart. Each kubectl process of the loop gets a fresh bucket, so the loop never waits on its limiter (a restart of 5 Deployments is 1 list + 5 patches).`,
    "restart (wait): both sides wait until every rollout completes: the plugin by default, kubectl by `kubectl rollout status` of each Deployment right after the namespace's `rollout restart` (bench/kubectl-restart-loop.sh); the plugin restarts with --workloads-only (istiod is not part of the kubectl loop). Before each run every Deployment has rolled out. restart (patch only): the plugin with --no-wait against the loop of `kubectl rollout restart` alone, for what patching costs at the limit. Each restart figure is one run (each takes minutes); how fast the cluster rolls pods out depends on what else the shared machine runs, so these figures move between runs more than the others.",
    "generate: `kubectl istio-ca generate` (RSA 4096 root and intermediate, validated) against bench/openssl-ca.sh (Istio's tools/certs/common.mk steps: genrsa, req, x509 for the root and for the intermediate, one process at a time), interleaved; RSA key generation time varies widely from run to run (random prime search), so the ratio is of means. The plugin generates its two keys at once (WebCrypto on libuv's thread pool), so part of its lead on 2 cores is parallelism; openssl-ca.sh runs its steps in turn, as Istio's Makefile does.",
    'start-up: the packaged single binary (dist/kubectl-istio_ca, a Node.js single executable; a private copy is measured) `--help` against `node -e 0`, interleaved, medians.',
  ];
  // verifyDetail: one entry per mesh size (namespaces), or (older records) one detail.
  const details = vd ? (vd.verifyRuns ? [['', vd]] : Object.entries(vd)) : [];
  for (const [size, vd] of details) {
    notes.push(
      `${size ? `at ${size} namespaces: ` : ''}verify runs: ${vd.verifyRuns.map((x) => x.toFixed(0)).join(', ')} ms; status runs: ${vd.statusRuns.map((x) => x.toFixed(0)).join(', ')} ms; floor runs: ${vd.floorRuns.map((x) => x.toFixed(0)).join(', ') || 'not run'} ms; API floor runs (a program): ${(vd.clientFloorRuns ?? []).map((x) => x.toFixed(0)).join(', ') || 'not run'} ms; transfer floor runs (in-process): ${(vd.apiRuns ?? []).map((x) => x.toFixed(0)).join(', ')} ms; floor parts (ms / MB RSS / MiB of JSON): ${(vd.floorParts ?? []).map((p) => `${p.ms.toFixed(0)} / ${((p.rssKiB * 1024) / 1e6).toFixed(0)} / ${(p.bytes / 1048576).toFixed(1)}`).join('; ')}.`,
    );
  }
  return notes;
}

export function resultsMarkdown(record) {
  const { machine: m, rows, targets, shape, settings, durationMs, largeShape: large } = record;
  const notes = measurementNotes(record);
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
| Node.js | ${m.node}; the packaged binary embeds ${settings.embeddedVersion} |
| plugin measured | ${settings.plugin === undefined ? '`node bin/kubectl-istio_ca`' : settings.plugin === 'script' ? 'bin/kubectl-istio_ca by its shebang line on the Node.js above (an npm install)' : `the packaged single binary (dist/kubectl-istio_ca, Node.js ${settings.embeddedVersion}), as krew installs it`} |
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
${
  large
    ? `
The larger mesh (verify -A and status only), a second cluster (\`.bench-cluster-large/\`, ${large.nodes} kwok nodes):
${large.namespaces} namespaces with their \`istio-ca-root-cert\` and ${large.pods} sidecar pods, all bare, same shapes. Its
namespaces, ConfigMaps and pods were written straight into the cluster's etcd (bench/lib/etcd-load.mjs: as the API
server stores them, JSON with uid, creationTimestamp, managedFields of the API server's size, pods Running and Ready so
that kwok leaves them alone), because creating them through the API ran at 3-15 objects/s on the shared machine; the
smaller mesh's last 1,695 bare pods were written the same way. Every measured read goes through the API server.
`
    : ''
}
## Figures

${mdTable(FIG_HEADER, rows.map(figRow))}

## Targets

${mdTable(TGT_HEADER, targets.map(tgtRow))}

${
  missedNotes(targets).length
    ? `## Where a target is missed\n\n${missedNotes(targets)
        .map((n) => `- ${n}`)
        .join('\n')}\n\n`
    : ''
}## How it was measured

${notes.map((n) => `- ${n}`).join('\n')}
`;
}
