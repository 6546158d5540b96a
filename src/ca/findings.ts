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
} as const satisfies Record<string, Severity>;

export type FindingCode = keyof typeof FINDING_CODES;

export function finding(code: FindingCode, file: string, message: string): Finding {
  return { code, severity: FINDING_CODES[code], file, message };
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
