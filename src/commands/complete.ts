/**
 * `__complete -- WORDS...` (hidden): shell completion for kubectl. kubectl 1.26+ completes `kubectl istio-ca ...` by
 * running `kubectl_complete-istio_ca` from PATH (completion/, shipped in the release archives) with the words after
 * the plugin name, the last one being the word under completion (maybe empty). That wrapper calls this command, which
 * answers in Cobra's format: one `candidate<TAB>description` per line, then `:<directive>`.
 */
import type { Argv } from 'yargs';
import type { CommandSpec } from './spec.js';
import type { CommandResult } from '../output/render.js';

/** Cobra's ShellCompDirective bits. */
const DIRECTIVE = { default: 0, noFileComp: 4, filterDirs: 16, keepOrder: 32 } as const;

/** Values of flags that yargs does not check itself (case-insensitive, or a bare form like --dry-run). */
const FLAG_VALUES: Record<string, [string, string][]> = {
  kty: [
    ['RSA', 'RSA key (default)'],
    ['EC', 'ECDSA key'],
  ],
  curve: [
    ['P-256', 'NIST P-256 (default)'],
    ['P-384', 'NIST P-384'],
  ],
  size: [
    ['4096', 'RSA 4096 (default)'],
    ['3072', 'RSA 3072'],
    ['2048', 'RSA 2048'],
  ],
  'dry-run': [
    ['none', 'write (default)'],
    ['client', 'show the plan; send nothing'],
    ['server', 'send writes as a server-side dry run'],
  ],
};
const NAMESPACE_FLAGS = new Set(['namespace', 'istio-namespace']);
const CONTEXT_FLAGS = new Set(['context', 'contexts']);

/** Namespaces of the cluster, for -n and -i. Best effort: nothing on any error or after 3 s. */
async function kubeNamespaces(words: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const flag = (name: string) => {
    const i = words.findIndex((w) => w === `--${name}` || w.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    return words[i].includes('=') ? words[i].slice(words[i].indexOf('=') + 1) : words[i + 1];
  };
  try {
    const [{ connect }, { Resources }] = await Promise.all([
      import('../kube/connect.js'),
      import('../kube/resources.js'),
    ]);
    const kubeconfig = flag('kubeconfig');
    const context = flag('context');
    const ctx = {
      globals: { kubeconfig, context, istioNamespace: 'istio-system', output: 'table' },
      env,
      notice: () => undefined,
    } as unknown as Parameters<typeof connect>[0];
    const work = (async () => {
      const client = await connect(ctx);
      try {
        const items = await client.list(Resources.namespaces, { metadataOnly: true });
        return items.map((n) => n.metadata.name ?? '').filter(Boolean);
      } finally {
        client.close();
      }
    })();
    const timeout = new Promise<string[]>((resolve) =>
      setTimeout(() => {
        resolve([]);
      }, 3000).unref(),
    );
    return await Promise.race([work.catch(() => []), timeout]);
  } catch {
    return [];
  }
}

interface OptionInfo {
  name: string;
  aliases: string[];
  takesValue: boolean;
  choices?: string[];
  describe: string;
}

/** What yargs knows of the options of an instance (runtime API, not in its type declarations). */
interface YargsIntrospection {
  getOptions(): {
    key: Record<string, unknown>;
    boolean: string[];
    alias: Record<string, string[]>;
    choices: Record<string, string[]>;
    hiddenOptions: string[];
  };
  getInternalMethods(): { getUsageInstance(): { getDescriptions(): Record<string, string | undefined> } };
}

function optionsOf(y: Argv): OptionInfo[] {
  const yi = y as unknown as YargsIntrospection;
  const o = yi.getOptions();
  const descriptions = yi.getInternalMethods().getUsageInstance().getDescriptions();
  const aliasOf = new Set(Object.values(o.alias).flat());
  const out: OptionInfo[] = [];
  for (const name of Object.keys(o.key)) {
    if (aliasOf.has(name) || o.hiddenOptions.includes(name) || name === 'version') continue;
    out.push({
      name,
      aliases: o.alias[name] ?? [],
      takesValue: !o.boolean.includes(name),
      choices: o.choices[name],
      describe: (descriptions[name] ?? '').replace('__yargsString__:', ''),
    });
  }
  return out;
}

function flagForms(opt: OptionInfo): string[] {
  return [opt.name, ...opt.aliases].map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
}

/** Contexts of the kubeconfig files in use, for --context. Best effort: nothing on any error. */
async function kubeContexts(words: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  try {
    const i = words.findIndex((w) => w === '--kubeconfig' || w.startsWith('--kubeconfig='));
    const flag = i < 0 ? undefined : words[i].includes('=') ? words[i].slice(words[i].indexOf('=') + 1) : words[i + 1];
    const [{ kubeconfigPaths }, { parse }, { readFile }] = await Promise.all([
      import('../kube/kubeconfig.js'),
      import('yaml'),
      import('node:fs/promises'),
    ]);
    const names: string[] = [];
    for (const path of kubeconfigPaths(flag, env)) {
      const doc = parse(await readFile(path, 'utf8').catch(() => '')) as { contexts?: { name?: unknown }[] } | null;
      for (const c of doc?.contexts ?? [])
        if (typeof c?.name === 'string' && !names.includes(c.name)) names.push(c.name);
    }
    return names;
  } catch {
    return [];
  }
}

export interface Completion {
  candidates: [string, string][];
  directive: number;
}

/** Completes `words` (the last is the word under completion). */
export async function complete(words: string[], env: NodeJS.ProcessEnv): Promise<Completion> {
  const [{ buildParser, withConnectionFlags }, { commands }, { default: yargs }] = await Promise.all([
    import('../cli.js'),
    import('./index.js'),
    import('yargs'),
  ]);
  let current = words.length > 0 ? words[words.length - 1] : '';
  let before = words.slice(0, -1);
  // --flag=VALUE: complete VALUE as after `--flag VALUE`, and answer with the --flag= prefix.
  let prefix = '';
  const eq = /^(--[a-z][-a-z]*)=(.*)$/.exec(current);
  if (eq) {
    prefix = `${eq[1]}=`;
    before = [...before, eq[1]];
    current = eq[2] ?? '';
  }
  const visible = commands.filter((c) => c.describe !== false);
  const nameOf = (c: CommandSpec) => c.command.split(' ')[0];
  const spec = visible.find((c) => before.includes(nameOf(c)));
  const options = optionsOf(buildParser([], () => undefined));
  if (spec) options.push(...optionsOf(withConnectionFlags(spec.builder(yargs([])), nameOf(spec))));
  const byFlag = new Map(options.flatMap((o) => flagForms(o).map((f) => [f, o] as const)));
  const prefixed = (list: [string, string][]): [string, string][] =>
    list
      .filter(([c]) => c.toLowerCase().startsWith(current.toLowerCase()))
      .map(([c, d]) => [prefix + c, d] as [string, string]);

  // The value of a flag: choices, directories, files or nothing to offer.
  const prev = before[before.length - 1];
  const valueOf = prev !== undefined ? byFlag.get(prev) : undefined;
  if (valueOf?.takesValue && (!current.startsWith('-') || prefix)) {
    if (valueOf.choices)
      return { candidates: prefixed(valueOf.choices.map((c) => [c, ''])), directive: DIRECTIVE.noFileComp };
    const known = FLAG_VALUES[valueOf.name];
    if (known) return { candidates: prefixed(known), directive: DIRECTIVE.noFileComp | DIRECTIVE.keepOrder };
    if (NAMESPACE_FLAGS.has(valueOf.name))
      return {
        candidates: prefixed((await kubeNamespaces(words, env)).map((n) => [n, ''])),
        directive: DIRECTIVE.noFileComp,
      };
    if (valueOf.name.endsWith('-dir')) return { candidates: [], directive: DIRECTIVE.filterDirs };
    if (/^(kubeconfig|.+-cert|.+-key)$/.test(valueOf.name)) return { candidates: [], directive: DIRECTIVE.default };
    if (CONTEXT_FLAGS.has(valueOf.name))
      return {
        candidates: prefixed((await kubeContexts(words, env)).map((c) => [c, ''])),
        directive: DIRECTIVE.noFileComp,
      };
    return { candidates: [], directive: DIRECTIVE.noFileComp };
  }
  if (current.startsWith('-')) {
    const used = new Set(before);
    const flags = options.filter((o) => o.name !== 'help' && !flagForms(o).some((f) => used.has(f)));
    return { candidates: prefixed(flags.map((o) => [`--${o.name}`, o.describe])), directive: DIRECTIVE.noFileComp };
  }
  if (!spec)
    return { candidates: prefixed(visible.map((c) => [nameOf(c), c.describe || ''])), directive: DIRECTIVE.noFileComp };
  // A command's positional argument (inspect <path>) is a file or directory.
  if (/[<[]/.test(spec.command)) return { candidates: [], directive: DIRECTIVE.default };
  return { candidates: [], directive: DIRECTIVE.noFileComp };
}

export const completeCommand: CommandSpec = {
  command: '__complete [words..]',
  describe: false,
  printsResult: false,
  builder: (y) =>
    y.positional('words', { type: 'string', array: true }).parserConfiguration({ 'parse-positional-numbers': false }),
  async run(args, ctx): Promise<CommandResult> {
    // The wrapper passes the words after `--`, so that yargs parses none of them: they arrive in `_`.
    const rest = ((args._ as unknown[] | undefined) ?? []).map(String);
    const words = [
      ...((args.words as unknown[] | undefined) ?? []).map(String),
      ...rest.slice(rest.indexOf('__complete') + 1),
    ];
    const { candidates, directive } = await complete(words.length > 0 ? words : [''], ctx.env);
    const text =
      candidates.map(([c, d]) => (d ? `${c}\t${d}` : c)).join('\n') +
      (candidates.length ? '\n' : '') +
      `:${directive}\n`;
    return { kind: null, data: { candidates, directive }, human: () => text };
  },
};
