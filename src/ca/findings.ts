/** Validation findings: a stable code, a severity, the file concerned and a message that says what to do. */

export type Severity = 'error' | 'warning';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  file: string;
  message: string;
}

/** Every finding code the validator emits, with its severity. Codes are stable: scripts match on them. */
export const FINDING_CODES = {
  BUNDLE_FILE_MISSING: 'error',
  BUNDLE_FILE_EMPTY: 'error',
  BUNDLE_LAYOUT_AMBIGUOUS: 'warning',
  BUNDLE_ISTIO_GENERATED: 'error',
  PEM_NOT_FOUND: 'error',
  PEM_MALFORMED: 'error',
  CERT_UNPARSEABLE: 'error',
  PRIVATE_KEY_IN_CERT_FILE: 'error',
  CA_CERT_EXTRA_BLOCKS: 'warning',
  CA_CERT_NOT_CA: 'error',
  CA_CERT_NO_KEY_CERT_SIGN: 'error',
  KEY_ENCRYPTED: 'error',
  KEY_UNPARSEABLE: 'error',
  KEY_MISMATCH: 'error',
  CHAIN_NOT_STARTING_WITH_CA_CERT: 'error',
  CHAIN_NOT_ISSUER_ORDERED: 'error',
  CHAIN_UNTRUSTED: 'error',
  INTERMEDIATE_NOT_CA: 'error',
  ROOT_NOT_SELF_SIGNED: 'error',
  ROOT_NOT_CA: 'error',
  SIGNATURE_WEAK: 'error',
  KEY_TOO_SMALL: 'error',
  KEY_UNSUPPORTED: 'error',
  PATHLEN_EXCEEDED: 'error',
  CA_EKU_NO_SERVER_AUTH: 'error',
  CERT_EXPIRED: 'error',
  CERT_NOT_YET_VALID: 'error',
  CERT_EXPIRING: 'warning',
  INTERMEDIATE_OUTLIVES_ROOT: 'warning',
  CRL_UNPARSEABLE: 'error',
  CRL_MISSING_SIGNER: 'error',
  CRL_IGNORED: 'warning',
  CHAIN_MISSING_CA_CERT: 'error',
  CHAIN_EXTRA_CERTS: 'warning',
  CA_EKU_NO_CLIENT_AUTH: 'error',
  NAME_CONSTRAINTS_VIOLATED: 'error',
  CA_CERT_NO_KEY_USAGE: 'warning',
  CERT_EXPIRED_UNUSED: 'warning',
  ROOT_UNPARSEABLE: 'error',
} as const satisfies Record<string, Severity>;

export type FindingCode = keyof typeof FINDING_CODES;

export function finding(code: FindingCode, file: string, message: string): Finding {
  return { code, severity: FINDING_CODES[code], file, message };
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/**
 * Findings where the plugin is stricter than istiod and the peers it issues certificates for: each refuses a bundle
 * istiod would load and serve, for the reason given. Their messages say "policy". Every other error finding means
 * istiod refuses the bundle or peers reject the certificates it issues (test/unit/istiod-differential.test.ts).
 */
export const POLICY_FINDINGS: Partial<Record<FindingCode, string>> = {
  KEY_TOO_SMALL: 'RSA keys under 2048 bits are breakable; Go still accepts 1024-bit keys.',
  CHAIN_NOT_STARTING_WITH_CA_CERT:
    'cert-chain.pem is sent after every workload certificate; Go and Envoy find issuers in any order, but RFC 8446 ' +
    'senders order the chain and istio/tools writes it issuer-first.',
  CHAIN_NOT_ISSUER_ORDERED:
    'as CHAIN_NOT_STARTING_WITH_CA_CERT: a chain in any other order is accepted by Go but not by every TLS peer.',
  ROOT_NOT_SELF_SIGNED:
    'root-cert.pem is the mesh trust bundle; Go trusts any certificate in it as an anchor, so a non-root there ' +
    'silently widens or replaces the trust the root above it would give.',
  ROOT_NOT_CA: 'a non-CA certificate in the trust bundle is trusted as an anchor by Go; it can only be a mistake.',
  PRIVATE_KEY_IN_CERT_FILE:
    'Go skips private-key blocks in certificate files, but root-cert.pem is copied into every namespace and ' +
    'cert-chain.pem sent to every peer: the key would be published.',
  ROOT_UNPARSEABLE:
    'Go silently drops a root it cannot parse (a negative serial, Go 1.23+) from the trust pool: istiod starts, ' +
    'but the mesh never trusts that root.',
};
