/**
 * The commit protocol (protocol.md §4):
 *   1. assign the version id (hybrid logical clock, at commit time);
 *   2. write an intent entry naming the keys, then every buffered version, batched, and wait
 *      until all are durable;
 *   3. a transaction begun with an idempotency key claims it, with its result
 *      (shim/idempotency.ts), so that no second transaction with the key can commit;
 *   4. only then write the commit record, put-if-absent: from this instant T is committed;
 *      the record is written only while the version id is younger than the record deadline
 *      (shim/timing.ts), so other nodes know how late a record can appear;
 *   5. add T to the node's metadata and cache, then acknowledge; the intent is deleted. (The
 *      claim needs no write of its own: its record says T committed; the first reader that
 *      looks, or GC before it may delete the record, marks the claim.)
 *
 * A crash before 4 leaves orphan versions that no reader can reach (no record names them);
 * the intent lets garbage collection find and delete them, and a claim that stops blocking
 * its key once the record window has passed (a claim is never deleted early: see
 * shim/idempotency.ts). A crash after 4 loses nothing:
 * any node bootstrapping or pulling from storage learns T.
 */
import type { CommitRecord, StorageAdapter, VersionWrite } from '../adapters/contract.js';
import type { VersionCache } from './cache.js';
import { AftError, ErrorCode, StorageUnavailableError } from './errors.js';
import { guardStorage } from './guarded-storage.js';
import { claimKey, type IdempotencyClaim } from './idempotency.js';
import { formatVersionId, type HybridLogicalClock, parseVersionId } from './ids.js';
import type { Metadata } from './metadata.js';
import type { NodeMetrics } from './telemetry.js';
import { recordWindowMs, type Timing } from './timing.js';
import type { Transaction } from './transaction.js';

export interface CommitContext {
  readonly storage: StorageAdapter;
  readonly metadata: Metadata;
  readonly cache: VersionCache;
  readonly clock: HybridLogicalClock;
  readonly metrics: NodeMetrics;
  readonly timing: Timing;
  readonly now: () => number;
  /** How long an idempotency claim blocks a new run of its key. */
  readonly idempotencyTtlMs: number;
}

/** The namespace of commit intents: id = version id, value = JSON `{ keys }` of its stored versions. */
export const INTENTS_NAMESPACE = 'intents';

const textEncoder = new TextEncoder();

/**
 * Where a failed commit stands. VERSIONS_FAILED: no commit record was attempted, so the
 * transaction can be aborted safely. OUTCOME_UNKNOWN: the commit record write failed and may
 * or may not have landed, so the transaction must not be reported aborted; repeating the
 * commit resolves it (the record write is idempotent).
 */
export const CommitFailure = {
  VERSIONS_FAILED: 'versions_failed',
  /** The record deadline passed with no record in storage: the transaction is aborted, safely. */
  DEADLINE_PASSED: 'deadline_passed',
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

/** Runs steps 1-5 for a transaction with writes; resolves with its commit record. */
export async function commitWrites(txn: Transaction, context: CommitContext): Promise<CommitRecord> {
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
        const intent = textEncoder.encode(JSON.stringify({ keys: versions.map((v) => v.key) }));
        await guardStorage(storage, metrics, 'putEntry', () =>
          storage.putEntry(INTENTS_NAMESPACE, versionId, intent),
        );
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

  if (txn.idempotencyKey !== undefined && txn.idempotencyClaimId === undefined) {
    const claim = idempotencyClaimOf(txn, versionId, context);
    try {
      txn.idempotencyClaimId = await guardStorage(storage, metrics, 'claimIdempotencyKey', () =>
        claimKey(claim, context),
      );
    } catch (error) {
      if (error instanceof AftError && error.code !== ErrorCode.STORAGE_UNAVAILABLE) throw error;
      throw new CommitError(
        CommitFailure.VERSIONS_FAILED,
        `commit of ${txn.txid} failed claiming its idempotency key`,
        error,
      );
    }
  }

  const record: CommitRecord = { versionId, txid: txn.txid, writeSet, deleted };
  const ageMs = context.now() - (parseVersionId(versionId)?.physicalMs ?? 0);
  try {
    if (txn.recordAttempted) {
      // An earlier attempt's outcome is unknown: if its record is there, T committed.
      const existing = await guardStorage(storage, metrics, 'getCommitRecord', () =>
        storage.getCommitRecord(versionId),
      );
      if (existing) {
        checkOwnRecord(existing, txn.txid);
      } else if (ageMs > recordWindowMs(context.timing)) {
        // No attempt can land any more: T never committed.
        throw new CommitError(
          CommitFailure.DEADLINE_PASSED,
          `commit of ${txn.txid} did not land before its record deadline; it is aborted`,
          undefined,
        );
      } else if (ageMs > context.timing.recordDeadlineMs) {
        throw new CommitError(
          CommitFailure.OUTCOME_UNKNOWN,
          `commit of ${txn.txid} is still undecided; repeat the commit to learn the outcome`,
          undefined,
        );
      } else {
        await writeRecord(record, txn, context);
      }
    } else if (ageMs > context.timing.recordDeadlineMs) {
      throw new CommitError(
        CommitFailure.DEADLINE_PASSED,
        `commit of ${txn.txid} took over ${context.timing.recordDeadlineMs} ms writing its versions; it is aborted`,
        undefined,
      );
    } else {
      txn.recordAttempted = true;
      await writeRecord(record, txn, context);
    }
  } catch (error) {
    if (error instanceof CommitError) throw error;
    if (error instanceof AftError && error.code === ErrorCode.INTERNAL) throw error;
    throw new CommitError(
      CommitFailure.OUTCOME_UNKNOWN,
      `commit of ${txn.txid} could not confirm its commit record; repeat the commit to learn the outcome`,
      error,
    );
  }

  context.metadata.add(record);
  for (const version of versions) context.cache.set(version.key, versionId, version.value);
  if (versions.length > 0) {
    // The intent has done its job; one left behind is deleted by garbage collection.
    storage.deleteEntries(INTENTS_NAMESPACE, [versionId]).catch(() => undefined);
  }
  return record;
}

function idempotencyClaimOf(txn: Transaction, versionId: string, context: CommitContext): IdempotencyClaim {
  return {
    key: txn.idempotencyKey!,
    txid: txn.txid,
    versionId,
    expiresAtMs: (parseVersionId(versionId)?.physicalMs ?? context.now()) + context.idempotencyTtlMs,
    result: txn.result === null ? null : Buffer.from(txn.result).toString('base64'),
    committed: false,
  };
}

async function writeRecord(record: CommitRecord, txn: Transaction, context: CommitContext): Promise<void> {
  const { storage, metrics } = context;
  const created = await guardStorage(storage, metrics, 'putCommitRecord', () =>
    storage.putCommitRecord(record),
  );
  if (!created) {
    // An earlier attempt of this same commit landed (its reply was lost).
    const existing = await guardStorage(storage, metrics, 'getCommitRecord', () =>
      storage.getCommitRecord(record.versionId),
    );
    checkOwnRecord(existing, txn.txid);
  }
}

/** Version ids embed the txid, so a record under this id from another transaction is a bug. */
function checkOwnRecord(existing: CommitRecord | undefined, txid: string): void {
  if (existing?.txid !== txid) {
    throw new AftError(
      ErrorCode.INTERNAL,
      `commit record ${existing?.versionId} belongs to ${existing?.txid}`,
    );
  }
}
