#!/usr/bin/env node
// Builds krew's own tools for the release tests, from the Go module proxy, into .cache/krew/bin (gitignored):
//   kubectl-krew             krew itself, named so that `kubectl krew ...` finds it on PATH
//   validate-krew-manifest   the checker krew-index runs on every plugin manifest
// Prints one JSON line: {"bin": DIR, "version": ...} or {"skip": "why"} when Go or the module cannot be had.
// Go's module and build caches make a second run take a second.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The newest krew that the Go module proxy serves here (v0.4.4 and v0.4.5 are refused by it).
const KREW = 'sigs.k8s.io/krew';
const VERSION = 'v0.4.3';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = join(root, '.cache', 'krew');
const bin = join(dir, 'bin');
const stamp = join(dir, 'built');
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (
  existsSync(stamp) &&
  readFileSync(stamp, 'utf8') === VERSION &&
  existsSync(join(bin, 'kubectl-krew')) &&
  existsSync(join(bin, 'validate-krew-manifest'))
) {
  say({ bin, version: VERSION });
  process.exit(0);
}
const env = { ...process.env, GOBIN: join(dir, 'gobin'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
if (spawnSync('go', ['version'], { env }).status !== 0) {
  say({ skip: 'no Go toolchain on PATH' });
  process.exit(0);
}
const started = Date.now();
const r = spawnSync('go', ['install', `${KREW}/cmd/krew@${VERSION}`, `${KREW}/cmd/validate-krew-manifest@${VERSION}`], {
  env,
  encoding: 'utf8',
});
if (r.status !== 0) {
  say({ skip: `go install ${KREW}@${VERSION} failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` });
  process.exit(0);
}
rmSync(bin, { recursive: true, force: true });
mkdirSync(bin, { recursive: true });
copyFileSync(join(env.GOBIN, 'krew'), join(bin, 'kubectl-krew'));
copyFileSync(join(env.GOBIN, 'validate-krew-manifest'), join(bin, 'validate-krew-manifest'));
spawnSync('chmod', ['755', join(bin, 'kubectl-krew'), join(bin, 'validate-krew-manifest')]);
writeFileSync(stamp, VERSION);
say({ bin, version: VERSION, builtInSeconds: Math.round((Date.now() - started) / 1000) });
