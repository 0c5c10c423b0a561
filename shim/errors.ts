/**
 * The core's errors: the REST API's typed errors (wire/errors.ts, shared with clients), and
 * what only a server raises.
 */
export * from '../wire/errors.js';

import { AftError, ErrorCode, StorageUnavailableError } from '../wire/errors.js';

export class RouteNotFoundError extends AftError {
  override readonly name: string = 'RouteNotFoundError';
  constructor(method: string, path: string) {
    super(ErrorCode.ROUTE_NOT_FOUND, `no route for ${method} ${path}`);
  }
}

/**
 * A commit's outcome cannot be decided: its record id is taken, but by a record that cannot
 * be read (CommitRecord.damaged). Not retryable: asking again reads the same bytes.
 */
export class DamagedRecordError extends StorageUnavailableError {
  override readonly name: string = 'DamagedRecordError';
  constructor(readonly versionId: string) {
    super(`the commit record ${versionId} cannot be read (damaged in storage): its outcome is unknown`, {
      retryable: false,
      details: { versionId },
    });
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
