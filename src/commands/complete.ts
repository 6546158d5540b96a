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
      describe: String(descriptions[name] ?? '').replace('__yargsString__:', ''),
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
  const [{ buildParser }, { commands }, { default: yargs }] = await Promise.all([
    import('../cli.js'),
    import('./index.js'),
    import('yargs'),
  ]);
  const current = words.length > 0 ? words[words.length - 1] : '';
  const before = words.slice(0, -1);
  const visible = commands.filter((c) => c.describe !== false);
  const nameOf = (c: CommandSpec) => c.command.split(' ')[0];
  const spec = visible.find((c) => before.includes(nameOf(c)));
  const options = optionsOf(buildParser([], () => undefined));
  if (spec) options.push(...optionsOf(spec.builder(yargs([]))));
  const byFlag = new Map(options.flatMap((o) => flagForms(o).map((f) => [f, o] as const)));
  const prefixed = (list: [string, string][]) => list.filter(([c]) => c.startsWith(current));

  // The value of a flag: choices, directories, files or nothing to offer.
  const prev = before[before.length - 1];
  const valueOf = prev !== undefined ? byFlag.get(prev) : undefined;
  if (valueOf?.takesValue && !current.startsWith('-')) {
    if (valueOf.choices)
      return { candidates: prefixed(valueOf.choices.map((c) => [c, ''])), directive: DIRECTIVE.noFileComp };
    if (valueOf.name.endsWith('-dir')) return { candidates: [], directive: DIRECTIVE.filterDirs };
    if (/^(kubeconfig|.+-cert|.+-key)$/.test(valueOf.name)) return { candidates: [], directive: DIRECTIVE.default };
    if (valueOf.name === 'context')
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
    y
      .positional('words', { type: 'string', array: true })
      .parserConfiguration({ 'parse-positional-numbers': false }) as Argv,
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
    return { data: { candidates, directive }, human: () => text };
  },
};
