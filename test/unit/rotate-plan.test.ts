/**
 * The rotation planner, exhaustively: every kind of rotation, resume from each phase, multi-cluster lockstep,
 * prechecks, and the byte rule istiod applies to root changes before 1.30. Pure: no cluster, no clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BundleData } from '../../src/ca/bundle.js';
import type { ClusterInput, MeshFacts } from '../../src/rotate/facts.js';
import { planRotation, type PlanOptions, type RotationPlan } from '../../src/rotate/plan.js';
import { rootTransitionAccepted } from '../../src/rotate/phases.js';
import { versionFromImage } from '../../src/rotate/prechecks.js';
import { makeCas } from './support/ca-fixtures.js';

const cas = await makeCas(['a', 'b', 'a2'], {
  intermediateOf: { a2: 'a' },
  clusters: { ma: ['east', 'west'], mb: ['east', 'west'] },
});
const A = await cas.bundle('a');
const B = await cas.bundle('b');
const A2 = await cas.bundle('a2');
const rootA = cas.fp(A['root-cert.pem']);
const rootB = cas.fp(B['root-cert.pem']);
const signerA = cas.fp(A['ca-cert.pem']);
const signerB = cas.fp(B['ca-cert.pem']);

function mesh(o: Partial<MeshFacts> = {}): MeshFacts {
  return {
    istiods: [{ name: 'istiod', revision: null, multiRoot: true, version: '1.28.0', image: 'istio/pilot:1.28.0' }],
    push: { enabled: 0, total: 6 },
    restart: { istiod: 1, gateways: 1, workloads: 4, pods: 8 },
    attention: [],
    cacertsOwner: null,
    notes: [],
    ...o,
  };
}

function input(current: BundleData, next: BundleData, o: Partial<ClusterInput> = {}): ClusterInput {
  return {
    context: 'c1',
    selfSigned: false,
    current,
    layout: 'cacerts',
    recorded: null,
    next,
    mesh: mesh(),
    ...o,
  };
}

const opts = (o: Partial<PlanOptions> = {}): PlanOptions => ({
  resume: false,
  allowDowntime: false,
  proxyUpdate: 'auto',
  concurrency: 5,
  kubeletSyncMs: 75_000,
  ...o,
});

const phases = (p: RotationPlan) => p.phases.map((x) => x.phase);
const step = (p: RotationPlan, phase: string, context = 'c1') => {
  const s = p.phases.find((x) => x.phase === phase)?.steps.find((x) => x.context === context);
  assert.ok(s, `no step ${phase} for ${context}`);
  return s;
};
const refused = (fn: () => unknown, re: RegExp) => {
  assert.throws(fn, (e: Error & { exitCode?: number }) => e.exitCode === 2 && re.test(e.message));
};

test('intermediate-only: one switch-signer phase, root-cert.pem byte-identical, no restarts, verify as the last gate', () => {
  const p = planRotation([input(A, A2)], opts());
  assert.equal(p.kind, 'intermediate-only');
  assert.deepEqual(phases(p), ['switch-signer']);
  const s = step(p, 'switch-signer');
  assert.ok(s.bundle['root-cert.pem']?.equals(A['root-cert.pem']));
  assert.ok(s.bundle['ca-cert.pem']?.equals(A2['ca-cert.pem']));
  assert.equal(s.delivery, 'none');
  assert.equal(s.restarts, 0);
  assert.equal(p.restarts, 0);
  assert.deepEqual(s.gates, ['istiod-ready', 'namespaces-trust', 'verify-passes']);
});

test('root rotation without the push: trust-both, switch-signer, drop-old, each with its bundle, expectation and restarts', () => {
  const p = planRotation([input(A, B)], opts());
  assert.equal(p.kind, 'root-rotation');
  assert.deepEqual(phases(p), ['trust-both', 'switch-signer', 'drop-old']);
  const tb = step(p, 'trust-both');
  assert.equal(cas.fp(tb.bundle['ca-cert.pem']), signerA, 'trust-both keeps signing with A');
  assert.deepEqual(tb.roots, [rootA, rootB]);
  assert.ok(tb.bundle['root-cert.pem']?.subarray(0, A['root-cert.pem'].length).equals(A['root-cert.pem']));
  assert.deepEqual(tb.expect, { roots: [rootA, rootB], exactRoots: false, signer: null });
  assert.deepEqual(tb.gates, ['istiod-ready', 'namespaces-trust', 'proxies-trust']);
  const ss = step(p, 'switch-signer');
  assert.equal(ss.signer, signerB);
  assert.ok(ss.bundle['root-cert.pem']?.includes(tb.bundle['root-cert.pem']), 'trust-both bytes kept');
  assert.notDeepEqual(ss.bundle['root-cert.pem'], tb.bundle['root-cert.pem'], 'bytes change so the bundle is pushed');
  assert.deepEqual(ss.expect, { roots: [rootA, rootB], exactRoots: false, signer: signerB });
  assert.deepEqual(ss.gates, ['istiod-ready', 'namespaces-trust', 'proxies-signed-by']);
  const drop = step(p, 'drop-old');
  assert.ok(drop.bundle['root-cert.pem']?.equals(B['root-cert.pem']));
  assert.deepEqual(drop.expect, { roots: [rootB], exactRoots: true, signer: signerB });
  assert.deepEqual(drop.gates, ['istiod-ready', 'namespaces-trust', 'verify-passes']);
  for (const s of [tb, ss]) {
    assert.equal(s.delivery, 'restart');
    assert.equal(s.restarts, 6, 'istiod + gateway + 4 workloads');
  }
  assert.equal(drop.delivery, 'none');
  assert.equal(p.restarts, 12);
  // 2 syncs of 75 s + 3 restart waves of 30 s twice + 3 phases of 5 s, 1 sync for drop-old
  assert.equal(p.estimate.seconds, 3 * 75 + 2 * 90 + 15);
  assert.match(p.notes.join('\n'), /restarts istiod, the gateways and every sidecar workload after trust-both/);
  for (const s of p.phases.flatMap((x) => x.steps)) assert.ok(!JSON.stringify(s.expect).includes('PRIVATE'));
});

test('root rotation with PROXY_CONFIG_XDS_AGENT on every proxy: the push, no restarts', () => {
  const p = planRotation([input(A, B, { mesh: mesh({ push: { enabled: 6, total: 6 } }) })], opts());
  assert.deepEqual(
    p.phases.map((x) => x.steps[0]?.delivery),
    ['push', 'push', 'none'],
  );
  assert.equal(p.restarts, 0);
  assert.match(p.notes.join('\n'), /by push, verified by reading them/);
});

test('root rotation with the push on only some proxies: restarts; --no-restart-workloads is refused', () => {
  const partial = input(A, B, { mesh: mesh({ push: { enabled: 5, total: 6 } }) });
  assert.equal(step(planRotation([partial], opts()), 'trust-both').delivery, 'restart');
  refused(
    () => planRotation([partial], opts({ proxyUpdate: 'push' })),
    /1 of 6 sidecars do not get PROXY_CONFIG_XDS_AGENT/,
  );
});

test('self-signed to plugged: plug the self-signed CA and restart the control plane, then the three phases', () => {
  const p = planRotation([input(A, B, { selfSigned: true })], opts());
  assert.equal(p.kind, 'self-signed-to-plugged');
  assert.deepEqual(phases(p), ['plug-self-signed', 'trust-both', 'switch-signer', 'drop-old']);
  const plug = step(p, 'plug-self-signed');
  assert.equal(plug.delivery, 'restart-control-plane');
  assert.equal(plug.restarts, 2);
  assert.ok(plug.bundle['ca-cert.pem']?.equals(A['ca-cert.pem']));
});

test('old root bytes are kept verbatim (CRLF, text around the PEM) in every phase, so the pre-1.30 byte rule holds', () => {
  const crlf = Buffer.from(
    `# issued by the platform team\r\n${A['root-cert.pem'].toString().replace(/\n/g, '\r\n')}trailing words`,
  );
  const current = { ...A, 'root-cert.pem': crlf };
  const p = planRotation([input(current, B)], opts());
  let from: Buffer = crlf;
  for (const x of p.phases) {
    const to = x.steps[0].bundle['root-cert.pem'];
    assert.ok(rootTransitionAccepted(from, to, true), `${x.phase} passes the byte rule`);
    if (x.phase !== 'drop-old') assert.ok(to.includes(crlf), `${x.phase} holds the old file verbatim`);
    from = to;
  }
  // A re-serialised old root (what rotate did before) would be refused by istiod before 1.30:
  const reencoded = Buffer.concat([A['root-cert.pem'], B['root-cert.pem']]);
  assert.equal(rootTransitionAccepted(crlf, reencoded, true), false);
  assert.equal(rootTransitionAccepted(crlf, reencoded, false), true, 'since 1.30 sets are compared');
});

test('tls.crt/tls.key/ca.crt clusters are planned in the cacerts view and written in their own layout', () => {
  const p = planRotation([input(A, B, { layout: 'tls' })], opts());
  for (const x of p.phases) assert.equal(x.steps[0].layout, 'tls');
});

for (const at of ['trust-both', 'switch-signer', 'drop-old'] as const) {
  test(`resume from ${at}: earlier phases done, ${at} written (gates still to pass), later bundles as first planned`, () => {
    const fresh = planRotation([input(A, B)], opts());
    const target = fresh.targets.c1;
    const written = step(fresh, at).bundle;
    const recorded = { phase: at, target, kind: 'root-rotation' };
    const p = planRotation([input(written, B, { recorded })], opts({ resume: true }));
    assert.deepEqual(phases(p), ['trust-both', 'switch-signer', 'drop-old']);
    const order = ['trust-both', 'switch-signer', 'drop-old'];
    for (const ph of order) {
      const s = step(p, ph);
      const i = order.indexOf(ph);
      const expected = i < order.indexOf(at) ? 'done' : ph === at ? 'written' : 'pending';
      assert.equal(s.status, expected, ph);
      if (expected !== 'done')
        assert.ok(s.bundle['root-cert.pem']?.equals(step(fresh, ph).bundle['root-cert.pem']), ph);
      if (expected === 'done') assert.equal(s.restarts, 0);
    }
    refused(() => planRotation([input(written, B, { recorded })], opts()), /a rotation is in progress \(phase/);
    refused(() => planRotation([input(written, A2, { recorded })], opts({ resume: true })), /targets another bundle/);
  });
}

test('resume from plug-self-signed: the plug is re-delivered (istiod restarted), then the three phases', () => {
  const fresh = planRotation([input(A, B, { selfSigned: true })], opts());
  const recorded = { phase: 'plug-self-signed', target: fresh.targets.c1, kind: 'self-signed-to-plugged' };
  const p = planRotation([input(A, B, { recorded })], opts({ resume: true }));
  assert.deepEqual(
    p.phases.map((x) => `${x.phase}:${x.steps[0].status}`),
    ['plug-self-signed:written', 'trust-both:pending', 'switch-signer:pending', 'drop-old:pending'],
  );
});

test('resume with nothing in progress is refused; a completed rotation to the same bundle is all done', () => {
  refused(() => planRotation([input(A, B)], opts({ resume: true })), /no rotation in progress to resume/);
  const done = planRotation([input(B, B)], opts());
  assert.ok(done.phases.every((x) => x.steps.every((s) => s.status === 'done')));
  assert.equal(done.restarts, 0);
});

test('resume after the rotation recorded complete (killed after its last write): nothing to do, not refused', () => {
  const target = planRotation([input(A, B)], opts()).targets.c1;
  const recorded = { phase: 'complete', target, kind: 'root-rotation' };
  const p = planRotation([input(B, B, { recorded })], opts({ resume: true }));
  assert.equal(p.kind, 'root-rotation');
  assert.deepEqual(
    p.phases.map((x) => `${x.phase}:${x.steps[0].status}`),
    ['trust-both:done', 'switch-signer:done', 'drop-old:done'],
  );
  assert.equal(p.restarts, 0);
  const other = { phase: 'complete', target: 'another-bundle', kind: 'root-rotation' };
  refused(() => planRotation([input(B, B, { recorded: other })], opts({ resume: true })), /no rotation in progress/);
});

test('multi-cluster: each phase holds every cluster, in lockstep order, with each cluster its own intermediate', async () => {
  const ctxs = ['east', 'west'];
  const inputs = await Promise.all(
    ctxs.map(async (c) => input(await cas.bundle(`ma/${c}`), await cas.bundle(`mb/${c}`), { context: c })),
  );
  const p = planRotation(inputs, opts());
  assert.deepEqual(p.contexts, ctxs);
  assert.deepEqual(
    p.phases.map((x) => `${x.phase}:${x.steps.map((s) => s.context).join('+')}`),
    ['trust-both:east+west', 'switch-signer:east+west', 'drop-old:east+west'],
  );
  const e = step(p, 'switch-signer', 'east');
  const w = step(p, 'switch-signer', 'west');
  assert.notEqual(e.signer, w.signer, 'each cluster switches to its own intermediate');
  assert.deepEqual(e.roots, w.roots, 'under the same roots');
  assert.equal(p.restarts, 24);
  // interrupted with east at switch-signer and west still at trust-both
  const tEast = p.targets.east;
  const tWest = p.targets.west;
  const resumed = planRotation(
    [
      { ...inputs[0], current: e.bundle, recorded: { phase: 'switch-signer', target: tEast, kind: 'root-rotation' } },
      {
        ...inputs[1],
        current: step(p, 'trust-both', 'west').bundle,
        recorded: { phase: 'trust-both', target: tWest, kind: 'root-rotation' },
      },
    ],
    opts({ resume: true }),
  );
  assert.deepEqual(
    resumed.phases.map((x) => `${x.phase}:${x.steps.map((s) => `${s.context}=${s.status}`).join(',')}`),
    [
      'trust-both:east=done,west=written',
      'switch-signer:east=written,west=pending',
      'drop-old:east=pending,west=pending',
    ],
  );
});

test('multi-cluster: clusters that need different kinds of rotation are refused together', () => {
  refused(
    () => planRotation([input(A, A2, { context: 'east' }), input(A, B, { context: 'west' })], opts()),
    /different kinds of rotation \(intermediate-only, root-rotation\)/,
  );
});

test('prechecks refuse with exit 2 and say what to change; every refusal of every cluster at once', () => {
  const single = mesh({
    istiods: [{ name: 'istiod', revision: null, multiRoot: false, version: '1.28.0', image: null }],
  });
  refused(() => planRotation([input(A, B, { mesh: single })], opts()), /ISTIO_MULTIROOT_MESH=true \(istiod\)/);
  assert.equal(planRotation([input(A, B, { mesh: single })], opts({ allowDowntime: true })).kind, 'downtime-replace');
  assert.equal(
    planRotation([input(A, A2, { mesh: single })], opts()).kind,
    'intermediate-only',
    'an intermediate-only rotation needs no multi-root',
  );
  for (const v of ['1.24.4', '1.25.1'])
    refused(
      () =>
        planRotation(
          [
            input(A, B, {
              mesh: mesh({ istiods: [{ name: 'istiod', revision: null, multiRoot: true, version: v, image: null }] }),
            }),
          ],
          opts(),
        ),
      /istio\/istio#55793/,
    );
  refused(
    () =>
      planRotation(
        [
          input(A, B, {
            mesh: mesh({
              istiods: [{ name: 'istiod', revision: null, multiRoot: true, version: '1.19.3', image: null }],
            }),
          }),
        ],
        opts(),
      ),
    /needs Istio 1.20 or later/,
  );
  refused(() => planRotation([input(A, B, { mesh: mesh({ istiods: [] }) })], opts()), /no istiod Deployment/);
  for (const owner of [
    'Helm (label app.kubernetes.io/managed-by)',
    'Argo CD (annotation argocd.argoproj.io/tracking-id)',
  ])
    refused(() => planRotation([input(A, A2, { mesh: mesh({ cacertsOwner: owner }) })], opts()), /which would revert/);
  assert.throws(
    () =>
      planRotation(
        [
          input(A, B, { context: 'east', mesh: single }),
          input(A, B, {
            context: 'west',
            mesh: mesh({ cacertsOwner: 'Flux (label kustomize.toolkit.fluxcd.io/name)' }),
          }),
        ],
        opts(),
      ),
    (e: Error) =>
      /context east: istiod does not run/.test(e.message) &&
      /context west: secret cacerts is managed by Flux/.test(e.message),
  );
});

test('a second revision: both istiods must run multi-root, and the plan restarts both', () => {
  const two = mesh({
    istiods: [
      { name: 'istiod', revision: null, multiRoot: true, version: '1.28.0', image: null },
      { name: 'istiod-canary', revision: 'canary', multiRoot: false, version: '1.29.1', image: null },
    ],
    restart: { istiod: 2, gateways: 0, workloads: 3, pods: 3 },
  });
  refused(() => planRotation([input(A, B, { mesh: two })], opts()), /\(istiod-canary\)/);
  const ok = mesh({ ...two, istiods: two.istiods.map((i) => ({ ...i, multiRoot: true })) });
  assert.equal(step(planRotation([input(A, B, { mesh: ok })], opts()), 'trust-both').restarts, 5);
});

test('attention items and mesh notes are carried into the plan per context', () => {
  const p = planRotation(
    [
      input(A, B, {
        mesh: mesh({ attention: ['shop/job-1 (Job/x): no workload to roll'], notes: ['discoverySelectors: 3'] }),
      }),
    ],
    opts(),
  );
  assert.deepEqual(p.attention, ['c1: shop/job-1 (Job/x): no workload to roll']);
  assert.ok(p.notes.includes('c1: discoverySelectors: 3'));
});

test('the Istio version comes from the image tag, a digest or a custom tag says nothing', () => {
  assert.equal(versionFromImage('docker.io/istio/pilot:1.28.0'), '1.28.0');
  assert.equal(versionFromImage('gcr.io/istio-release/pilot:1.24.4-distroless'), '1.24.4');
  assert.equal(versionFromImage('localhost:5000/istio/pilot:1.30.1'), '1.30.1');
  assert.equal(versionFromImage('istio/pilot@sha256:abc'), null);
  assert.equal(versionFromImage('istio/pilot:latest'), null);
});
