// The single executable: esbuild bundles the CLI into lazily loaded CommonJS chunks behind a small loader, the
// embedded Node.js version turns them into a single-executable-application blob (the loader as main script, the
// chunks as assets), and postject injects the blob into a copy of that Node binary.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { runNode } from './node-dist.mjs';
import { stringWidthPlugin } from './string-width.mjs';

const require = createRequire(import.meta.url);

/** The fuse that Node.js looks for to know a blob was injected (the same in every Node version with SEA). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Bundles config.build.main into workDir/app/: esbuild splits the program at its dynamic import()s into an ES module
 * entry (main.js) and chunks, which are then turned into CommonJS one by one (a dynamic import becomes a require()
 * inside a promise). The executable's main script is loader.cjs, which compiles a chunk from the executable's assets
 * only when it is first required: `--help` compiles the CLI and its flags, not the certificate core (about 370 KiB)
 * nor the Kubernetes client (about 3.5 MiB). import.meta.url (yargs and others use it to find their own directory)
 * becomes the file URL of the executable.
 */
export async function bundle(config, workDir) {
  const esbuild = await import('esbuild');
  const esmDir = join(workDir, 'esm');
  const appDir = join(workDir, 'app');
  rmSync(esmDir, { recursive: true, force: true });
  rmSync(appDir, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: config.root,
    entryPoints: { main: config.build.main },
    outdir: esmDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: config.build.bundle.target,
    minify: config.build.bundle.minify === true,
    keepNames: true,
    legalComments: 'none', // the licences go to THIRD-PARTY-NOTICES in the archive
    define: { 'import.meta.url': IMPORT_META_URL },
    chunkNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    plugins: [stringWidthPlugin()],
  });
  const chunks = [];
  for (const [rel, out] of Object.entries(result.metafile.outputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = join(config.root, rel);
    const name = basename(file);
    // A chunk made for import() of a CommonJS module (yaml, say) is `export default require_x()`: as CommonJS it
    // must export that module's exports, so that `const { parse } = await import('yaml')` finds parse.
    const cjsWrapper = out.entryPoint !== undefined && result.metafile.inputs[out.entryPoint]?.format === 'cjs';
    if (cjsWrapper && (out.exports.length !== 1 || out.exports[0] !== 'default'))
      throw new Error(`${name}: unexpected exports ${out.exports}`);
    const { code } = await esbuild.transform(readFileSync(file, 'utf8'), {
      loader: 'js',
      format: 'cjs',
      platform: 'node',
      target: config.build.bundle.target,
      supported: { 'dynamic-import': false },
      minify: config.build.bundle.minify === true,
      keepNames: true,
      sourcefile: name,
    });
    writeFileSync(join(appDir, name), cjsWrapper ? `${code}module.exports = module.exports.default;\n` : code);
    chunks.push(name);
  }
  if (!chunks.includes('main.js')) throw new Error('esbuild wrote no main.js');
  const held = SNAPSHOT_ENTRIES.map((entry) => {
    const out = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === entry);
    if (!out) throw new Error(`esbuild made no chunk for ${entry} (SNAPSHOT_ENTRIES)`);
    return basename(out[0]);
  });
  const loader = join(appDir, 'loader.cjs');
  writeFileSync(loader, LOADER.replace('[/*SNAPSHOT_CHUNKS*/]', JSON.stringify(held)));
  writeFileSync(join(workDir, 'meta.json'), JSON.stringify(result.metafile));
  return { loader, dir: appDir, chunks, metafile: result.metafile };
}

const IMPORT_META_URL = '__istio_ca_import_meta_url';

/**
 * Modules loaded lazily that the startup snapshot holds all the same: generate's (the certificate core, @peculiar/x509
 * and asn1js, about 460 KiB), whose compiling and first run cost generate about 120 ms of CPU, more than its key
 * generation; the snapshot grows by about 2 MiB, which --help pays for in deserializing (about 10-20 ms).
 */
const SNAPSHOT_ENTRIES = ['src/generate/run.ts'];

/**
 * The executable's main script. Chunks come from the executable's assets (or, run with plain node for debugging,
 * from the files beside it) and are compiled on first require; other ids are Node built-ins.
 * ISTIO_CA_TRACE_CHUNKS=1 lists on stderr each chunk as it is compiled (the release tests check what --help loads).
 */
const LOADER = `'use strict';
const { pathToFileURL } = require('node:url');
// Built as a V8 startup snapshot (sea-config useSnapshot, where the blob is made by the target's own Node.js): the
// chunks main.js needs are run at build time, read from the files beside this script, and the CLI starts from the
// heap they left (see startFromSnapshot). Otherwise every chunk is compiled when first required.
let building = require('node:v8').startupSnapshot.isBuildingSnapshot();
let sea;
let inSea = false;
const here = (name) => require('node:path').join(__dirname, name);
const read = (name) => (inSea ? sea.getAsset(name, 'utf8') : require('node:fs').readFileSync(here(name), 'utf8'));
// V8 code cache of each chunk, made at build time by running the CLI (see produceCodeCache): V8 checks its version,
// flags and the source, and compiles as usual when the cache does not fit (cachedDataRejected).
// A snapshot blob carries none (makeBlob): asking would only throw ERR_SEA_ASSET_NOT_FOUND once per chunk.
let fromSnapshot = false;
const readCache = (name) => {
  if (building || fromSnapshot) return undefined;
  try {
    return Buffer.from(inSea ? sea.getRawAsset(name + '.cache') : require('node:fs').readFileSync(here(name + '.cache')));
  } catch {
    return undefined;
  }
};
let self = __filename;
let metaUrl = pathToFileURL(self).href;
let trace = false;
let produce;
const cache = new Map();
const scripts = new Map();
/** What differs from run to run (the environment, whether this is the executable): read when the CLI starts. */
function begin() {
  sea = require('node:sea');
  inSea = sea.isSea();
  if (inSea) self = process.execPath;
  metaUrl = pathToFileURL(self).href;
  trace = process.env.ISTIO_CA_TRACE_CHUNKS === '1';
  produce = process.env.ISTIO_CA_PRODUCE_CODE_CACHE;
  if (produce) process.on('exit', () => {
    for (const [name, script] of scripts) require('node:fs').writeFileSync(require('node:path').join(produce, name + '.cache'), script.createCachedData());
  });
}
function load(name) {
  let mod = cache.get(name);
  if (mod) return mod.exports;
  mod = { exports: {} };
  cache.set(name, mod);
  const code = read(name);
  const wrapped = '(function (exports, require, module, __filename, __dirname, ${IMPORT_META_URL}) {' + code + '\\n})';
  if (building) {
    // A vm.Script would stay in the heap as a handle the snapshot cannot hold; eval leaves only the function.
    (0, eval)(wrapped + '\\n//# sourceURL=' + name).call(mod.exports, mod.exports, chunkRequire, mod, self, require('node:path').dirname(self), metaUrl);
    return mod.exports;
  }
  const cachedData = produce ? undefined : readCache(name);
  const script = new (require('node:vm').Script)(wrapped, { filename: self + '/' + name, cachedData });
  if (trace) process.stderr.write('chunk ' + name + ' ' + Buffer.byteLength(code) + (cachedData ? (script.cachedDataRejected ? ' cache-rejected' : ' cached') : '') + '\\n');
  // Kept only to write code caches at build time: otherwise each Script would stay alive with its compiled code.
  if (produce) scripts.set(name, script);
  const fn = script.runInThisContext();
  fn.call(mod.exports, mod.exports, chunkRequire, mod, self, require('node:path').dirname(self), metaUrl);
  return mod.exports;
}
function chunkRequire(id) {
  if (id.startsWith('./')) return load(id.slice(2));
  if (id !== 'punycode') return require(id);
  // The Kubernetes client's URL library requires the punycode built-in, which warns (DEP0040) when required from
  // outside node_modules, as bundled code is: keep that warning from users.
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return require(id);
  } finally {
    process.noDeprecation = quiet;
  }
}
/**
 * At build time: runs the chunks main.js requires (yargs, the commands, their flags; not main.js, which runs the CLI)
 * and those of SNAPSHOT_ENTRIES (generate's certificate core), so that the snapshot holds them ready. Intl.Segmenter
 * objects (string-width makes them when loaded) hold ICU state a snapshot cannot keep: while building they are made
 * lazily, and emptied before the heap is written.
 */
function startFromSnapshot() {
  const Segmenter = Intl.Segmenter;
  const lazy = [];
  Intl.Segmenter = class LazySegmenter {
    constructor(...args) {
      this.args = args;
      this.real = undefined;
      lazy.push(this);
    }
    segment(text) {
      return (this.real ??= new Segmenter(...this.args)).segment(text);
    }
  };
  const v8 = require('node:v8');
  v8.startupSnapshot.addSerializeCallback(() => {
    for (const l of lazy) l.real = undefined;
    Intl.Segmenter = Segmenter;
  });
  for (const m of read('main.js').matchAll(/require\\("\\.\\/([^"]+)"\\)/g)) load(m[1]);
  // Chunks main.js loads lazily that the snapshot holds too (SNAPSHOT_ENTRIES): only run, none of them acts at load.
  for (const name of [/*SNAPSHOT_CHUNKS*/]) load(name);
  const held = [...cache.keys()].map((name) => name + ' ' + Buffer.byteLength(read(name)));
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    building = false; // the heap was saved while building
    fromSnapshot = true;
    begin();
    if (trace) for (const h of held) process.stderr.write('chunk ' + h + ' snapshot\\n');
    load('main.js');
  });
}
if (building) startFromSnapshot();
else {
  begin();
  load('main.js');
}
`;

const LICENSE_NAMES = /^(licen[cs]e|copying|notice)(\.(md|txt|markdown))?$/i;

/** THIRD-PARTY-NOTICES: the licence of every npm package in the bundle, and of the embedded Node.js. */
export function thirdPartyNotices(config, metafile, nodeLicenseFile, nodeVersion) {
  const pkgs = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    // A plugin's module (`string-width-ascii:/abs/path`, see string-width.mjs) wraps a package that is an input too.
    if (/^[\w-]{2,}:/.test(input)) continue;
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) pkgs.set(m[1], true);
  }
  const parts = [
    `Third-party software in ${config.build.binary} ${config.version}\n`,
    `The executable embeds Node.js ${nodeVersion} and the npm packages below, each under its own licence.\n`,
  ];
  const sections = [];
  for (const dir of [...pkgs.keys()].sort()) {
    const abs = join(config.root, dir);
    const meta = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8'));
    const licFile = readdirSync(abs)
      .filter((f) => LICENSE_NAMES.test(f))
      .sort()[0];
    const text = licFile
      ? readFileSync(join(abs, licFile), 'utf8').trim()
      : `(no licence file; package.json says: ${meta.license ?? 'unknown'})`;
    sections.push(`${meta.name} ${meta.version} (${meta.license ?? 'see below'})\n\n${text}\n`);
  }
  if (nodeLicenseFile) sections.unshift(`Node.js ${nodeVersion}\n\n${readFileSync(nodeLicenseFile, 'utf8').trim()}\n`);
  const rule = `\n${'='.repeat(78)}\n\n`;
  return parts.join('') + rule + sections.join(rule);
}

/**
 * Runs the bundled CLI with `generatorNode` (the Node version of the binary) on what users run first (--help,
 * generate, a cluster command that fails to connect) and keeps V8's code cache of every chunk it compiled, functions
 * compiled while running included. Returns the cache file names, to ship as assets beside their chunks.
 */
function produceCodeCache(generatorNode, app) {
  const out = join(app.dir, '.code-cache');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const start = [app.loader];
  const tmp = join(out, 'work');
  const runs = [
    ['--help'],
    ['generate', '--kty', 'RSA', '--size', '2048', '-d', join(tmp, 'rsa')],
    ['generate', '--kty', 'EC', '-d', join(tmp, 'ec')],
    ['inspect', join(tmp, 'rsa')],
    ['status', '--kubeconfig', join(tmp, 'no-kubeconfig'), '--request-timeout', '1s'],
  ];
  const caches = new Map();
  for (const [i, args] of runs.entries()) {
    const runDir = join(out, `${i}-${args[0].replace(/\W/g, '')}`);
    mkdirSync(runDir);
    try {
      runNode(generatorNode, [...start, ...args], { env: { ISTIO_CA_PRODUCE_CODE_CACHE: runDir }, cwd: out });
    } catch {
      // a failing run (status without a cluster) still leaves the cache of what it compiled
    }
    // The first run that compiled a chunk wins; later runs add the chunks it did not load.
    for (const f of readdirSync(runDir)) if (!caches.has(f)) caches.set(f, join(runDir, f));
  }
  const names = [];
  for (const [f, path] of caches) {
    copyFileSync(path, join(app.dir, f));
    names.push(f);
  }
  rmSync(out, { recursive: true, force: true });
  return names;
}

/** V8 flags every packaged binary starts with (sea-config execArgv: Node.js 24.6+, and 22.x as released here). */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=2'];

/**
 * Makes the SEA blob of `app` (from bundle()) with `generatorNode`, the same Node version as the binary. With
 * `snapshot`, the blob holds a V8 startup snapshot of the loaded CLI: only for a target whose Node.js binary is the
 * generator itself (a snapshot is tied to the binary that made it), i.e. linux/amd64.
 */
export function makeBlob(generatorNode, app, blobFile, { disableWarning, snapshot = false }) {
  // V8 rejects a code cache in an isolate started from a user snapshot (measured: every chunk cache-rejected, even
  // one made from the same snapshot), so the snapshot blob carries none: its chunks compile when first required.
  const caches = snapshot ? [] : produceCodeCache(generatorNode, app);
  const dir = dirname(blobFile);
  const seaConfig = join(dir, `${basename(blobFile)}.sea-config.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: app.loader,
      output: blobFile,
      disableExperimentalSEAWarning: disableWarning,
      // Node's code cache would tie the blob to the platform that made it: the chunks carry their own V8 code cache
      // instead, which V8 drops where it does not fit. The snapshot is made only where the generator is the target.
      useSnapshot: snapshot,
      useCodeCache: false,
      // V8's young generation grows to 16-32 MB per semi-space by default; the plugin's garbage is short-lived list
      // pages and watch events, for which 2 MB scavenges as fast and keeps peak RSS ~20-35 MB lower (bench/RESULTS.md).
      // The same flag is on bin/kubectl-istio_ca's shebang line. NODE_OPTIONS still extends it (execArgvExtension env).
      execArgv: SEA_EXEC_ARGV,
      assets: Object.fromEntries([...app.chunks, ...caches].map((name) => [name, join(app.dir, name)])),
    }),
  );
  runNode(generatorNode, ['--experimental-sea-config', seaConfig], { cwd: dir });
  if (!existsSync(blobFile)) throw new Error(`${generatorNode} made no blob at ${blobFile}`);
  return blobFile;
}

/** Copies `nodeBinary` to `out` and injects `blobFile` into it. */
export async function inject(nodeBinary, blobFile, out, os) {
  const { inject: postject } = require('postject');
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(nodeBinary, out);
  chmodSync(out, 0o755);
  const options = { sentinelFuse: SEA_FUSE, overwrite: false };
  if (os === 'darwin') options.machoSegmentName = 'NODE_SEA';
  // postject warns that it drops a macOS binary's signature: build.mjs signs it again, ad hoc.
  const warn = console.warn;
  const warnings = [];
  console.warn = (...a) => warnings.push(a.join(' '));
  try {
    await postject(out, 'NODE_SEA_BLOB', readFileSync(blobFile), options);
  } finally {
    console.warn = warn;
  }
  chmodSync(out, 0o755);
  return { warnings };
}
