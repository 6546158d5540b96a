/** Human view of verify: √ / ‼ / × lines under category headers, a hint under each failure. */
import { MARK, type Style } from '../output/style.js';
import type { VerifyResult } from './checks.js';

export function renderVerify(r: VerifyResult, style: Style): string {
  const mark = { ok: style.ok(MARK.ok), warn: style.warn(MARK.warn), fail: style.bad(MARK.fail), skip: style.dim('-') };
  let out = '';
  let category = '';
  for (const c of r.checks) {
    if (c.category !== category) {
      category = c.category;
      out += `${out ? '\n' : ''}${style.bold(category)}\n${'-'.repeat(category.length)}\n`;
    }
    out += `${mark[c.status]} ${c.message}\n`;
    if (c.status !== 'ok') for (const i of c.items ?? []) out += `    ${i}\n`;
    if (c.hint && (c.status === 'fail' || c.status === 'warn' || c.status === 'skip'))
      out += `    ${style.dim('hint:')} ${c.hint}\n`;
  }
  for (const s of r.skipped) out += `${style.dim('-')} skipped ${s}\n`;
  out += `\n${r.passed ? style.ok(`${MARK.ok} verify passed`) : style.bad(`${MARK.fail} verify failed`)}: ${r.summary.ok} ok, ${r.summary.warn} warning(s), ${r.summary.fail} failed, ${r.summary.skip} skipped (${r.namespacesChecked} namespaces, context ${r.context})\n`;
  return out;
}
