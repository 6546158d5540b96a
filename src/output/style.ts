/** Terminal styling: colour only on a TTY, never with NO_COLOR or --no-color. */

export interface Style {
  color: boolean;
  ok(s: string): string;
  warn(s: string): string;
  bad(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const wrap = (on: boolean, open: number, close: number) => (s: string) =>
  on ? `\u001b[${open}m${s}\u001b[${close}m` : s;

export function createStyle(color: boolean): Style {
  return {
    color,
    ok: wrap(color, 32, 39),
    warn: wrap(color, 33, 39),
    bad: wrap(color, 31, 39),
    bold: wrap(color, 1, 22),
    dim: wrap(color, 2, 22),
  };
}

/** Whether to colour a stream: a TTY, NO_COLOR unset or empty, and no --no-color. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}

/** Check marks as linkerd check prints them. */
export const MARK = { ok: '√', warn: '‼', fail: '×' } as const;
