/** Human view of verify: √ / ‼ / × lines under category headers, a hint under each failure. */
import { MARK, type Style } from '../output/style.js';
import type { ProxyReport, VerifyResult } from './checks.js';

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
  if (r.proxies?.length) out += renderProxies(r.proxies, style);
  for (const s of r.skipped) out += `${style.dim('-')} skipped ${s}\n`;
  out +=
    `\n${r.passed ? style.ok(`${MARK.ok} verify passed`) : style.bad(`${MARK.fail} verify failed`)}: ` +
    `${r.summary.ok} ok, ${r.summary.warn} warning(s), ${r.summary.fail} failed, ${r.summary.skip} skipped ` +
    `(${r.namespacesChecked} namespaces, context ${r.context})\n`;
  return out;
}

const MAX_PROXY_LINES = 20;

/** One line per sidecar read: its leaf's SPIFFE ID, issuer and expiry, and the roots it trusts. */
function renderProxies(proxies: ProxyReport[], style: Style): string {
  let out = `\n${style.bold('sidecars read')}\n${'-'.repeat('sidecars read'.length)}\n`;
  for (const p of proxies.slice(0, MAX_PROXY_LINES)) {
    const where = `${p.namespace}/${p.pod}`;
    if (p.error) out += `  ${where}: ${style.dim(p.error)}\n`;
    else
      out +=
        `  ${where}: leaf ${p.leaf?.spiffeId ?? '(none)'}` +
        (p.leaf ? `, issued by ${p.leaf.issuer}, expires ${p.leaf.notAfter}` : '') +
        `; trusts ${p.roots?.length ?? 0} root(s): ` +
        (p.roots ?? []).map((r) => `${r.subject} (${r.fingerprint.slice(0, 11)})`).join('; ') +
        '\n';
  }
  if (proxies.length > MAX_PROXY_LINES)
    out += `  … and ${proxies.length - MAX_PROXY_LINES} more (-o json lists every one)\n`;
  return out;
}
