/** `generate`: flags and their validation; the work is in generate/run.ts. */
import type { CommandSpec } from './spec.js';
import { RefusedError } from '../errors.js';
import { parseDuration } from '../duration.js';
import type { GenerateOptions } from '../generate/run.js';
import { keysNeeded, startKeys, type KeySpec } from '../ca/keygen.js';
import { help, integerFlag, listFlag, nonEmpty } from './flags.js';

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** ub-common-name and ub-organization-name of RFC 5280: 64 characters. */
const MAX_NAME_LENGTH = 64;
/** Shortest lifetime accepted: a CA valid for less would expire before the workload certificates it signs. */
const MIN_VALIDITY_MS = 3_600_000;
/** The last instant X.509 can express (GeneralizedTime 99991231235959Z, RFC 5280 4.1.2.5). */
export const LAST_X509_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);
/** Certificates start this much before now, to tolerate clock skew between machines (see generate/run.ts). */
const BACKDATE_MS = 60_000;

export const GENERATE_DEFAULTS = {
  outDir: 'istio-ca',
  kty: 'RSA',
  size: 4096,
  curve: 'P-256',
  rootCn: 'Root CA',
  intermediateCn: 'Intermediate CA',
  org: 'Istio',
  rootValidity: '87600h',
  intermediateValidity: '43800h',
} as const;

function validity(args: Record<string, unknown>, flag: string, fallback: string, now: Date): number {
  const text = nonEmpty(args, flag, 'generate') ?? fallback;
  const ms = parseDuration(text, flag, { command: 'generate' });
  if (ms < MIN_VALIDITY_MS)
    throw new RefusedError(
      `--${flag} ${text} is too short: a CA must be valid for at least 1h`,
      `for example --${flag} ${fallback} (see ${help('generate')})`,
    );
  if (now.getTime() - BACKDATE_MS + ms > LAST_X509_TIME)
    throw new RefusedError(
      `--${flag} ${text} ends after 9999-12-31, the last date a certificate can hold`,
      `shorten --${flag}, for example ${fallback} (see ${help('generate')})`,
    );
  return ms;
}

function subjectName(args: Record<string, unknown>, flag: string, fallback: string): string {
  const value = nonEmpty(args, flag, 'generate') ?? fallback;
  const characters = Array.from(value).length;
  if (characters > MAX_NAME_LENGTH)
    throw new RefusedError(
      `--${flag} is ${characters} characters long; X.509 allows at most ${MAX_NAME_LENGTH}`,
      `shorten --${flag} (see ${help('generate')})`,
    );
  return value;
}

/** Turns raw flags into GenerateOptions, refusing contradictory or invalid ones (nothing is written then). */
export function generateOptions(args: Record<string, unknown>, istioNamespace: string, now: Date): GenerateOptions {
  const kty = (nonEmpty(args, 'kty', 'generate') ?? GENERATE_DEFAULTS.kty).toUpperCase();
  let key: KeySpec;
  if (kty === 'RSA') {
    if (args.curve !== undefined)
      throw new RefusedError('--curve applies to --kty EC only', 'drop --curve, or use --kty EC');
    const size = integerFlag(args, 'size', 'generate', { min: 1, max: 65536, example: 4096 }) ?? GENERATE_DEFAULTS.size;
    if (size !== 2048 && size !== 3072 && size !== 4096) {
      throw new RefusedError(`--size ${size} is not supported`, 'use --size 2048, 3072 or 4096');
    }
    key = { kty: 'RSA', size };
  } else if (kty === 'EC') {
    if (args.size !== undefined)
      throw new RefusedError('--size applies to --kty RSA only', 'use --curve P-256 or P-384 with --kty EC');
    const curve = (nonEmpty(args, 'curve', 'generate') ?? GENERATE_DEFAULTS.curve).toUpperCase();
    if (curve !== 'P-256' && curve !== 'P-384') {
      throw new RefusedError(`--curve ${String(args.curve)} is not supported by istiod`, 'use --curve P-256 or P-384');
    }
    key = { kty: 'EC', curve };
  } else {
    throw new RefusedError(`--kty ${String(args.kty)} is not supported`, 'use --kty RSA or --kty EC');
  }
  const rootCert = nonEmpty(args, 'root-cert', 'generate');
  const rootKey = nonEmpty(args, 'root-key', 'generate');
  if ((rootCert === undefined) !== (rootKey === undefined)) {
    throw new RefusedError(
      '--root-cert and --root-key go together',
      'pass both to sign new intermediates with an existing root, or neither to make a new root',
    );
  }
  if (rootCert !== undefined) {
    const ignored = ['root-cn', 'root-validity'].filter((f) => args[f] !== undefined);
    if (ignored.length)
      throw new RefusedError(
        `${ignored.map((f) => `--${f}`).join(' and ')} cannot be used with --root-cert: the existing root keeps ` +
          `its name and lifetime`,
        `drop ${ignored.map((f) => `--${f}`).join(' and ')}, or drop --root-cert/--root-key to make a new root`,
      );
  }
  const clusters = listFlag(args, 'cluster', 'generate', { split: false }) ?? [];
  for (const c of clusters) {
    if (!CLUSTER_NAME.test(c))
      throw new RefusedError(
        `--cluster ${JSON.stringify(c)} is not a valid name`,
        'use lower-case letters, digits and dashes (a DNS label), as it names a folder and the L= of the intermediate',
      );
  }
  const dup = ((args.cluster as unknown[] | undefined) ?? []).map(String).find((c, i, all) => all.indexOf(c) !== i);
  if (dup) throw new RefusedError(`--cluster ${dup} is given twice`, 'name each cluster once');
  const outDir = nonEmpty(args, 'out-dir', 'generate') ?? GENERATE_DEFAULTS.outDir;
  const rootCommonName = subjectName(args, 'root-cn', GENERATE_DEFAULTS.rootCn);
  const intermediateCommonName = subjectName(args, 'intermediate-cn', GENERATE_DEFAULTS.intermediateCn);
  const organization = subjectName(args, 'org', GENERATE_DEFAULTS.org);
  const rootValidityMs = validity(args, 'root-validity', GENERATE_DEFAULTS.rootValidity, now);
  const intermediateValidityMs = validity(args, 'intermediate-validity', GENERATE_DEFAULTS.intermediateValidity, now);
  if (rootCert === undefined && intermediateValidityMs > rootValidityMs) {
    throw new RefusedError(
      '--intermediate-validity is longer than --root-validity',
      'an intermediate cannot outlive its root; shorten --intermediate-validity',
    );
  }
  return {
    outDir,
    key,
    rootCommonName,
    intermediateCommonName,
    organization,
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
        defaultDescription: GENERATE_DEFAULTS.outDir,
        describe: 'Directory to write the bundle into',
      })
      .option('kty', { type: 'string', defaultDescription: GENERATE_DEFAULTS.kty, describe: 'Key type: RSA or EC' })
      .option('size', {
        type: 'string',
        defaultDescription: String(GENERATE_DEFAULTS.size),
        describe: 'RSA key size: 2048, 3072 or 4096',
      })
      .option('curve', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.curve,
        describe: 'EC curve: P-256 or P-384',
      })
      .option('root-cn', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.rootCn,
        describe: 'Common name of the root (at most 64 characters; not with --root-cert)',
      })
      .option('intermediate-cn', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.intermediateCn,
        describe: 'Common name of the intermediate(s) (at most 64 characters)',
      })
      .option('org', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.org,
        describe: 'Organization (O) of both certificates (at most 64 characters)',
      })
      .option('root-validity', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.rootValidity,
        describe: 'Lifetime of the root, at least 1h, ending by 9999-12-31 (e.g. 3650d; not with --root-cert)',
      })
      .option('intermediate-validity', {
        type: 'string',
        defaultDescription: GENERATE_DEFAULTS.intermediateValidity,
        describe: 'Lifetime of the intermediate(s), at least 1h and not past the root',
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
      .option('force', { type: 'boolean', describe: 'Overwrite existing files' }),
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
    const opts = generateOptions(args, ctx.globals.istioNamespace, ctx.now());
    // The keys (OpenSSL on libuv's thread pool) are started before the certificate core is loaded and compiled
    // (about 100 ms of the main thread), so the two overlap. They write nothing: a later refusal just drops them.
    const keys = startKeys(opts.key, keysNeeded(opts.rootCertPath === undefined, opts.clusters.length));
    const { runGenerate } = await import('../generate/run.js');
    return runGenerate(opts, { now: ctx.now, keys });
  },
};
