/** What every command receives: global flags, output streams, styling and a clock (tests pass fixed ones). */
import type { Writable } from 'node:stream';
import type { ConnectionFlags } from './kube/connect.js';
import type { OutputFormat } from './output/render.js';
import type { Style } from './output/style.js';

export interface GlobalOptions {
  kubeconfig: string | undefined;
  context: string | undefined;
  /** kubectl's other connection flags (--server, --token, --as, --request-timeout, ...). */
  connection?: ConnectionFlags;
  istioNamespace: string;
  output: OutputFormat;
}

export interface CommandContext {
  globals: GlobalOptions;
  stdout: Writable;
  stderr: Writable;
  /** Standard input, when the command may read it (inspect -). */
  stdin?: NodeJS.ReadableStream;
  /** Styling for stdout (results). */
  style: Style;
  /** Styling for stderr (progress, notices). */
  errStyle: Style;
  /** True when stderr is a terminal: live progress may redraw lines. */
  interactive: boolean;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  /** Writes a notice line to stderr; suppressed nowhere, never on stdout. */
  notice: (line: string) => void;
}
