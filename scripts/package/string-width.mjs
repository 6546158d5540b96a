// yargs lays out help with cliui and wrap-ansi, which measure every string (wrap-ansi every word, character by
// character) with string-width 7: Intl.Segmenter, an emoji regex and East Asian Width over each one, about 40 ms of
// the packaged --help's CPU (and the ICU segmenter's start-up); cli-table3 (generate's and inspect's tables) measures
// each cell with string-width 4, which builds its emoji regex anew on every call. For printable ASCII
// (U+0020-U+007E) string-width's answer is the string's length, whatever the options (string-width 8 has this fast path
// itself). The bundle puts that fast path in front of every import and require() of string-width; anything else goes
// to string-width unchanged. test/unit/string-width.test.ts checks it against each string-width installed.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const PRINTABLE_ASCII = /^[\u0020-\u007E]*$/;

/** `stringWidth` with the printable-ASCII fast path in front. */
export function withAsciiFastPath(stringWidth) {
  return function asciiFastStringWidth(input, options) {
    return typeof input === 'string' && PRINTABLE_ASCII.test(input) ? input.length : stringWidth(input, options);
  };
}

const NAMESPACE = 'string-width-ascii';
const self = fileURLToPath(import.meta.url);

/** The esbuild plugin: `import stringWidth from 'string-width'` gets string-width behind withAsciiFastPath. */
export function stringWidthPlugin() {
  return {
    name: NAMESPACE,
    setup(build) {
      build.onResolve({ filter: /^string-width$/ }, async (args) => {
        if (!['import-statement', 'require-call'].includes(args.kind) || args.pluginData === NAMESPACE)
          return undefined;
        const real = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: NAMESPACE,
        });
        if (real.errors.length > 0) return { errors: real.errors };
        return { path: real.path, namespace: NAMESPACE, pluginData: args.kind };
      });
      // An import gets an ES module; a require() (string-width 4 is CommonJS) gets CommonJS exports, as string-width
      // 4 has them (the function, also as .default).
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        contents:
          args.pluginData === 'require-call'
            ? `const { withAsciiFastPath } = require(${JSON.stringify(self)});\n` +
              `module.exports = withAsciiFastPath(require(${JSON.stringify(args.path)}));\n` +
              'module.exports.default = module.exports;\n'
            : `import stringWidth from ${JSON.stringify(args.path)};\n` +
              `import { withAsciiFastPath } from ${JSON.stringify(self)};\n` +
              'export default withAsciiFastPath(stringWidth);\n',
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}
