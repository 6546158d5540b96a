#!/usr/bin/env node
// npm run package: builds dist/kubectl-istio_ca, the single executable for this machine (Node.js single executable
// application; see docs/PACKAGING.md). It runs with no Node.js on PATH and no node_modules beside it.
//   node scripts/package.mjs [--out FILE]
import { statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostTarget, loadConfig } from './package/config.mjs';
import { buildTarget, checkVersion, requireBuildHost } from './package/build.mjs';
import { bundle } from './package/sea.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const log = (line) => process.stderr.write(`package: ${line}\n`);

const started = Date.now();
requireBuildHost();
const config = loadConfig(root);
const target = hostTarget(config);
const out = outIdx >= 0 ? args[outIdx + 1] : join(root, 'dist', target.exe);
const workDir = join(root, 'dist', '.work');

const app = await bundle(config, workDir);
const kib = app.chunks.reduce((n, c) => n + statSync(join(app.dir, c)).size, 0) >> 10;
log(`bundled ${relative(root, app.dir)}: a loader and ${app.chunks.length} chunks, ${kib} KiB of script`);
await buildTarget(config, target, { app, workDir, out, log });
const info = checkVersion(config, target, out);
log(
  `built ${relative(root, out)} for ${target.id}: ${(statSync(out).size / 1048576).toFixed(1)} MiB, ` +
    `node ${info.node}, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
