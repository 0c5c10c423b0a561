/**
 * One running transaction on its owning node: the write buffer, the read set and the idle
 * deadline. Writes stay here until commit; nothing reaches storage before then.
 */

import { Isolation } from '../wire/api.js';
import type { HeldClaims } from './claims.js';
import type { CommitTicket } from './commit-tickets.js';
import type { ReadSet } from './read-atomic.js';

export const TransactionStatus = {
  RUNNING: 'running',
  /** Commit has begun: no more reads or writes; the outcome is not known yet. */
  COMMITTING: 'committing',
  COMMITTED: 'committed',
  ABORTED: 'aborted',
} as const;
export type TransactionStatus = (typeof TransactionStatus)[keyof typeof TransactionStatus];

/** A buffered write: the value, or null for a delete (a tombstone). */
export type BufferedValue = Uint8Array | null;

export class Transaction {
  status: TransactionStatus = TransactionStatus.RUNNING;
  /** Assigned when commit starts and kept, so a repeated commit writes the same record. */
  versionId: string | undefined;
  /** The node's duration clock when the version id was taken: the commit's deadlines count from it. */
  versionTakenAtMs = 0;
  /**
   * Step 2 of commit is done: the intent is written, and every buffered version is durable
   * unless they go with the record (an engine that writes both atomically).
   */
  versionsDurable = false;
  /**
   * The commit ticket this commit spends instead of writing an intent (shim/commit-tickets.ts),
   * kept for a repeated commit; its time bounds the commit's deadlines.
   */
  ticket: CommitTicket | undefined;
  /** A commit record write was started (its outcome may be unknown). */
  recordAttempted = false;
  /** Set while a commit runs, so a concurrent commit of the same transaction joins it. */
  commitInFlight: Promise<string | null> | undefined;
  /** Set at begin: the transaction commits only if no other one with this key did (shim/idempotency.ts). */
  idempotencyKey: string | undefined;
  /** The handler's result, recorded with the idempotency claim at commit. */
  result: Uint8Array | null = null;
  /** The id of this transaction's idempotency claim, once written. */
  idempotencyClaimId: string | undefined;
  /** A serializable commit's claims, once taken (shim/claims.ts); kept for a repeated commit. */
  claims: HeldClaims | undefined;
  /** Bytes of keys and values in the write buffer. */
  bufferedBytes = 0;
  lastActivityMs: number;

  private readonly buffered = new Map<string, BufferedValue>();
  private readonly reads = new Map<string, string>();

  constructor(
    readonly txid: string,
    readonly startedAtMs: number,
    readonly idleTimeoutMs: number,
    /** The node's metadata sequence when T began: versions learned by then bound T's reads. */
    readonly startSeq = 0,
    /** Every commit with a version time up to this was known when T began (its low-water mark). */
    readonly knownThroughAtStartMs = 0,
    readonly isolation: Isolation = Isolation.READ_ATOMIC,
  ) {
    this.lastActivityMs = startedAtMs;
  }

  get writes(): ReadonlyMap<string, BufferedValue> {
    return this.buffered;
  }

  get readSet(): ReadSet {
    return this.reads;
  }

  recordRead(key: string, versionId: string): void {
    this.reads.set(key, versionId);
  }

  /** Undoes a read whose answer was never given (its choice rested on a dropped record). */
  forgetRead(key: string): void {
    this.reads.delete(key);
  }

  /** Replaces the buffered value of each key; the caller has checked the limits. */
  bufferWrite(key: string, value: BufferedValue, keyBytes: number): void {
    const previous = this.buffered.get(key);
    if (previous !== undefined) this.bufferedBytes -= keyBytes + (previous?.byteLength ?? 0);
    this.buffered.set(key, value);
    this.bufferedBytes += keyBytes + (value?.byteLength ?? 0);
  }

  /** What the write buffer would hold after these writes, for checking limits before any is applied. */
  projectedSize(writes: readonly { key: string; value: BufferedValue; keyBytes: number }[]): {
    keys: number;
    bytes: number;
  } {
    let keys = this.buffered.size;
    let bytes = this.bufferedBytes;
    const seen = new Map<string, number>();
    for (const { key, value, keyBytes } of writes) {
      const previousSize = seen.get(key) ?? this.sizeOf(key, keyBytes);
      if (previousSize === undefined) keys += 1;
      else bytes -= previousSize;
      const size = keyBytes + (value?.byteLength ?? 0);
      bytes += size;
      seen.set(key, size);
    }
    return { keys, bytes };
  }

  isIdle(nowMs: number): boolean {
    return nowMs - this.lastActivityMs > this.idleTimeoutMs;
  }

  touch(nowMs: number): void {
    this.lastActivityMs = nowMs;
  }

  private sizeOf(key: string, keyBytes: number): number | undefined {
    if (!this.buffered.has(key)) return undefined;
    return keyBytes + (this.buffered.get(key)?.byteLength ?? 0);
  }
}
