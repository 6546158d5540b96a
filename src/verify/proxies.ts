/** Derive: checks on what the sidecars hold, compared with cacerts (pure). */
import type { ProxyReading } from '../proxies/read.js';
import type { Check, ProxyReport } from './checks.js';

/** What each proxy holds, for the report: leaf (SPIFFE ID, issuer, expiry) and trusted roots, or the read error. */
export function proxyReports(readings: ProxyReading[]): ProxyReport[] {
  return readings.map((r) =>
    r.ok
      ? {
          namespace: r.namespace,
          pod: r.pod,
          leaf: r.certs.leaf ? { ...r.certs.leaf, issuerFingerprint: r.certs.chain[1] ?? null } : null,
          roots: r.certs.roots.map((fingerprint, i) => ({ subject: r.certs.rootSubjects?.[i] ?? '', fingerprint })),
        }
      : { namespace: r.namespace, pod: r.pod, error: r.error },
  );
}

const MAX_ITEMS = 20;
const cap = (items: string[]) =>
  items.length > MAX_ITEMS ? [...items.slice(0, MAX_ITEMS), `… and ${items.length - MAX_ITEMS} more`] : items;

/**
 * proxies.roots: every proxy's ROOTCA holds every reference root. proxies.signer: every proxy's workload
 * certificate was issued by the current signing CA (`signer` fingerprint), when known.
 */
export function proxyChecks(readings: ProxyReading[], referenceRoots: string[], signer: string | null): Check[] {
  const failedReads = readings.filter((r): r is Extract<ProxyReading, { ok: false }> => !r.ok);
  const read = readings.filter((r): r is Extract<ProxyReading, { ok: true }> => r.ok);
  const checks: Check[] = [];
  if (readings.length === 0)
    return [{ id: 'proxies.roots', category: 'proxies', status: 'skip', message: 'no sidecar pods to read' }];
  if (read.length === 0) {
    const forbidden = failedReads.some((r) => r.forbidden);
    return [
      {
        id: 'proxies.roots',
        category: 'proxies',
        status: 'skip',
        message: forbidden
          ? 'cannot exec into sidecars (pods/exec forbidden)'
          : `could not read any of ${readings.length} sidecars`,
        hint: forbidden ? 'verify --proxies needs create on pods/exec' : 'check that istio-proxy runs pilot-agent',
        items: cap(failedReads.map((r) => `${r.namespace}/${r.pod}: ${r.error}`)),
      },
    ];
  }
  const missing = read
    .filter((r) => !referenceRoots.every((f) => r.certs.roots.includes(f)))
    .map(
      (r) =>
        `${r.namespace}/${r.pod}: trusts ${r.certs.roots.length} root(s), lacks ` +
        `${referenceRoots.filter((f) => !r.certs.roots.includes(f)).length}`,
    );
  checks.push(
    missing.length
      ? {
          id: 'proxies.roots',
          category: 'proxies',
          status: 'fail',
          message: `${missing.length} of ${read.length} sidecars do not trust every root of cacerts`,
          hint:
            'they learn new roots at certificate renewal or from a multi-root push; restart them: kubectl ' +
            'istio-ca restart --workloads-only',
          items: cap(missing),
        }
      : {
          id: 'proxies.roots',
          category: 'proxies',
          status: 'ok',
          message: `all ${read.length} sidecars read trust every root of cacerts`,
        },
  );
  if (signer) {
    const old = read.filter((r) => r.certs.chain[1] !== signer).map((r) => `${r.namespace}/${r.pod}`);
    checks.push(
      old.length
        ? {
            id: 'proxies.signer',
            category: 'proxies',
            status: 'fail',
            message:
              `${old.length} of ${read.length} sidecars hold a certificate not issued by the current ` + `intermediate`,
            hint: 'kubectl istio-ca restart --workloads-only makes them fetch a new one now',
            items: cap(old),
          }
        : {
            id: 'proxies.signer',
            category: 'proxies',
            status: 'ok',
            message: `all ${read.length} sidecars read hold certificates from the current intermediate`,
          },
    );
  }
  if (failedReads.length)
    checks.push({
      id: 'proxies.read',
      category: 'proxies',
      status: 'warn',
      message: `${failedReads.length} sidecar(s) could not be read`,
      items: cap(failedReads.map((r) => `${r.namespace}/${r.pod}: ${r.error}`)),
    });
  return checks;
}
