/**
 * A second real test cluster for multi-cluster tests (scripts/test-cluster with a state directory of its own), and
 * one kubeconfig that reaches each cluster by a context of its name.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from './cluster.js';

/** Runs scripts/test-cluster ARGS on the instance in `stateDir`; returns its last line of output (a path for `up`). */
export function testClusterAt(stateDir: string): (args: string[]) => string {
  return (args) => {
    const r = spawnSync(join(repoRoot(), 'scripts/test-cluster'), args, {
      encoding: 'utf8',
      env: { ...process.env, ISTIO_CA_TEST_CLUSTER_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) throw new Error(`scripts/test-cluster ${args.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
    return r.stdout.trim().split('\n').pop()!;
  };
}

/** Writes `out`: one kubeconfig with a context per cluster, named as the cluster, each its `admin` context's. */
export async function mergeKubeconfigs(
  clusters: { name: string; kubeconfig: string }[],
  out: string,
  current: string,
): Promise<void> {
  const merged = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [] as unknown[],
    users: [] as unknown[],
    contexts: [] as unknown[],
    'current-context': current,
  };
  for (const c of clusters) {
    const cfg = parse(await readFile(c.kubeconfig, 'utf8'));
    const ctx = cfg.contexts.find((x: { name: string }) => x.name === 'admin').context;
    merged.clusters.push({
      name: c.name,
      cluster: cfg.clusters.find((x: { name: string }) => x.name === ctx.cluster).cluster,
    });
    merged.users.push({ name: c.name, user: cfg.users.find((x: { name: string }) => x.name === ctx.user).user });
    merged.contexts.push({ name: c.name, context: { cluster: c.name, user: c.name } });
  }
  await writeFile(out, stringify(merged), { mode: 0o600 });
}
