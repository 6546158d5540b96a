/**
 * The command line: yargs setup, global kube flags and the list of commands. Returns an exit code; never exits the
 * process (only main.ts does). Commands load their heavy modules (certificate core, Kubernetes client) lazily so
 * that --help and commands that need no cluster start fast.
 */
import yargs, { type Argv } from 'yargs';
import { commands } from './commands/index.js';
import type { CommandContext, GlobalOptions } from './context.js';
import { ExitCode, isIstioCaError, RefusedError } from './errors.js';
import { OUTPUT_FORMATS, renderResult, type CommandResult, type OutputFormat } from './output/render.js';
import { createStyle, wantsColor } from './output/style.js';
import type { CommandSpec } from './commands/spec.js';
import type { Writable } from 'node:stream';

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  now?: () => Date;
}

export const SCRIPT_NAME = 'kubectl istio-ca';

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === '') return resolve();
    stream.write(text, () => resolve());
  });
}

/** Builds the yargs parser; exported for completion. */
export function buildParser(argv: string[], onRun: (spec: CommandSpec, args: Record<string, unknown>) => void): Argv {
  let y = yargs(argv)
    .scriptName(SCRIPT_NAME)
    .usage(
      `${SCRIPT_NAME} <command> [flags]\n\nReplace and rotate the certificate authority of an Istio service mesh, safely.`,
    )
    .option('kubeconfig', {
      type: 'string',
      describe: 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)',
      global: true,
    })
    .option('context', {
      type: 'string',
      describe: 'The kubeconfig context to use (default: the current context)',
      global: true,
    })
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
      describe: 'Output format',
      global: true,
    })
    .option('color', {
      type: 'boolean',
      default: true,
      describe: 'Colour on a terminal (--no-color or NO_COLOR turn it off)',
      global: true,
    })
    .strict()
    .version(false)
    .help()
    .alias('h', 'help')
    .exitProcess(false)
    .demandCommand(1, 'name a command: see kubectl istio-ca --help')
    .recommendCommands()
    .completion('completion', 'Print a shell completion script (bash, zsh)')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .epilog(
      'Exit codes: 0 success, 1 an operation or a check failed, 2 refused (bad flags or invalid input; nothing changed), 124 a wait timed out.',
    )
    .fail((msg, err) => {
      if (err) throw err;
      throw new RefusedError(msg ?? 'invalid command line', `run ${SCRIPT_NAME} --help`);
    });
  for (const spec of commands) {
    y = y.command({
      command: spec.command,
      describe: spec.describe,
      builder: (sub: Argv) => {
        let b = spec.builder(sub);
        for (const [cmd, what] of spec.examples ?? []) b = b.example(cmd, what);
        return b;
      },
      handler: (args) => onRun(spec, args as Record<string, unknown>),
    });
  }
  return y;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const noColorFlag = argv.includes('--no-color');
  const errStyle = createStyle(wantsColor(io.stderr, io.env, noColorFlag));
  let selected: { spec: CommandSpec; args: Record<string, unknown> } | undefined;
  try {
    let printed = '';
    await buildParser(argv, (spec, args) => {
      selected = { spec, args };
    }).parseAsync(argv, {}, (err: Error | undefined, _args: unknown, output: string) => {
      if (err) throw err;
      printed = output ?? '';
    });
    if (!selected) {
      // --help, completion: yargs hands us the text instead of printing it.
      await write(io.stdout, printed === '' || printed.endsWith('\n') ? printed : printed + '\n');
      return ExitCode.ok;
    }
    const { spec, args } = selected;
    const globals: GlobalOptions = {
      kubeconfig: args.kubeconfig as string | undefined,
      context: args.context as string | undefined,
      istioNamespace: args['istio-namespace'] as string,
      output: args.output as OutputFormat,
    };
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
