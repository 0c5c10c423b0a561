/** How a commit fails (shim/commit.ts): where it stands, as the client must be told. */
import { StorageUnavailableError } from './errors.js';

/**
 * Where a failed commit stands. VERSIONS_FAILED: no commit record was attempted, so the
 * transaction can be aborted safely. OUTCOME_UNKNOWN: the commit record write failed and may
 * or may not have landed, so the transaction must not be reported aborted; repeating the
 * commit resolves it (the record write is idempotent).
 */
export const CommitFailure = {
  VERSIONS_FAILED: 'versions_failed',
  /** A step took past its deadline (or the node was not live): aborted before any record. */
  DEADLINE_PASSED: 'deadline_passed',
  /** Someone judged the commit dead and took its record id with an abort marker first. */
  JUDGED_DEAD: 'judged_dead',
  OUTCOME_UNKNOWN: 'outcome_unknown',
} as const;
export type CommitFailure = (typeof CommitFailure)[keyof typeof CommitFailure];

export class CommitError extends StorageUnavailableError {
  override readonly name: string = 'CommitError';
  constructor(
    readonly failure: CommitFailure,
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}
