/**
 * The core's errors: the REST API's typed errors (wire/errors.ts, shared with clients), and
 * what only a server raises.
 */
export * from '../wire/errors.js';

import { AftError, ErrorCode } from '../wire/errors.js';

export class RouteNotFoundError extends AftError {
  override readonly name: string = 'RouteNotFoundError';
  constructor(method: string, path: string) {
    super(ErrorCode.ROUTE_NOT_FOUND, `no route for ${method} ${path}`);
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
