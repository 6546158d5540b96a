/** `generate`: flags and their validation; the work is in generate/run.ts. */
import type { CommandSpec } from './spec.js';
import { RefusedError } from '../errors.js';
import { parseDuration } from '../duration.js';
import type { GenerateOptions } from '../generate/run.js';
import type { KeySpec } from '../ca/issue.js';

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Turns raw flags into GenerateOptions, refusing contradictory or invalid ones (nothing is written then). */
export function generateOptions(args: Record<string, unknown>, istioNamespace: string): GenerateOptions {
  const kty = String(args.kty ?? 'RSA').toUpperCase();
  let key: KeySpec;
  if (kty === 'RSA') {
    if (args.curve !== undefined)
      throw new RefusedError('--curve applies to --kty EC only', 'drop --curve, or use --kty EC');
    const size = Number(args.size ?? 4096);
    if (size !== 2048 && size !== 3072 && size !== 4096) {
      throw new RefusedError(`--size ${String(args.size)} is not supported`, 'use --size 2048, 3072 or 4096');
    }
    key = { kty: 'RSA', size };
  } else if (kty === 'EC') {
    if (args.size !== undefined)
      throw new RefusedError('--size applies to --kty RSA only', 'use --curve P-256 or P-384 with --kty EC');
    const curve = String(args.curve ?? 'P-256').toUpperCase();
    if (curve !== 'P-256' && curve !== 'P-384') {
      throw new RefusedError(`--curve ${String(args.curve)} is not supported by istiod`, 'use --curve P-256 or P-384');
    }
    key = { kty: 'EC', curve };
  } else {
    throw new RefusedError(`--kty ${String(args.kty)} is not supported`, 'use --kty RSA or --kty EC');
  }
  const rootCert = args['root-cert'] as string | undefined;
  const rootKey = args['root-key'] as string | undefined;
  if ((rootCert === undefined) !== (rootKey === undefined)) {
    throw new RefusedError(
      '--root-cert and --root-key go together',
      'pass both to sign new intermediates with an existing root, or neither to make a new root',
    );
  }
  const clusters = ((args.cluster as string[] | undefined) ?? []).map(String);
  for (const c of clusters) {
    if (!CLUSTER_NAME.test(c))
      throw new RefusedError(
        `--cluster ${JSON.stringify(c)} is not a valid name`,
        'use lower-case letters, digits and dashes (a DNS label), as it names a folder and the L= of the intermediate',
      );
  }
  const dup = clusters.find((c, i) => clusters.indexOf(c) !== i);
  if (dup) throw new RefusedError(`--cluster ${dup} is given twice`, 'name each cluster once');
  const outDir = args['out-dir'];
  if (typeof outDir !== 'string' || outDir === '')
    throw new RefusedError('--out-dir is required', 'name the directory to write the bundle into');
  for (const f of ['root-cn', 'intermediate-cn', 'org'] as const) {
    if (typeof args[f] !== 'string' || (args[f] as string).trim() === '')
      throw new RefusedError(`--${f} must not be empty`, `give --${f} a value`);
  }
  const rootValidityMs = parseDuration(String(args['root-validity']), 'root-validity');
  const intermediateValidityMs = parseDuration(String(args['intermediate-validity']), 'intermediate-validity');
  if (rootCert === undefined && intermediateValidityMs > rootValidityMs) {
    throw new RefusedError(
      '--intermediate-validity is longer than --root-validity',
      'an intermediate cannot outlive its root; shorten --intermediate-validity',
    );
  }
  return {
    outDir,
    key,
    rootCommonName: args['root-cn'] as string,
    intermediateCommonName: args['intermediate-cn'] as string,
    organization: args.org as string,
    rootValidityMs,
    intermediateValidityMs,
    rootCertPath: rootCert,
    rootKeyPath: rootKey,
    clusters,
    force: args.force === true,
    istioNamespace,
  };
}

export const generateCommand: CommandSpec = {
  command: 'generate',
  describe: 'Generate a new root CA and intermediate CA bundle (no openssl or step needed)',
  printsResult: true,
  builder: (y) =>
    y
      .option('out-dir', {
        alias: 'd',
        type: 'string',
        default: 'istio-ca',
        describe: 'Directory to write the bundle into',
      })
      .option('kty', { type: 'string', default: 'RSA', describe: 'Key type: RSA or EC' })
      .option('size', { type: 'number', describe: 'RSA key size: 2048, 3072 or 4096 (default 4096)' })
      .option('curve', { type: 'string', describe: 'EC curve: P-256 or P-384 (default P-256)' })
      .option('root-cn', { type: 'string', default: 'Root CA', describe: 'Common name of the root' })
      .option('intermediate-cn', {
        type: 'string',
        default: 'Intermediate CA',
        describe: 'Common name of the intermediate(s)',
      })
      .option('org', { type: 'string', default: 'Istio', describe: 'Organization (O) of both certificates' })
      .option('root-validity', {
        type: 'string',
        default: '87600h',
        describe: 'Lifetime of the root (e.g. 87600h, 3650d)',
      })
      .option('intermediate-validity', {
        type: 'string',
        default: '43800h',
        describe: 'Lifetime of the intermediate(s)',
      })
      .option('root-cert', {
        type: 'string',
        describe: 'Sign with this existing root certificate instead of making a new root',
      })
      .option('root-key', { type: 'string', describe: 'Private key of --root-cert' })
      .option('cluster', {
        type: 'string',
        array: true,
        describe: 'Make one intermediate per cluster in DIR/NAME/ (repeatable)',
      })
      .option('force', { type: 'boolean', default: false, describe: 'Overwrite existing files' }),
  examples: [
    ['$0 generate --out-dir ./ca', 'New root and intermediate, RSA 4096'],
    ['$0 generate --kty EC --curve P-384 -d ./ca', 'ECDSA P-384 bundle'],
    ['$0 generate --cluster east --cluster west -d ./ca', 'One shared root, one intermediate per cluster'],
    [
      '$0 generate --root-cert root-cert.pem --root-key root-key.pem -d ./new',
      'New intermediate under an existing root',
    ],
  ],
  async run(args, ctx) {
    const opts = generateOptions(args, ctx.globals.istioNamespace);
    const { runGenerate } = await import('../generate/run.js');
    return runGenerate(opts, { now: ctx.now });
  },
};
