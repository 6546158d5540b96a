#!/usr/bin/env node
/** Entry point: argv -> cli -> exit code. The only place that exits the process. */
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
process.exit(code);
