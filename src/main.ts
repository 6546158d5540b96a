#!/usr/bin/env node
/** Entry point: argv -> cli -> exit code. The only place that exits the process. */
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: process.stdin makes a stream when first touched, which only inspect - needs.
  get stdin() {
    return process.stdin;
  },
  env: process.env,
});
process.exit(code);
