/** `verify`: is the whole mesh on the CA in cacerts? */
import type { CommandSpec } from './spec.js';
import { ExitCode, RefusedError } from '../errors.js';
import { withKube } from '../kube/session.js';

export function namespaceScope(args: Record<string, unknown>): string[] | undefined {
  const ns = ((args.namespace as string[] | undefined) ?? []).map(String);
  if (args['all-namespaces'] === true && ns.length) throw new RefusedError('-A and -n exclude each other', 'pass -A for every namespace, or -n NS (repeatable) for some');
  return ns.length ? ns : undefined;
}

export const verifyCommand: CommandSpec = {
  command: 'verify',
  describe: 'Check that cacerts is valid and every namespace, istiod and sidecar is on it',
  printsResult: true,
  builder: (y) =>
    y
      .option('all-namespaces', { alias: 'A', type: 'boolean', default: false, describe: 'Check every namespace (the default when -n is not given)' })
      .option('namespace', { alias: 'n', type: 'string', array: true, describe: 'Check only these namespaces (repeatable)' }),
  examples: [
    ['$0 verify -A', 'Every namespace'],
    ['$0 verify -n shop -n payments -o json', 'Two namespaces, as JSON'],
  ],
  async run(args, ctx) {
    const namespaces = namespaceScope(args);
    const { takeSnapshot } = await import('../mesh/snapshot.js');
    const { runChecks } = await import('../verify/checks.js');
    const { renderVerify } = await import('../verify/render.js');
    const now = ctx.now();
    const result = await withKube(ctx, async (client) => runChecks(await takeSnapshot(client, { istioNamespace: ctx.globals.istioNamespace, now, ...(namespaces ? { namespaces } : {}) }), now));
    return { data: result, exitCode: result.passed ? ExitCode.ok : ExitCode.failed, human: (style) => renderVerify(result, style) };
  },
};
