/**
 * Typed errors. Every failure a command can report is one of these; the entry point maps each to its exit code.
 * Exit codes (the same for every command): 0 success, 1 an operation or a check failed, 2 refused (bad flags or
 * invalid input; nothing was changed), 3 cannot connect to or authenticate with the cluster, 124 a wait timed out.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  refused: 2,
  unreachable: 3,
  timeout: 124,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class IstioCaError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  /** What the user should do about it; printed under the message. */
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** Bad flags or invalid input: nothing was changed (exit 2). */
export class RefusedError extends IstioCaError {
  readonly exitCode = ExitCode.refused;
}

/** An operation or a check failed (exit 1). */
export class OperationError extends IstioCaError {
  readonly exitCode = ExitCode.failed;
}

/** The cluster could not be reached, or did not accept the credentials (exit 3). */
export class ConnectionError extends IstioCaError {
  readonly exitCode = ExitCode.unreachable;
}

/** A wait ran out of time (exit 124). */
export class WaitTimeoutError extends IstioCaError {
  readonly exitCode = ExitCode.timeout;
}

export function isIstioCaError(e: unknown): e is IstioCaError {
  return e instanceof IstioCaError;
}
