/** Kubernetes API failures, turned into messages that name what is missing or what changed. */
import { ConnectionError, OperationError } from '../errors.js';

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly apiMessage: string,
    readonly verb: string,
    readonly resource: string,
    readonly namespace: string | undefined,
    /** The Retry-After header of the answer, in seconds, when it had one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${verb} ${resource}${namespace ? ` in namespace ${namespace}` : ''}: ${status} ${reason}: ${apiMessage}`);
  }
  get forbidden(): boolean {
    return this.status === 403;
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
}

/**
 * The API server could not be reached or did not behave as one (DNS, TCP, proxy, TLS, timeout, not an API server).
 * Its message names the step that failed; exit 3 wherever it surfaces.
 */
export class KubeTransportError extends ConnectionError {}

/** The API server answered 401: the credentials were not accepted (exit 3). */
export class KubeUnauthorizedError extends ConnectionError {}

/** Turns API errors into the plugin's typed errors with a hint; other errors pass through. */
export function explainKubeError(e: unknown, context: string): unknown {
  if (e instanceof KubeApiError) {
    const where = e.namespace ? ` in namespace ${e.namespace}` : ' cluster-wide';
    if (e.forbidden) {
      return new OperationError(
        `forbidden: context ${context} may not ${e.verb} ${e.resource}${where}`,
        `grant "${e.verb}" on ${e.resource}${where} to this user (RBAC), or use a context that has it`,
      );
    }
    if (e.status === 401)
      return new ConnectionError(
        `unauthorized: the credentials of context ${context} were rejected`,
        'refresh your credentials (kubectl get ns should work)',
      );
    return new OperationError(
      `the API server refused to ${e.verb} ${e.resource}${where}: ${e.status} ${e.reason}: ${e.apiMessage}`,
    );
  }
  return e;
}
