/** `verify`: is the whole mesh on the CA in cacerts? */
import type { CommandSpec } from './spec.js';
import { ExitCode, RefusedError } from '../errors.js';
import { withKube } from '../kube/session.js';
import { integerFlag, listFlag, namespaceName } from './flags.js';

export function namespaceScope(args: Record<string, unknown>): string[] | undefined {
  const ns = listFlag(args, 'namespace', 'verify')?.map((n) => namespaceName(n, '-n', 'verify')) ?? [];
  if (args['all-namespaces'] === true && ns.length)
    throw new RefusedError(
      '-A and -n exclude each other',
      'pass -A for every namespace, or -n NS (repeatable) for some',
    );
  return ns.length ? ns : undefined;
}

export const verifyCommand: CommandSpec = {
  command: 'verify',
  describe: 'Check that cacerts is valid and every namespace, istiod and sidecar is on it',
  printsResult: true,
  builder: (y) =>
    y
      .option('all-namespaces', {
        alias: 'A',
        type: 'boolean',
        describe: 'Check every namespace (what verify does when -n is not given)',
      })
      .option('namespace', {
        alias: 'n',
        type: 'string',
        array: true,
        describe: 'Check only these namespaces (repeatable)',
      })
      .option('proxies', {
        type: 'boolean',
        describe: 'Also read what each sidecar holds (pods/exec: pilot-agent request GET config_dump)',
      })
      .option('proxy-concurrency', {
        type: 'string',
        defaultDescription: '8',
        describe: 'Sidecars read at once with --proxies',
      }),
  examples: [
    ['$0 verify -A', 'Every namespace'],
    ['$0 verify -n shop -n payments -o json', 'Two namespaces, as JSON'],
  ],
  async run(args, ctx) {
    const namespaces = namespaceScope(args);
    const { takeSnapshot } = await import('../mesh/snapshot.js');
    const { runChecks, summarize } = await import('../verify/checks.js');
    const { renderVerify } = await import('../verify/render.js');
    const now = ctx.now();
    const concurrency = integerFlag(args, 'proxy-concurrency', 'verify', { min: 1, max: 1000, example: 8 }) ?? 8;
    const result = await withKube(ctx, async (client) => {
      const snapshot = await takeSnapshot(client, {
        istioNamespace: ctx.globals.istioNamespace,
        now,
        ...(namespaces ? { namespaces } : {}),
      });
      const base = runChecks(snapshot, now);
      if (args.proxies !== true) return base;
      const { execProxyReader, readProxies } = await import('../proxies/read.js');
      const { proxyChecks, proxyReports } = await import('../verify/proxies.js');
      const { resolveConnection } = await import('../kube/connect.js');
      const { clientNodeConfig } = await import('../kube/client-node.js');
      const conn = await resolveConnection(
        ctx.globals.kubeconfig,
        ctx.globals.context,
        ctx.env,
        ctx.globals.connection ?? {},
        { stderr: ctx.stderr },
      );
      const reader = await execProxyReader(await clientNodeConfig(conn));
      if (ctx.interactive) ctx.notice(`reading ${snapshot.sidecarPods.length} sidecars…`);
      const readings = await readProxies(reader, snapshot.sidecarPods, concurrency);
      const signer = snapshot.bundle?.signingCert?.fingerprintSha256 ?? null;
      return {
        ...summarize({
          ...base,
          checks: [...base.checks, ...proxyChecks(readings, snapshot.referenceRoots, signer)],
        }),
        proxies: proxyReports(readings),
      };
    });
    return {
      kind: 'VerifyResult',
      data: result,
      exitCode: result.passed ? ExitCode.ok : ExitCode.failed,
      human: (style) => renderVerify(result, style),
    };
  },
};
