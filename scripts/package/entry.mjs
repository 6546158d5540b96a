// Entry of the single-executable bundle (scripts/package.mjs): the same as src/main.ts, without top-level await,
// as Node's single-executable applications run a CommonJS main script.
import { runCli } from '../../src/cli.ts';

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
}).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`error: ${e?.message ?? String(e)}\n`);
    process.exit(1);
  },
);
