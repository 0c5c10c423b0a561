/**
 * The node's only door to the adapter: every engine failure becomes a typed, retryable
 * StorageUnavailableError (with the engine's error as `cause`) and is counted, and a call
 * given a deadline is abandoned when it passes (one AbortSignal through the SDK's retries,
 * so attempts are bounded by time, not by a count). Adapters stay thin; this logic lives
 * once, here.
 */
import { setMaxListeners } from 'node:events';
import type { CallOptions, StorageAdapter } from '../adapters/contract.js';
import { AftError, isAbortError, StorageUnavailableError } from './errors.js';
import { storageStateOf } from './storage-state.js';
import type { NodeMetrics } from './telemetry.js';

export type StorageOperation =
  | 'putVersions'
  | 'getVersion'
  | 'putCommitRecord'
  | 'getCommitRecord'
  | 'listCommitRecords'
  | 'listCommitRecordIds'
  | 'deleteVersions'
  | 'deleteCommitRecords'
  | 'putEntry'
  | 'createEntry'
  | 'listEntries'
  | 'deleteEntries'
  /** The idempotency claim of a commit (a listing, record look-ups and a create). */
  | 'claimIdempotencyKey'
  | 'time';

export interface GuardOptions {
  /** The caller's signal: its abort rejects with its own reason. */
  readonly signal?: AbortSignal | undefined;
  /** The call's deadline: past it the call is abandoned as STORAGE_UNAVAILABLE. */
  readonly timeoutMs?: number | undefined;
}

export async function guardStorage<T>(
  adapter: StorageAdapter,
  metrics: NodeMetrics,
  operation: StorageOperation,
  call: (options: CallOptions) => Promise<T>,
  guard: GuardOptions = {},
): Promise<T> {
  const deadline = guard.timeoutMs === undefined ? undefined : AbortSignal.timeout(guard.timeoutMs);
  const signal =
    deadline && guard.signal ? AbortSignal.any([guard.signal, deadline]) : (deadline ?? guard.signal);
  // One logical call may make many requests at once (a listing reads its records in parallel),
  // each listening on this signal: that is expected, not a leak.
  if (deadline && signal) setMaxListeners(0, signal);
  const state = storageStateOf(adapter);
  try {
    const answer = await call(signal ? { signal } : {});
    state?.answered();
    return answer;
  } catch (error) {
    if (error instanceof AftError) throw error;
    if (!guard.signal?.aborted) state?.failed(error);
    if (isAbortError(error) || deadline?.aborted) {
      if (!deadline?.aborted || guard.signal?.aborted) throw error;
      metrics.storageError(operation);
      throw new StorageUnavailableError(
        `storage (${adapter.name}) did not answer ${operation} within ${guard.timeoutMs} ms`,
        { cause: error },
      );
    }
    metrics.storageError(operation);
    const reason = error instanceof Error ? error.message : String(error);
    throw new StorageUnavailableError(`storage (${adapter.name}) failed in ${operation}: ${reason}`, {
      cause: error,
    });
  }
}
