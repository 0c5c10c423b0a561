/**
 * The commit protocol (protocol.md §4):
 *   1. assign the version id (hybrid logical clock, at commit time);
 *   2. write every buffered version, batched, and wait until all are durable;
 *   3. only then write the commit record, put-if-absent: from this instant T is committed;
 *   4. add T to the node's metadata and cache, then acknowledge.
 *
 * A crash before 3 leaves orphan versions that no reader can reach (no record names them).
 * A crash after 3 loses nothing: any node bootstrapping or pulling from storage learns T.
 */
import type { CommitRecord, StorageAdapter, VersionWrite } from '../adapters/contract.js';
import type { VersionCache } from './cache.js';
import { AftError, ErrorCode, StorageUnavailableError } from './errors.js';
import { guardStorage } from './guarded-storage.js';
import { formatVersionId, type HybridLogicalClock } from './ids.js';
import type { Metadata } from './metadata.js';
import type { NodeMetrics } from './telemetry.js';
import type { Transaction } from './transaction.js';

export interface CommitContext {
  readonly storage: StorageAdapter;
  readonly metadata: Metadata;
  readonly cache: VersionCache;
  readonly clock: HybridLogicalClock;
  readonly metrics: NodeMetrics;
}

/**
 * Where a failed commit stands. VERSIONS_FAILED: no commit record was attempted, so the
 * transaction can be aborted safely. OUTCOME_UNKNOWN: the commit record write failed and may
 * or may not have landed, so the transaction must not be reported aborted; repeating the
 * commit resolves it (the record write is idempotent).
 */
export const CommitFailure = {
  VERSIONS_FAILED: 'versions_failed',
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

/** Runs steps 1-4 for a transaction with writes; resolves with its version id. */
export async function commitWrites(txn: Transaction, context: CommitContext): Promise<string> {
  const { storage, metrics } = context;
  txn.versionId ??= formatVersionId(context.clock.tick(), txn.txid);
  const versionId = txn.versionId;

  const writeSet: string[] = [];
  const deleted: string[] = [];
  const versions: VersionWrite[] = [];
  for (const [key, value] of txn.writes) {
    writeSet.push(key);
    if (value === null) deleted.push(key);
    else versions.push({ key, versionId, value });
  }

  if (!txn.versionsDurable) {
    try {
      if (versions.length > 0) {
        await guardStorage(storage, metrics, 'putVersions', () => storage.putVersions(versions));
      }
    } catch (error) {
      throw new CommitError(
        CommitFailure.VERSIONS_FAILED,
        `commit of ${txn.txid} failed writing versions`,
        error,
      );
    }
    txn.versionsDurable = true;
  }

  const record: CommitRecord = { versionId, txid: txn.txid, writeSet, deleted };
  try {
    const created = await guardStorage(storage, metrics, 'putCommitRecord', () =>
      storage.putCommitRecord(record),
    );
    if (!created) {
      // An earlier attempt of this same commit landed (its reply was lost). Version ids embed
      // the txid, so a record under this id from another transaction would be a bug.
      const existing = await guardStorage(storage, metrics, 'getCommitRecord', () =>
        storage.getCommitRecord(versionId),
      );
      if (existing?.txid !== txn.txid) {
        throw new AftError(ErrorCode.INTERNAL, `commit record ${versionId} belongs to ${existing?.txid}`);
      }
    }
  } catch (error) {
    if (error instanceof AftError && error.code === ErrorCode.INTERNAL) throw error;
    throw new CommitError(
      CommitFailure.OUTCOME_UNKNOWN,
      `commit of ${txn.txid} could not confirm its commit record; repeat the commit to learn the outcome`,
      error,
    );
  }

  context.metadata.add(record);
  for (const version of versions) context.cache.set(version.key, versionId, version.value);
  return versionId;
}
