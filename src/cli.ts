/**
 * The command line: yargs setup, global kube flags and the list of commands. Returns an exit code; never exits the
 * process (only main.ts does). Commands load their heavy modules (certificate core, Kubernetes client) lazily so
 * that --help and commands that need no cluster start fast.
 */
import yargs, { type Argv, type Options } from 'yargs';
import { commands } from './commands/index.js';
import type { CommandContext, GlobalOptions } from './context.js';
import type { ConnectionFlags } from './kube/connect.js';
import { ExitCode, isIstioCaError, RefusedError } from './errors.js';
import { OUTPUT_FORMATS, renderResult, type CommandResult, type OutputFormat } from './output/render.js';
import { createStyle, wantsColor } from './output/style.js';
import type { CommandSpec } from './commands/spec.js';
import { namespaceName, STDIN_ARG } from './commands/flags.js';
import type { Writable } from 'node:stream';
import { startupSnapshot } from 'node:v8';

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** Standard input (inspect -); defaults to none. Read only when a command needs it (it may be a getter). */
  stdin?: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  now?: () => Date;
}

export const SCRIPT_NAME = 'kubectl istio-ca';

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === '') {
      resolve();
      return;
    }
    stream.write(text, () => {
      resolve();
    });
  });
}

/** kubectl's connection flags (genericclioptions.ConfigFlags), on the commands that talk to a cluster. */
const CONNECTION_OPTIONS = {
  kubeconfig: { type: 'string', describe: 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)' },
  context: { type: 'string', describe: 'The kubeconfig context to use (default: the current context)' },
  cluster: { type: 'string', describe: 'The kubeconfig cluster to use' },
  user: { type: 'string', describe: 'The kubeconfig user to use' },
  server: { alias: 's', type: 'string', describe: 'The address and port of the Kubernetes API server' },
  token: { type: 'string', describe: 'Bearer token for authentication to the API server' },
  as: { type: 'string', describe: 'Username to impersonate for the operation' },
  'as-group': { type: 'string', array: true, describe: 'Group to impersonate (repeat for several)' },
  'as-uid': { type: 'string', describe: 'UID to impersonate for the operation' },
  'certificate-authority': {
    type: 'string',
    describe: 'Path to a cert file for the certificate authority',
  },
  'client-certificate': { type: 'string', describe: 'Path to a client certificate file for TLS' },
  'client-key': { type: 'string', describe: 'Path to a client key file for TLS' },
  'insecure-skip-tls-verify': {
    type: 'boolean',
    describe: "Don't check the server's certificate (insecure)",
  },
  'tls-server-name': { type: 'string', describe: 'Server name to use for server certificate validation' },
  'request-timeout': {
    type: 'string',
    describe:
      'How long to wait for a single server request (1s, 2m, 3h; 0 = no timeout). Connecting (TCP, proxy, TLS) ' +
      'gives up after 10 s regardless',
  },
} as const satisfies Record<string, Options>;

/** Commands that never talk to a cluster: connection flags there would be silently ignored, so they are refused. */
const OFFLINE_COMMANDS = new Set(['generate', 'inspect', 'version', 'completion']);
/** Commands that take no connection flags and need no refusal: shell completion calls it with words after --. */
const INTERNAL_COMMANDS = new Set(['__complete']);

/** The connection flags the selected command took (set by its builder). */
let connectionKeys = new Set<string>();

/** The connection flags on the command line, as given (--kubeconfig, --server, ...). */
function connectionFlagsGiven(args: Record<string, unknown>): string[] {
  return [...connectionKeys].filter((k) => args[k] !== undefined);
}

/**
 * Adds kubectl's connection flags to one command: shown, in their own group, where the command talks to a cluster;
 * hidden elsewhere, where giving one is refused by name (rather than as an unknown flag). A flag the command defines
 * itself keeps its own meaning and place in its help (generate --cluster NAME is a mesh cluster, not a kubeconfig
 * cluster).
 */
export function withConnectionFlags(y: Argv, name: string): Argv {
  if (INTERNAL_COMMANDS.has(name)) return y;
  const own = (y as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key;
  const offline = OFFLINE_COMMANDS.has(name);
  const keys = Object.keys(CONNECTION_OPTIONS).filter((k) => !(k in own)) as (keyof typeof CONNECTION_OPTIONS)[];
  for (const k of keys) y = y.option(k, offline ? { ...CONNECTION_OPTIONS[k], hidden: true } : CONNECTION_OPTIONS[k]);
  connectionKeys = new Set(keys);
  return offline ? y : y.group(keys, "Connection flags (as kubectl's):");
}

function connectionFlags(args: Record<string, unknown>): ConnectionFlags {
  const str = (k: string) => (typeof args[k] === 'string' ? args[k] : undefined);
  const flags: ConnectionFlags = {};
  const set = <K extends keyof ConnectionFlags>(k: K, v: ConnectionFlags[K] | undefined) => {
    if (v !== undefined) flags[k] = v;
  };
  set('cluster', str('cluster'));
  set('user', str('user'));
  set('server', str('server'));
  set('token', str('token'));
  set('as', str('as'));
  const groups = args['as-group'];
  if (Array.isArray(groups) && groups.length) flags.asGroups = groups.map(String);
  set('asUid', str('as-uid'));
  set('certificateAuthority', str('certificate-authority'));
  set('clientCertificate', str('client-certificate'));
  set('clientKey', str('client-key'));
  if (typeof args['insecure-skip-tls-verify'] === 'boolean')
    flags.insecureSkipTlsVerify = args['insecure-skip-tls-verify'];
  set('tlsServerName', str('tls-server-name'));
  set('requestTimeout', str('request-timeout'));
  return flags;
}

/**
 * `--fail-within -5d`: a value that starts with a dash and a digit belongs to the flag before it (yargs would read
 * it as the short flags -5 and -d). Joined as `--fail-within=-5d`, the flag's own check then says what is wrong.
 * A lone `-` (standard input) becomes STDIN_ARG: yargs would read it as an empty flag.
 */
export function joinDashedValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (/^--[a-z][-a-z]*$/.test(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a === '-' ? STDIN_ARG : a);
  }
  return out;
}

const CONNECTION_NOTE =
  'Commands that talk to a cluster (backup, replace, restart, verify, status, rotate) take ' +
  "kubectl's connection flags (--kubeconfig, --context, --cluster, --server, --token, --as, ...): see COMMAND --help.";

const EXIT_CODES =
  'Exit codes: 0 success, 1 an operation or a check failed, 2 refused (bad flags or invalid input; nothing ' +
  'changed), 3 cannot connect to or authenticate with the cluster, 124 a wait timed out.';

/** Examples as kubectl prints them: a comment line, then the command line whole (never wrapped). */
function examplesText(examples: [string, string][]): string {
  const lines = examples.map(([cmd, what]) => `  # ${what}\n  ${cmd.replace(/\$0\b/g, SCRIPT_NAME)}`);
  return `Examples:\n${lines.join('\n\n')}`;
}

/** `help [COMMAND]`, as kubectl and git take it: the same as `COMMAND --help` (or `--help`). */
export function helpCommand(argv: string[]): string[] {
  if (argv[0] !== 'help') return argv;
  return argv.length > 1 ? [...argv.slice(1), '--help'] : ['--help'];
}

/** The hint of a refused command line: the --help of the command named in it, else the plugin's. */
function helpHint(argv: string[]): string {
  const named = commands.find((c) => c.describe !== false && argv.includes(c.command.split(' ')[0]));
  return `run ${SCRIPT_NAME}${named ? ` ${named.command.split(' ')[0]}` : ''} --help`;
}

/** Builds the yargs parser; exported for completion. `columns`: the terminal's width (none when not a terminal). */
export function buildParser(
  argv: string[],
  onRun: (spec: CommandSpec, args: Record<string, unknown>) => void,
  columns: number | undefined = process.stdout.columns,
): Argv {
  let y = yargs(argv)
    .scriptName(SCRIPT_NAME)
    .usage(
      `${SCRIPT_NAME} <command> [flags]\n\n` +
        'Replace and rotate the certificate authority of an Istio service mesh, safely.',
    )
    .option('istio-namespace', {
      alias: 'i',
      type: 'string',
      default: 'istio-system',
      describe: 'Namespace of the Istio control plane',
      global: true,
    })
    .option('output', {
      alias: 'o',
      type: 'string',
      choices: OUTPUT_FORMATS as string[],
      default: 'table',
      describe:
        'Output format: table for people; json or yaml, a documented schema (docs/OUTPUT.md); name, the objects ' +
        'written (backup, replace, restart)',
      global: true,
    })
    .option('color', {
      type: 'boolean',
      describe: 'Colour on a terminal; --no-color (or NO_COLOR) turns it off',
      global: true,
    })
    .strict()
    // English whatever LANG says: the descriptions are English, and the packaged binary has no yargs locale files.
    .detectLocale(false)
    .version(false)
    .help()
    .alias('h', 'help')
    .group(['istio-namespace', 'output', 'color', 'help'], 'Global flags:')
    .exitProcess(false)
    .demandCommand(1, 'name a command: see kubectl istio-ca --help')
    .recommendCommands()
    // Examples (in the epilog, kubectl's layout) are command lines to copy: at least 120 columns, so none wraps.
    .wrap(Math.max(120, Math.min(160, columns ?? 120)))
    .epilog(`${CONNECTION_NOTE}\n\n${EXIT_CODES}`)
    .fail((msg, err) => {
      if (err) throw err;
      throw new RefusedError(msg ?? 'invalid command line', helpHint(argv));
    });
  for (const spec of commands) {
    y = y.command({
      command: spec.command,
      describe: spec.describe,
      builder: (sub: Argv) => {
        const b = withConnectionFlags(spec.builder(sub), spec.command.split(' ')[0]);
        return spec.examples?.length ? b.epilog(examplesText(spec.examples) + '\n\n' + EXIT_CODES) : b;
      },
      handler: (args) => {
        onRun(spec, args);
      },
    });
  }
  return y;
}

/**
 * -o applies only where it means something: a command that prints a script takes no -o, and -o name only a command
 * whose result names Kubernetes objects. Refused before the command runs, so nothing has changed.
 */
function refuseOutput(spec: CommandSpec, output: OutputFormat): void {
  const name = spec.command.split(' ')[0];
  if (output !== 'table' && !spec.printsResult)
    throw new RefusedError(
      `${name} prints a script; -o ${output} does not apply to it`,
      `drop -o (see ${SCRIPT_NAME} ${name} --help)`,
    );
  if (output === 'name' && spec.namesObjects !== true)
    throw new RefusedError(
      `${name} names no Kubernetes objects; -o name applies to backup, replace and restart`,
      `use -o json or -o yaml for ${name}'s result (see docs/OUTPUT.md)`,
    );
}

/** Thrown by a command's yargs handler once the command and its flags are known (see runCli). */
const COMMAND_CHOSEN = new Error('command chosen');

/**
 * Help texts rendered ahead of time for a stdout that is no terminal (fixed width), keyed by the command line: filled
 * by prerenderHelp while the packaged binary's startup snapshot is built, from this very code, so they cannot go
 * stale; the binary's --help then prints one without building the parser (about a third of its start-up CPU).
 */
const prerendered = new Map<string, string>();
const helpKey = (argv: string[]) => argv.join('\0');

/** The command lines whose help is prerendered: --help, -h, and each command's (help CMD becomes CMD --help). */
export function helpCommandLines(): string[][] {
  const names = commands.filter((c) => c.describe !== false).map((c) => c.command.split(' ')[0]);
  return [
    ['--help'],
    ['-h'],
    ...names.flatMap((n) => [
      [n, '--help'],
      [n, '-h'],
    ]),
  ];
}

/** Renders the help that `argv` asks for, as runCli prints it when stdout is no terminal; undefined if not help. */
export async function renderHelp(argv: string[]): Promise<string | undefined> {
  let printed: string | undefined;
  let chosen = false;
  try {
    await buildParser(
      argv,
      () => {
        chosen = true;
        throw COMMAND_CHOSEN;
      },
      undefined,
    ).parseAsync(argv, {}, (err: Error | undefined, _args: unknown, output: string) => {
      if (err) throw err;
      printed = output ?? '';
    });
  } catch (e) {
    if (e !== COMMAND_CHOSEN) throw e;
  }
  if (chosen || printed === undefined) return undefined;
  return printed === '' || printed.endsWith('\n') ? printed : printed + '\n';
}

/** Fills the prerendered help texts (see prerendered); the packaging calls it while building the snapshot. */
export async function prerenderHelp(): Promise<void> {
  for (const argv of helpCommandLines()) {
    const text = await renderHelp(argv);
    if (text === undefined) throw new Error(`${argv.join(' ')} renders no help`);
    prerendered.set(helpKey(argv), text);
  }
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(rawArgv: string[], io: CliIO): Promise<number> {
  const argv = helpCommand(joinDashedValues(rawArgv));
  const ready = prerendered.get(helpKey(argv));
  if (ready !== undefined && process.stdout.columns === undefined) {
    await write(io.stdout, ready);
    return ExitCode.ok;
  }
  const noColorFlag = argv.includes('--no-color');
  const errStyle = createStyle(wantsColor(io.stderr, io.env, noColorFlag));
  let selected: { spec: CommandSpec; args: Record<string, unknown> } | undefined;
  try {
    let printed = '';
    try {
      await buildParser(argv, (spec, args) => {
        selected = { spec, args };
        // Stop yargs here: after a handler returns it renders the command's whole help text to keep for later
        // (cacheHelpMessage), which the CLI never shows then; that was about a third of generate's start-up CPU.
        throw COMMAND_CHOSEN;
      }).parseAsync(argv, {}, (err: Error | undefined, _args: unknown, output: string) => {
        if (err) throw err;
        printed = output ?? '';
      });
    } catch (e) {
      if (e !== COMMAND_CHOSEN) throw e;
    }
    if (!selected) {
      // --help: yargs hands us the text instead of printing it.
      await write(io.stdout, printed === '' || printed.endsWith('\n') ? printed : printed + '\n');
      return ExitCode.ok;
    }
    const { spec, args } = selected;
    const globals: GlobalOptions = {
      kubeconfig: args.kubeconfig as string | undefined,
      context: args.context as string | undefined,
      connection: connectionFlags(args),
      istioNamespace: namespaceName(
        String(args['istio-namespace']),
        '-i/--istio-namespace',
        spec.command.split(' ')[0],
      ),
      output: args.output as OutputFormat,
    };
    refuseOutput(spec, globals.output);
    // Connection flags given, less a flag of the same name that the command defines itself (generate --cluster).
    const given = connectionFlagsGiven(args);
    if (given.length && OFFLINE_COMMANDS.has(spec.command.split(' ')[0]))
      throw new RefusedError(
        `${spec.command.split(' ')[0]} does not talk to a cluster; connection flags do not apply to it`,
        `drop ${given.map((k) => `--${k}`).join(', ')}`,
      );
    const color = args.color !== false;
    const style = createStyle(wantsColor(io.stdout, io.env, !color));
    const ctx: CommandContext = {
      globals,
      stdout: io.stdout,
      stderr: io.stderr,
      style,
      errStyle: createStyle(wantsColor(io.stderr, io.env, !color)),
      interactive: io.stderr.isTTY === true,
      env: io.env,
      now: io.now ?? (() => new Date()),
      notice: (line) => void io.stderr.write(line + '\n'),
    };
    // Read only by a command that takes standard input: main.ts's io.stdin is a getter, as process.stdin makes a
    // stream (about 10 ms of start-up) when first touched.
    if ('stdin' in io) Object.defineProperty(ctx, 'stdin', { get: () => io.stdin, enumerable: true });
    const result: CommandResult = await spec.run(args, ctx);
    await write(io.stdout, await renderResult(result, globals.output, style));
    return result.exitCode ?? ExitCode.ok;
  } catch (e) {
    if (isIstioCaError(e)) {
      let text = `${errStyle.bad('error:')} ${e.message}\n`;
      if (e.hint) text += `  ${errStyle.dim('hint:')} ${e.hint}\n`;
      await write(io.stderr, text);
      return e.exitCode;
    }
    const err = e as Error;
    await write(io.stderr, `${errStyle.bad('error:')} ${err?.message || String(e) || 'unexpected failure'}\n`);
    if (io.env.ISTIO_CA_DEBUG) await write(io.stderr, `${err?.stack ?? ''}\n`);
    return ExitCode.failed;
  }
}

// Building the packaged binary's startup snapshot (scripts/package/sea.mjs): the help texts go into it ready.
if (startupSnapshot.isBuildingSnapshot()) void prerenderHelp();
