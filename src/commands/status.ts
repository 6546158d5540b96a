/** `status`: the mesh's CA on one screen. */
import type { CommandSpec } from './spec.js';
import { ExitCode } from '../errors.js';
import { parseDuration } from '../duration.js';
import { withKube } from '../kube/session.js';
import { nonEmpty } from './flags.js';

export const statusCommand: CommandSpec = {
  command: 'status',
  describe: 'Show which CA the mesh uses, its certificates, and how far the mesh is on it',
  printsResult: true,
  builder: (y) =>
    y.option('fail-within', {
      type: 'string',
      describe: 'Exit 1 when a certificate expires within this duration (e.g. 30d), for cron and CI',
    }),
  examples: [
    ['$0 status', 'One screen'],
    ['$0 status --fail-within 30d -o json', 'For a cron job'],
  ],
  async run(args, ctx) {
    const failWithin = nonEmpty(args, 'fail-within', 'status');
    const failWithinMs =
      failWithin !== undefined ? parseDuration(failWithin, 'fail-within', { command: 'status' }) : undefined;
    const { takeSnapshot } = await import('../mesh/snapshot.js');
    const { deriveStatus } = await import('../status/run.js');
    const { renderStatus } = await import('../status/render.js');
    const now = ctx.now();
    const { result, caFound } = await withKube(ctx, async (client) => {
      const snapshot = await takeSnapshot(client, { istioNamespace: ctx.globals.istioNamespace, now });
      // No CA at all: no cacerts, no istiod self-signed secret, no root in the namespace's istio-ca-root-cert.
      const found = snapshot.ca.mode === 'external' || snapshot.referenceRoots.length > 0;
      return { result: deriveStatus(snapshot, now), caFound: found };
    });
    const expiring =
      failWithinMs === undefined
        ? []
        : result.certificates.filter((c) => Date.parse(c.notAfter) - now.getTime() < failWithinMs);
    return {
      kind: 'StatusResult',
      data: {
        ...result,
        ...(failWithinMs !== undefined
          ? { expiringWithin: expiring.map((c) => ({ role: c.role, subject: c.subject, notAfter: c.notAfter })) }
          : {}),
      },
      exitCode: expiring.length || !caFound ? ExitCode.failed : ExitCode.ok,
      human: (style) =>
        renderStatus(result, style) +
        (caFound
          ? ''
          : `${style.bad('×')} no CA found in namespace ${result.istioNamespace} (is -i the Istio control plane's ` +
            `namespace?)\n`) +
        (expiring.length
          ? `${style.bad('×')} ${expiring.length} certificate(s) expire within --fail-within ` +
            `${String(args['fail-within'])}\n`
          : ''),
    };
  },
};
