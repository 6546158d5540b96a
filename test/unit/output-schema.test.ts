/**
 * -o json and -o yaml print one document per run, `{ apiVersion, kind, ...fields }`, valid against the committed
 * schema of its kind (schemas/*.schema.json, Ajv strict); -o name prints kubectl's kind/name lines where a command
 * names objects and is refused (exit 2, nothing done) where it does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { API_VERSION, DOCUMENT_KINDS, toDocument } from '../../src/output/documents.js';
import { runBackup } from '../../src/backup/run.js';
import { takeSnapshot } from '../../src/mesh/snapshot.js';
import { runChecks } from '../../src/verify/checks.js';
import { deriveStatus } from '../../src/status/run.js';
import { runReplace } from '../../src/replace/run.js';
import { restartedNames, type RestartResult, type RolloutItem } from '../../src/restart/run.js';
import { cli } from './support/run-cli.js';
import { checkDocument, outputFormat, schemas, SCHEMA_DIR } from './support/documents.js';
import { makeCas } from './support/ca-fixtures.js';
import { FakeMesh } from './support/fake-mesh.js';

const work = await mkdtemp(join(tmpdir(), 'istio-ca-schema-'));
test.after(() => rm(work, { recursive: true, force: true }));

test('one schema per kind of document, each compiled by Ajv in strict mode', async () => {
  const files = (await readdir(SCHEMA_DIR)).filter((f) => f.endsWith('.schema.json')).sort();
  assert.deepEqual(files, DOCUMENT_KINDS.map((k) => `${k}.schema.json`).sort());
  assert.deepEqual([...schemas().keys()].sort(), [...DOCUMENT_KINDS].sort());
  for (const f of files) {
    const s = JSON.parse(await readFile(join(SCHEMA_DIR, f), 'utf8'));
    assert.equal(s.properties.apiVersion.const, API_VERSION, f);
    assert.equal(s.additionalProperties, false, `${f}: a field the schema does not name is an error`);
    assert.deepEqual(s.required.slice(0, 2), ['apiVersion', 'kind'], f);
  }
});

test('the committed schemas are what the TypeScript types of the documents say (npm run schemas)', () => {
  const r = spawnSync(process.execPath, [join(dirname(SCHEMA_DIR), 'scripts', 'schemas.mjs'), '--check'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /10 kinds match the types/);
});

test('the schema check fails on a missing field, an unknown field, a wrong type and a wrong kind', async () => {
  const version = { apiVersion: API_VERSION, kind: 'VersionResult', version: '1.0.0', node: 'v24', platform: 'l/x' };
  checkDocument(version);
  const { platform: _p, ...missing } = version;
  assert.throws(() => checkDocument(missing), /must have required property 'platform'/);
  assert.throws(() => checkDocument({ ...version, extra: 1 }), /must NOT have additional properties/);
  assert.throws(() => checkDocument({ ...version, version: 1 }), /\/version must be string/);
  assert.throws(() => checkDocument({ ...version, kind: 'GenerateResult' }), /GenerateResult output does not match/);
  assert.throws(() => checkDocument({ version: '1' }), /output has no kind/);
  // A document without the envelope (what -o json printed before it had one) is refused.
  assert.throws(() => checkDocument({ version: '1.0.0', node: 'v24', platform: 'l/x' }), /no kind/);
});

test('-o json and -o yaml print the same document, envelope first, for version, generate and inspect', async () => {
  const dir = join(work, 'ec');
  const runs: [string, string[]][] = [
    ['VersionResult', ['version']],
    ['GenerateResult', ['generate', '-d', dir, '--kty', 'EC', '--cluster', 'east', '--cluster', 'west']],
    ['InspectBundleResult', ['inspect', join(dir, 'east')]],
    ['InspectFileResult', ['inspect', join(dir, 'root-cert.pem')]],
  ];
  for (const [kind, argv] of runs) {
    const json = await cli([...argv, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(doc).slice(0, 2), ['apiVersion', 'kind']);
    assert.equal(doc.apiVersion, API_VERSION);
    assert.equal(doc.kind, kind);
    checkDocument(doc);
    if (kind === 'GenerateResult') continue; // a second generate into the same folder is refused
    const yaml = await cli([...argv, '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(parseYaml(yaml.stdout), doc);
  }
  const stdin = await cli(['inspect', '-', '-o', 'json'], { stdin: await readFile(join(dir, 'root-cert.pem')) });
  assert.equal(JSON.parse(stdin.stdout).kind, 'InspectFileResult');
  const invalid = await cli(['inspect', join(dir, 'east', 'ca-key.pem'), '-o', 'json']);
  assert.equal(checkDocument(JSON.parse(invalid.stdout)).kind, 'InspectFileResult');
});

test('verify, status, backup, replace and rotate documents from a simulated mesh match their schemas', async () => {
  const cas = await makeCas(['a', 'b']);
  const A = await cas.bundle('a');
  const m = new FakeMesh({ cacerts: A });
  const now = m.clock.now();
  const snapshot = await takeSnapshot(m.kube, { istioNamespace: 'istio-system', now });
  const verify = checkDocument(toDocument('VerifyResult', runChecks(snapshot, now)));
  assert.equal(verify.passed, true);
  const status = deriveStatus(snapshot, now);
  checkDocument(toDocument('StatusResult', status));
  checkDocument(toDocument('StatusResult', { ...status, expiringWithin: [] }));
  const backup = await runBackup(m.kube, { outDir: join(work, 'backups'), namespace: 'istio-system' }, now);
  checkDocument(toDocument('BackupResult', backup));
  for (const dryRun of ['client', 'server', 'none'] as const) {
    const replaced = await runReplace(
      {
        fromDir: backup.path,
        namespace: 'istio-system',
        dryRun,
        backupDir: join(work, 'backups'),
        noBackup: true,
        allowRootChange: false,
        yes: true,
      },
      { client: m.kube, now: m.clock.now, notice: () => undefined, confirm: async () => true },
    );
    checkDocument(toDocument('ReplaceResult', replaced));
  }
  // rotate's documents are checked on every run of test/unit/rotate-execute.test.ts, restart's in restart.test.ts.
});

const item = (kind: string, name: string, status: RolloutItem['status']): RolloutItem => ({
  namespace: 'ns',
  kind,
  name,
  role: 'workload',
  status,
  message: '',
  hint: null,
  pods: 1,
  startedAt: null,
  finishedAt: null,
  durationMs: null,
});

test('restart -o name lists kubectl rollout restart names of the workloads it patched, control plane first', () => {
  const result = {
    controlPlane: [{ ...item('Deployment', 'istiod', 'restarted'), role: 'istiod' }],
    workloads: [
      item('Deployment', 'web', 'restarted'),
      item('StatefulSet', 'db', 'timeout'),
      item('DaemonSet', 'agent', 'dry-run'),
      item('Deployment', 'api', 'patched'),
      item('Deployment', 'broken', 'failed'),
      item('Deployment', 'left', 'skipped'),
    ],
  } as unknown as RestartResult;
  assert.deepEqual(restartedNames(result), [
    'deployment.apps/istiod',
    'deployment.apps/web',
    'statefulset.apps/db',
    'daemonset.apps/agent',
    'deployment.apps/api',
  ]);
});

const refusedName: [string, string[]][] = [
  ['generate', ['generate', '-d', join(work, 'not-made')]],
  ['inspect', ['inspect', join(work, 'ec')]],
  ['verify', ['verify']],
  ['status', ['status']],
  ['rotate', ['rotate', '-f', join(work, 'ec'), '--dry-run']],
  ['version', ['version']],
];
for (const [name, argv] of refusedName) {
  test(`${name} -o name is refused with exit 2 before anything runs: it names no objects`, async () => {
    const r = await cli([...argv, '-o', 'name', '--kubeconfig', join(work, 'no-such-kubeconfig')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${name} names no Kubernetes objects; -o name applies to backup, replace`));
    assert.equal(r.stdout, '');
  });
}

test('-o name reaches backup, replace and restart (past the -o check: they then need a cluster)', async () => {
  for (const argv of [
    ['backup', '-d', work],
    ['replace', '-f', work, '--dry-run'],
    ['restart', '--dry-run'],
  ]) {
    const r = await cli([...argv, '-o', 'name', '--kubeconfig', join(work, 'no-such-kubeconfig')]);
    assert.doesNotMatch(r.stderr, /-o name/, argv.join(' '));
    assert.notEqual(r.code, 0);
  }
  assert.equal(existsSync(join(work, 'not-made')), false, 'generate -o name wrote nothing');
});

test('completion takes no -o: a script is not a document', async () => {
  for (const o of ['json', 'yaml', 'name']) {
    const r = await cli(['completion', 'bash', '-o', o]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`completion prints a script; -o ${o} does not apply to it`));
    assert.equal(r.stdout, '');
  }
});

test('the -o of a command line is read as yargs reads it', () => {
  assert.equal(outputFormat(['version', '-o', 'json']), 'json');
  assert.equal(outputFormat(['version', '-ojson']), 'json');
  assert.equal(outputFormat(['version', '-o=yaml']), 'yaml');
  assert.equal(outputFormat(['version', '--output', 'yaml']), 'yaml');
  assert.equal(outputFormat(['version', '--output=name']), 'name');
  assert.equal(outputFormat(['backup', '--out-dir', 'x']), 'table');
});
