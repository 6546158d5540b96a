// The measured scenarios. Each returns rows { scenario, subject, ms, requests, allRequests, rssKiB, note } and
// target checks { target, figure, limit, met, why }. Every run is counted at the API server (see cluster.mjs).
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Api, credentials } from './api.mjs';
import { counters } from './cluster.mjs';
import { measure, mean, median } from './proc.mjs';

/** Runs fn (which resolves a measure() result or a combined one) between two reads of the request counters. */
export async function counted(admin, fn) {
  const before = await counters(admin);
  const r = await fn();
  const after = await counters(admin);
  return {
    ...r,
    requests: after.client - before.client,
    allRequests: after.all - before.all,
    apiserverCpuMs: after.apiserverCpuMs - before.apiserverCpuMs,
  };
}

/** Several processes at once: wall time of the whole, peak RSS summed (they are alive together). */
async function concurrently(runs) {
  const t0 = process.hrtime.bigint();
  const rs = await Promise.all(runs.map(([cmd, args, opts]) => measure(cmd, args, opts)));
  const bad = rs.find((r) => r.code !== 0);
  if (bad) throw new Error(`floor command failed (exit ${bad.code}): ${bad.stderr.slice(0, 400)}`);
  return {
    code: 0,
    ms: Number(process.hrtime.bigint() - t0) / 1e6,
    rssKiB: rs.reduce((n, r) => n + r.rssKiB, 0),
    cpuMs: rs.reduce((n, r) => n + r.cpuMs, 0),
    stdoutBytes: rs.reduce((n, r) => n + r.stdoutBytes, 0),
    parts: rs,
  };
}

const pick = (runs) => {
  // The run with the median wall time stands for the subject; requests and RSS are reported for that run.
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  return { ...sorted[(sorted.length - 1) >> 1], runs: runs.map((r) => r.ms) };
};

/**
 * verify -A and status against the floor (kubectl fetching, as JSON, the lists verify reads, all at once) and the
 * recipe's loop (kubectl get + openssl per namespace). `reps` runs of each fast subject, interleaved; the loop once.
 */
/**
 * verify -A and status against their floors on one populated cluster. `size` names the mesh in rows and targets;
 * `kubectlFloor: false` leaves out the 5-kubectl floor (at 25,000 pods it holds GBs of JSON); `rssLimitMB` is the
 * peak RSS wanted of the plugin at this size.
 */
export async function verifyAndStatus(
  ctx,
  { reps, recipeEvery, expectedNamespaces, size = '', kubectlFloor = true, rssLimitMB = 250 },
) {
  const at = size ? ` (${size})` : '';
  const { admin, benchKubeconfig, kubectl, plugin, log, root, kubectlCacheDir } = ctx;
  const k = (args) => [
    kubectl,
    ['--kubeconfig', benchKubeconfig, '--cache-dir', kubectlCacheDir, ...args],
    { keepStdout: false, timeoutMs: 300_000 },
  ];
  const floorCommands = [
    k(['get', 'namespaces', '-o', 'json']),
    k(['get', 'configmaps', '-A', '--field-selector', 'metadata.name=istio-ca-root-cert', '-o', 'json']),
    k(['get', 'pods', '-A', '-o', 'json']),
    k(['get', 'secrets', 'cacerts', 'istio-ca-secret', '-n', 'istio-system', '--ignore-not-found', '-o', 'json']),
    k(['get', 'deployments,pods', '-n', 'istio-system', '-l', 'app=istiod', '-o', 'json']),
  ];
  const verify = () => plugin(['verify', '-A', '-o', 'json', '--kubeconfig', benchKubeconfig]);
  const status = () => plugin(['status', '-o', 'json', '--kubeconfig', benchKubeconfig]);

  // Warm-up (not measured): kubectl's discovery cache, the API server's caches, the page cache for node.
  const w = await verify();
  const wv = JSON.parse(w.stdout);
  if (!wv.passed || wv.namespacesChecked !== expectedNamespaces) {
    throw new Error(
      `verify -A must pass on ${expectedNamespaces} namespaces before it is measured; got passed=${wv.passed}, namespacesChecked=${wv.namespacesChecked}: ${JSON.stringify(wv.checks.filter((c) => c.status !== 'ok')).slice(0, 600)}`,
    );
  }
  if (kubectlFloor) await concurrently(floorCommands);

  // The API floor: exactly the requests verify makes (same pages, same Accept headers: metadata-only pages in
  // protobuf, the rest JSON), by a bare HTTP client in this process (a new connection each run, each page parsed or
  // decoded, nothing else): what the API server and the transfer cost.
  const META = {
    Accept:
      'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,' +
      'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
  };
  const apiFloor = async () => {
    const t0 = process.hrtime.bigint();
    const c = new Api(credentials(benchKubeconfig));
    await Promise.all([
      c.req('GET', '/api/v1/namespaces/istio-system/secrets/cacerts'),
      c.req('GET', '/api/v1/namespaces/istio-system/secrets/istio-ca-secret'),
      c.list('/apis/apps/v1/namespaces/istio-system/deployments', 'labelSelector=app%3Distiod', {}, false),
      c.list('/api/v1/namespaces/istio-system/pods', 'labelSelector=app%3Distiod', {}, false),
      c.list('/api/v1/namespaces', '', META, false),
      c.list('/api/v1/configmaps', 'fieldSelector=metadata.name%3Distio-ca-root-cert', {}, false),
      c.list('/api/v1/pods', '', META, false),
    ]);
    c.close();
    return { code: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6, rssKiB: NaN, cpuMs: NaN };
  };
  await apiFloor();
  // The API floor as a program (bench/api-floor-client.mjs): the same requests by a bare client process, run by the
  // Node.js the plugin runs on and timed from spawn to exit as the plugin is: it starts, reads the kubeconfig,
  // connects, decodes the pages with the plugin's decoder and exits. What any client pays, and nothing else.
  const clientFloor = async () => {
    const r = await measure(ctx.clientNode.path, [join(root, 'bench', 'api-floor-client.mjs'), benchKubeconfig], {
      timeoutMs: 300_000,
    });
    if (r.code !== 0) throw new Error(`api-floor-client exited ${r.code}: ${r.stderr.slice(-400)}`);
    return r;
  };
  await clientFloor();

  const runs = { verify: [], status: [], floor: [], api: [], client: [] };
  for (let i = 0; i < reps; i++) {
    runs.api.push(await counted(admin, apiFloor));
    runs.client.push(await counted(admin, clientFloor));
    if (kubectlFloor) runs.floor.push(await counted(admin, () => concurrently(floorCommands)));
    runs.verify.push(await counted(admin, verify));
    runs.status.push(await counted(admin, status));
    log(
      `verify/status${at} round ${i + 1}/${reps}: verify ${runs.verify[i].ms.toFixed(0)} ms (${(runs.verify[i].rssKiB / 1024).toFixed(0)} MiB, ${runs.verify[i].cpuMs.toFixed(0)} ms CPU, ${runs.verify[i].requests} requests), status ${runs.status[i].ms.toFixed(0)} ms (${(runs.status[i].rssKiB / 1024).toFixed(0)} MiB, ${runs.status[i].cpuMs.toFixed(0)} ms CPU), floor ${runs.floor[i]?.ms.toFixed(0) ?? '-'} ms, API floor ${runs.client[i].ms.toFixed(0)} ms as a program (${runs.client[i].requests} requests), ${runs.api[i].ms.toFixed(0)} ms in-process`,
    );
  }
  const st = JSON.parse(runs.status[0].stdout);
  if (st.namespaces.total !== expectedNamespaces || st.namespaces.inSync !== expectedNamespaces)
    throw new Error(`status saw ${st.namespaces.inSync}/${st.namespaces.total} namespaces in sync`);

  // The recipe's loop: every namespace unless recipeEvery > 1 (then a sample, extrapolated linearly).
  const rootPem = readFileSync(join(ctx.stateDir, 'ca', 'root-cert.pem'), 'utf8');
  const fp = new X509Certificate(rootPem).fingerprint256;
  log(
    `recipe loop: kubectl get + openssl per namespace${recipeEvery > 1 ? `, every ${recipeEvery}th namespace` : ', every namespace'} (this takes a while)`,
  );
  const loop = await counted(admin, () =>
    measure('bash', [join(root, 'bench', 'recipe-loop.sh'), kubectl, benchKubeconfig, fp, String(recipeEvery)], {
      env: ctx.kubectlEnv,
      timeoutMs: 1_800_000,
    }),
  );
  const m = /ok=(\d+) bad=(\d+) checked=(\d+) namespaces=(\d+)/.exec(loop.stdout);
  if (loop.code !== 0 || !m) throw new Error(`recipe loop failed (exit ${loop.code}): ${loop.stderr.slice(-400)}`);
  const [ok, bad, checked, total] = m.slice(1).map(Number);
  const factor = total / checked;
  const recipe = {
    ...loop,
    measuredMs: loop.ms,
    measuredRequests: loop.requests,
    ms: loop.ms * factor,
    requests: Math.round(loop.requests * factor),
    allRequests: Math.round(loop.allRequests * factor),
    note:
      factor > 1.0001
        ? `measured on ${checked} of ${total} namespaces (${ok} ok, ${bad} without the root), ×${factor.toFixed(2)}`
        : `all ${total} namespaces (${ok} ok, ${bad} without istio-ca-root-cert: kube-public, kube-node-lease)`,
    extrapolated: factor > 1.0001,
  };

  const v = pick(runs.verify);
  const s = pick(runs.status);
  const f = kubectlFloor ? pick(runs.floor) : null;
  const a = pick(runs.api);
  a.note = `median of ${reps}; the same requests as verify and status (pages, Accept headers: metadata pages in protobuf), each page parsed or decoded, inside the benchmark's process: no process start, no kubeconfig, code already compiled and optimized by earlier rounds`;
  const c = pick(runs.client);
  c.note = `median of ${reps}; the same requests, pages and decoding, by bench/api-floor-client.mjs run by Node.js ${ctx.clientNode.version} (${ctx.clientNode.what}), from spawn to exit`;
  if (f)
    f.note = `${floorCommands.length} kubectl at once (namespaces; istio-ca-root-cert ConfigMaps; pods -A; cacerts + istio-ca-secret; istiod Deployment + pods); RSS summed; ${(f.stdoutBytes / 1048576).toFixed(1)} MiB of JSON`;
  v.note = `median of ${reps}; ${(v.stdoutBytes / 1024).toFixed(0)} KiB of JSON out`;
  s.note = `median of ${reps}`;
  const rows = [
    { scenario: `verify -A${at}`, subject: 'kubectl istio-ca verify -A', ...v },
    ...(f ? [{ scenario: `verify -A${at}`, subject: 'floor: kubectl get … -o json', ...f }] : []),
    {
      scenario: `verify -A${at}`,
      subject: 'recipe loop: kubectl get + openssl per namespace',
      ...recipe,
      rssNote: 'max of its processes (one at a time)',
    },
    { scenario: `verify -A${at}`, subject: "API floor: verify's own requests by a bare client program", ...c },
    {
      scenario: `verify -A${at}`,
      subject: "transfer floor: verify's requests inside the benchmark's process",
      ...a,
    },
    { scenario: `status${at}`, subject: 'kubectl istio-ca status', ...s },
  ];
  const peakMB = (rs) => (Math.max(...rs.map((r) => r.rssKiB)) * 1024) / 1e6;
  const targets = [
    ...(f
      ? [
          {
            target: `verify -A wall / kubectl floor wall${at}`,
            figure: v.ms / f.ms,
            limit: '≤ 1.5',
            met: v.ms / f.ms <= 1.5,
          },
          {
            target: `status wall / kubectl floor wall${at}`,
            figure: s.ms / f.ms,
            limit: '≤ 1.5',
            met: s.ms / f.ms <= 1.5,
          },
        ]
      : []),
    {
      target: `recipe loop wall / verify -A wall${at}`,
      figure: recipe.ms / v.ms,
      limit: '≥ 20',
      met: recipe.ms / v.ms >= 20,
    },
    {
      target: `recipe loop wall / status wall${at}`,
      figure: recipe.ms / s.ms,
      limit: '≥ 20',
      met: recipe.ms / s.ms >= 20,
    },
    {
      target: `verify -A wall / API floor wall (the same requests by a bare client program)${at}`,
      figure: v.ms / c.ms,
      limit: '≤ 1.3',
      met: v.ms / c.ms <= 1.3,
    },
    {
      target: `status wall / API floor wall${at}`,
      figure: s.ms / c.ms,
      limit: '≤ 1.3',
      met: s.ms / c.ms <= 1.3,
    },
    {
      target: `verify -A wall / transfer floor wall (the requests alone, in-process, warm)${at}`,
      figure: v.ms / a.ms,
      limit: 'information',
      met: null,
    },
    {
      target: `status wall / transfer floor wall${at}`,
      figure: s.ms / a.ms,
      limit: 'information',
      met: null,
    },
    {
      target: `verify -A peak RSS (MB)${at}`,
      figure: peakMB(runs.verify),
      limit: `< ${rssLimitMB}`,
      met: peakMB(runs.verify) < rssLimitMB,
    },
    {
      target: `status peak RSS (MB)${at}`,
      figure: peakMB(runs.status),
      limit: `< ${rssLimitMB}`,
      met: peakMB(runs.status) < rssLimitMB,
    },
  ];
  return {
    rows,
    targets,
    detail: {
      verifyRuns: runs.verify.map((r) => r.ms),
      statusRuns: runs.status.map((r) => r.ms),
      floorRuns: runs.floor.map((r) => r.ms),
      verifyRssKiB: runs.verify.map((r) => r.rssKiB),
      statusRssKiB: runs.status.map((r) => r.rssKiB),
      verifyCpuMs: runs.verify.map((r) => r.cpuMs),
      apiRuns: runs.api.map((r) => r.ms),
      clientFloorRuns: runs.client.map((r) => r.ms),
      floorParts: f?.parts?.map((p) => ({ ms: p.ms, rssKiB: p.rssKiB, bytes: p.stdoutBytes })),
      recipe: { ok, bad, checked, total, measuredMs: loop.ms, measuredRequests: loop.requests },
    },
  };
}

/** Largest number of rollouts in flight at once, from the items' startedAt/finishedAt. */
export function maxInFlight(items) {
  const ev = [];
  for (const i of items) {
    if (!i.startedAt || !i.finishedAt) continue;
    ev.push([Date.parse(i.startedAt), 1], [Date.parse(i.finishedAt), -1]);
  }
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (cur += d));
  return max;
}

/**
 * restart of every sidecar Deployment (workloads only) against kubectl rollout restart namespace by namespace,
 * both waiting for the rollouts to finish, the plugin at kubectl's client-side rate limit.
 */
export async function restart(
  ctx,
  { qps, burst, concurrency, namespaces, expected, discoveryRequests, podPages, settle, withNoWait },
) {
  const { admin, benchKubeconfig, kubectl, plugin, log, root, kubectlCacheDir } = ctx;
  const rows = [];
  const targets = [];
  const kubectlEnv = { ...process.env, KUBECACHEDIR: kubectlCacheDir };
  const loopArgs = (mode) => [
    join(root, 'bench', 'kubectl-restart-loop.sh'),
    kubectl,
    benchKubeconfig,
    mode,
    ...namespaces,
  ];
  const runPlugin = async (wait, limits = true) => {
    await settle();
    const args = [
      'restart',
      '--workloads-only',
      ...(limits ? ['--qps', String(qps), '--burst', String(burst), '--concurrency', String(concurrency)] : []),
      '--timeout',
      '5m',
      '-o',
      'json',
      '--kubeconfig',
      benchKubeconfig,
    ];
    if (!wait) args.push('--no-wait');
    const r = await counted(admin, () => plugin(args, { allowFail: true, timeoutMs: 1_200_000 }));
    let out;
    try {
      out = JSON.parse(r.stdout);
    } catch {
      throw new Error(`restart printed no JSON (exit ${r.code}): ${r.stderr.slice(-600)}`);
    }
    const sum = out.summary;
    const want = wait ? sum.restarted : sum.patched;
    if (want !== expected || sum.failed || sum.timeout)
      throw new Error(
        `plugin restart: ${JSON.stringify(sum)} (expected ${expected} ${wait ? 'restarted' : 'patched'})`,
      );
    const inFlight = maxInFlight(out.workloads);
    const rolloutP50 = median(out.workloads.map((w) => w.durationMs ?? 0));
    const rate = r.requests / (r.ms / 1000);
    const allowed = burst + qps * (r.ms / 1000);
    log(
      `plugin restart${wait ? '' : ' --no-wait'}${limits ? '' : ' (defaults)'}: ${(r.ms / 1000).toFixed(1)} s, ${r.requests} requests (${rate.toFixed(2)}/s), at most ${inFlight} rollouts at once, ${(r.cpuMs / 1000).toFixed(2)} s CPU, ${((r.rssKiB * 1024) / 1e6).toFixed(0)} MB peak RSS`,
    );
    return { ...r, inFlight, rate, allowed, rolloutP50, pluginCount: sum.apiRequests };
  };
  const runKubectl = async (mode) => {
    await settle();
    const r = await counted(admin, () => measure('bash', loopArgs(mode), { env: kubectlEnv, timeoutMs: 1_800_000 }));
    if (r.code !== 0 || !r.stdout.includes(`restarted=${expected}`))
      throw new Error(
        `kubectl restart loop (${mode}) failed (exit ${r.code}): ${r.stdout.slice(-200)} ${r.stderr.slice(-400)}`,
      );
    log(
      `kubectl loop (${mode}): ${(r.ms / 1000).toFixed(1)} s, ${r.requests} requests (${(r.requests / (r.ms / 1000)).toFixed(2)}/s)`,
    );
    return r;
  };

  const p = await runPlugin(true);
  const kw = await runKubectl('wait');
  rows.push({
    scenario: 'restart (wait)',
    subject: `kubectl istio-ca restart --workloads-only --qps ${qps} --burst ${burst} --concurrency ${concurrency}`,
    ...p,
    note: `${expected} restarted; ≤ ${p.inFlight} at once; ${p.rate.toFixed(2)} req/s (allowed ${p.allowed.toFixed(0)} in this time); median rollout ${(p.rolloutP50 / 1000).toFixed(1)} s`,
  });
  rows.push({
    scenario: 'restart (wait)',
    subject: 'kubectl rollout restart deployment -n NS, then rollout status per Deployment, namespace by namespace',
    ...kw,
    note: `${kw.requests} requests = ${(kw.requests / (kw.ms / 1000)).toFixed(2)} req/s`,
    rssNote: 'max of its processes (one at a time)',
  });
  // The least any client can take at this limit: one PATCH per Deployment plus the plugin's discovery lists.
  const floorMs = ((expected + discoveryRequests) / qps) * 1000;
  targets.push({
    target: 'restart (wait): kubectl loop wall / plugin wall',
    figure: kw.ms / p.ms,
    limit: '≥ 5',
    met: kw.ms / p.ms >= 5,
    why: {
      kind: 'restart',
      qps,
      burst,
      concurrency,
      expected,
      floorS: floorMs / 1000,
      kubectlS: kw.ms / 1000,
      kubectlRate: kw.requests / (kw.ms / 1000),
      kubectlRequests: kw.requests,
      pluginS: p.ms / 1000,
      pluginRequests: p.requests,
      pluginCpuS: p.cpuMs / 1000,
      pluginRssMB: (p.rssKiB * 1024) / 1e6,
      rolloutP50S: p.rolloutP50 / 1000,
    },
  });
  targets.push({
    target: `restart: plugin's request rate within --qps ${qps} --burst ${burst}`,
    figure: p.requests,
    limit: `≤ ${p.allowed.toFixed(0)} (burst + qps × wall)`,
    met: p.requests <= p.allowed,
  });
  targets.push({
    target: `restart: rollouts in flight within --concurrency ${concurrency}`,
    figure: p.inFlight,
    limit: `≤ ${concurrency}`,
    met: p.inFlight <= concurrency,
  });

  // Informative: the plugin at its own defaults (--qps 50 --burst 100 --concurrency 10), not at kubectl's limit.
  const pd = await runPlugin(true, false);
  rows.push({
    scenario: 'restart (wait)',
    subject: 'kubectl istio-ca restart --workloads-only (defaults: --qps 50 --burst 100 --concurrency 10)',
    ...pd,
    note: `${expected} restarted; ≤ ${pd.inFlight} at once; ${pd.rate.toFixed(2)} req/s; median rollout ${(pd.rolloutP50 / 1000).toFixed(1)} s`,
  });
  targets.push({
    target: 'restart (wait): kubectl loop wall / plugin wall at its defaults (informative)',
    figure: kw.ms / pd.ms,
    limit: 'n/a',
    met: null,
  });
  // Waiting by watch (issue 15): at the defaults, half kubectl's wall time or less; requests no more than the patches,
  // the pod pages of discovery and 2 per watched kind (its list and its watch; only Deployments here), re-lists aside;
  // little CPU and memory in the plugin. At kubectl's limit: within 10 % of the budget floor, patches / qps.
  const watchedKinds = 1;
  const requestBound = expected + podPages + 2 * watchedKinds;
  targets.push({
    target: 'restart (wait) at its defaults: plugin wall / kubectl loop wall',
    figure: pd.ms / kw.ms,
    limit: '≤ 0.5',
    met: pd.ms / kw.ms <= 0.5,
    why: {
      kind: 'restart-watch-wall',
      pluginS: pd.ms / 1000,
      kubectlS: kw.ms / 1000,
      rolloutP50S: pd.rolloutP50 / 1000,
      expected,
      concurrency: 10,
    },
  });
  // Issue 15 sets CPU and peak RSS for the run at the defaults; at kubectl's rate it asks for requests within the
  // limit and the wall near the budget floor (below). The same figures at --qps 5 are shown, as information.
  for (const [label, run, judged] of [
    ['at its defaults', pd, true],
    [`at --qps ${qps} --burst ${burst}`, p, false],
  ]) {
    targets.push({
      target: `restart (wait) ${label}: plugin's API requests (counted by the API server)`,
      figure: run.requests,
      limit: `≤ ${requestBound} (${expected} patches + ${podPages} pod pages + 2 × ${watchedKinds} watched kind, no re-list)`,
      met: run.requests <= requestBound,
    });
    const cpuS = run.cpuMs / 1000;
    const rssMB = (run.rssKiB * 1024) / 1e6;
    targets.push({
      target: `restart (wait) ${label}: plugin CPU (s, user + sys)${judged ? '' : ' (informative)'}`,
      figure: cpuS,
      limit: judged ? '≤ 3' : 'n/a (≤ 3 is set at the defaults)',
      met: judged ? cpuS <= 3 : null,
    });
    targets.push({
      target: `restart (wait) ${label}: plugin peak RSS (MB)${judged ? '' : ' (informative)'}`,
      figure: rssMB,
      limit: judged ? '≤ 120' : 'n/a (≤ 120 is set at the defaults)',
      met: judged ? rssMB <= 120 : null,
    });
  }
  const budgetFloorS = expected / qps;
  targets.push({
    target: `restart (wait) at --qps ${qps} --burst ${burst}: plugin wall / request-budget floor (${expected} patches / ${qps} qps = ${budgetFloorS.toFixed(0)} s)`,
    figure: p.ms / 1000 / budgetFloorS,
    limit: '≤ 1.1',
    met: p.ms / 1000 / budgetFloorS <= 1.1,
  });
  targets.find((t) => t.why?.kind === 'restart').why.defaults = {
    s: pd.ms / 1000,
    cpuS: pd.cpuMs / 1000,
    rssMB: (pd.rssKiB * 1024) / 1e6,
    requests: pd.requests,
    rolloutP50S: pd.rolloutP50 / 1000,
  };

  if (withNoWait) {
    const pn = await runPlugin(false);
    const kn = await runKubectl('nowait');
    rows.push({
      scenario: 'restart (patch only)',
      subject: `kubectl istio-ca restart --workloads-only --no-wait --qps ${qps} --burst ${burst}`,
      ...pn,
      note: `${expected} patched; ${pn.rate.toFixed(2)} req/s`,
    });
    rows.push({
      scenario: 'restart (patch only)',
      subject: 'kubectl rollout restart deployment -n NS, namespace by namespace',
      ...kn,
      note: `${(kn.requests / (kn.ms / 1000)).toFixed(2)} req/s`,
      rssNote: 'max of its processes (one at a time)',
    });
    targets.push({
      target: 'restart (patch only): kubectl loop wall / plugin wall (informative)',
      figure: kn.ms / pn.ms,
      limit: 'n/a',
      met: null,
    });
    await settle();
  }
  return { rows, targets };
}

/** generate (RSA 4096 root + intermediate) against openssl-ca.sh; `n` runs each, interleaved. */
export async function generate(ctx, { n }) {
  const { plugin, root, log } = ctx;
  const dir = join(ctx.stateDir, 'generate');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const p = [];
  const o = [];
  for (let i = 0; i < n; i++) {
    const a = await plugin(['generate', '--out-dir', join(dir, `plugin-${i}`), '--force']);
    const b = await measure('bash', [join(root, 'bench', 'openssl-ca.sh'), join(dir, `openssl-${i}`)]);
    if (b.code !== 0) throw new Error(`openssl-ca.sh failed: ${b.stderr}`);
    p.push(a);
    o.push(b);
  }
  rmSync(dir, { recursive: true, force: true });
  log(
    `generate: plugin mean ${mean(p.map((r) => r.ms)).toFixed(0)} ms, openssl mean ${mean(o.map((r) => r.ms)).toFixed(0)} ms over ${n} runs`,
  );
  const pm = mean(p.map((r) => r.ms));
  const om = mean(o.map((r) => r.ms));
  const rows = [
    {
      scenario: 'generate RSA 4096',
      subject: 'kubectl istio-ca generate',
      ms: pm,
      cpuMs: mean(p.map((r) => r.cpuMs)),
      rssKiB: Math.max(...p.map((r) => r.rssKiB)),
      note: `mean of ${n}; median ${median(p.map((r) => r.ms)).toFixed(0)} ms; range ${Math.min(...p.map((r) => r.ms)).toFixed(0)}–${Math.max(...p.map((r) => r.ms)).toFixed(0)} ms`,
    },
    {
      scenario: 'generate RSA 4096',
      subject: 'openssl genrsa + req + x509, root and intermediate',
      ms: om,
      cpuMs: mean(o.map((r) => r.cpuMs)),
      rssKiB: Math.max(...o.map((r) => r.rssKiB)),
      note: `mean of ${n}; median ${median(o.map((r) => r.ms)).toFixed(0)} ms; range ${Math.min(...o.map((r) => r.ms)).toFixed(0)}–${Math.max(...o.map((r) => r.ms)).toFixed(0)} ms`,
      rssNote: 'max of its processes',
    },
  ];
  const targets = [
    {
      target: 'generate wall / openssl wall (means; RSA key generation time varies run to run)',
      figure: pm / om,
      limit: '≤ 1.5',
      met: pm / om <= 1.5,
    },
  ];
  return { rows, targets };
}

/** --help of the packaged binary against node -e 0 (PATH node, and the Node.js the binary embeds when cached). */
export async function startup(ctx, { binary, embeddedNode, n }) {
  const cmds = [
    ['packaged kubectl-istio_ca --help', binary, ['--help']],
    [`node -e 0 (PATH, ${process.version})`, process.execPath, ['-e', '0']],
  ];
  if (embeddedNode)
    cmds.push([`node -e 0 (${embeddedNode.version}, the Node.js the binary embeds)`, embeddedNode.path, ['-e', '0']]);
  const times = cmds.map(() => []);
  const rss = cmds.map(() => []);
  const cpu = cmds.map(() => []);
  for (let i = 0; i < n + 3; i++) {
    for (let j = 0; j < cmds.length; j++) {
      const r = await measure(cmds[j][1], cmds[j][2], { keepStdout: false });
      if (r.code !== 0) throw new Error(`${cmds[j][0]} exited ${r.code}`);
      if (i >= 3) {
        times[j].push(r.ms);
        rss[j].push(r.rssKiB);
        cpu[j].push(r.cpuMs);
      }
    }
  }
  const med = times.map(median);
  ctx.log(`start-up: ${cmds.map(([l], j) => `${l} ${med[j].toFixed(0)} ms`).join(', ')}`);
  const rows = cmds.map(([label], j) => ({
    scenario: 'start-up',
    subject: label,
    ms: med[j],
    rssKiB: median(rss[j]),
    cpuMs: median(cpu[j]),
    note: `median of ${n} (after 3 warm-ups), interleaved; best ${Math.min(...times[j]).toFixed(0)} ms`,
  }));
  const targets = [
    {
      target: '--help of the packaged binary / node -e 0 (PATH)',
      figure: med[0] / med[1],
      limit: '≤ 2.5',
      met: med[0] / med[1] <= 2.5,
    },
  ];
  if (embeddedNode)
    targets.push({
      target: `--help / node -e 0 of the same Node.js (${embeddedNode.version}) (informative)`,
      figure: med[0] / med[2],
      limit: 'n/a',
      met: null,
    });
  return { rows, targets };
}
