/** `inspect PATH`: certificates and validation findings of a bundle directory or one PEM file. */
import type { CommandSpec } from './spec.js';
import { RefusedError } from '../errors.js';
import { parseDuration } from '../duration.js';
import { help, nonEmpty, STDIN_ARG } from './flags.js';

export const inspectCommand: CommandSpec = {
  command: 'inspect <path>',
  describe: 'Show the certificates of a bundle directory or PEM file and validate them as istiod would',
  printsResult: true,
  builder: (y) =>
    y
      .positional('path', {
        type: 'string',
        describe: 'A directory laid out like cacerts, one PEM or DER file, or - for standard input',
      })
      .option('expiry-warning', {
        type: 'string',
        defaultDescription: '30d',
        describe: 'Warn about certificates expiring within this duration',
      })
      .option('at', { type: 'string', describe: 'Validate at this time (ISO 8601) instead of now' }),
  examples: [
    ['$0 inspect ./ca', 'Validate a bundle before replacing cacerts with it'],
    ['$0 inspect root-cert.pem -o json', 'Certificates of one file as JSON'],
    [
      "kubectl get cm istio-ca-root-cert -o jsonpath='{.data.root-cert\\.pem}' | $0 inspect -",
      'What a namespace trusts, from standard input',
    ],
  ],
  async run(args, ctx) {
    const given = nonEmpty(args, 'path', 'inspect');
    if (given === undefined) throw new RefusedError('inspect needs a PATH', `see ${help('inspect')}`);
    const path = given === STDIN_ARG ? '-' : given;
    const expiryMs = parseDuration(nonEmpty(args, 'expiry-warning', 'inspect') ?? '30d', 'expiry-warning', {
      command: 'inspect',
    });
    let now = ctx.now();
    const at = nonEmpty(args, 'at', 'inspect');
    if (at !== undefined) {
      now = new Date(at);
      if (Number.isNaN(now.getTime()))
        throw new RefusedError(
          `--at ${JSON.stringify(args.at)} is not a time`,
          'write it as ISO 8601, e.g. 2027-01-31T00:00:00Z',
        );
    }
    const { runInspect } = await import('../inspect/run.js');
    const stdin = ctx.stdin;
    const { readInputStream } = await import('../fsutil/read.js');
    return runInspect({
      path,
      ...(stdin ? { readStdin: () => readInputStream(stdin) } : {}),
      now,
      expiryWarningDays: expiryMs / 86_400_000,
      istioNamespace: ctx.globals.istioNamespace,
    });
  },
};
