/**
 * The node's only door to the adapter: every engine failure becomes a typed, retryable
 * StorageUnavailableError (with the engine's error as `cause`) and is counted. Adapters stay
 * thin; this logic lives once, here.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import { AftError, isAbortError, StorageUnavailableError } from './errors.js';
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
  | 'claimIdempotencyKey';

export async function guardStorage<T>(
  adapter: StorageAdapter,
  metrics: NodeMetrics,
  operation: StorageOperation,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AftError || isAbortError(error)) throw error;
    metrics.storageError(operation);
    const reason = error instanceof Error ? error.message : String(error);
    throw new StorageUnavailableError(`storage (${adapter.name}) failed in ${operation}: ${reason}`, {
      cause: error,
    });
  }
}
