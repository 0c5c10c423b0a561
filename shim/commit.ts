/**
 * The commit protocol (protocol.md, "Commit"):
 *   1. assign the version id (hybrid logical clock, at commit time);
 *   2. write an intent entry naming the keys (shim/intents.ts); go on only if it was
 *      acknowledged within the intent deadline by a node that is still a live member
 *      (shim/timing.ts). Where the engine writes versions and record atomically, the versions
 *      go with the record in step 4; elsewhere the intent carries the values (a redo log), and
 *      the versions are written after step 5. Either way a commit waits for two round trips.
 *      (A commit too large for both, on DynamoDB, writes its versions here, then.) Where the
 *      engine applies the write of step 4 by a clock of its own (a Redis script reads TIME),
 *      there is no intent: storage refuses a record past the intent deadline, and a txid a
 *      look-up refused (shim/commit-learning.ts), itself; one round trip in all.
 *   3. a serializable transaction claims every key it read or writes, validating its reads
 *      (shim/claims.ts; a conflict aborts it before anything is visible); a transaction begun
 *      with an idempotency key claims it, with its result (shim/idempotency.ts), so that no
 *      second transaction with the key can commit;
 *   4. only then write the commit record, put-if-absent: from this instant T is committed,
 *      unless an abort marker took the id first (shim/commit-outcome.ts): then T is aborted,
 *      however late its record arrived;
 *   5. add T to the node's metadata and cache, then acknowledge; the versions a redo-log
 *      intent holds are written, then the intent is deleted. (The claim needs no write of its
 *      own: its record says T committed; the first reader that looks, or GC before it may
 *      delete the record, marks the claim.)
 *
 * A crash before 4 leaves orphan versions that no reader can reach (no record names them);
 * the intent lets garbage collection find them, mark the record id and delete them. A crash
 * after 4 loses nothing: any node bootstrapping or pulling from storage learns T, and reads
 * versions not yet written from its intent until the collector writes them.
 */
import type { CommitRecord, StorageAdapter, VersionWrite } from '../adapters/contract.js';
import { Isolation } from '../wire/api.js';
import type { VersionCache } from './cache.js';
import { acquireClaims, type ClaimContext, keyUsesOf, releaseClaims } from './claims.js';
import { CommitError, CommitFailure } from './commit-errors.js';
import { type Decided, markAborted } from './commit-outcome.js';
import { checkOwnRecord, putRecord, putRecordSpending, refuseTicket } from './commit-record.js';
import type { CommitTicketPool } from './commit-tickets.js';
import { AftError, DamagedRecordError, ErrorCode } from './errors.js';
import { type GuardedStorage, guardStorage } from './guarded-storage.js';
import { claimKey, type IdempotencyClaim } from './idempotency.js';
import { formatVersionId, type HybridLogicalClock, parseVersionId } from './ids.js';
import { encodeIntent, INTENTS_NAMESPACE, intentMayHoldValues, writesWithoutIntents } from './intents.js';
import type { Metadata } from './metadata.js';
import { TICKETS_NAMESPACE } from './namespaces.js';
import type { NodeMetrics } from './telemetry.js';
import { orphanAfterMs, type Timing } from './timing.js';
import type { Transaction } from './transaction.js';

export interface CommitContext {
  /** Storage through its one door (shim/guarded-storage.ts). */
  readonly storage: GuardedStorage;
  readonly metadata: Metadata;
  readonly cache: VersionCache;
  readonly clock: HybridLogicalClock;
  readonly metrics: NodeMetrics;
  readonly timing: Timing;
  readonly now: () => number;
  /**
   * A clock for durations that never steps back (the commit's deadlines are durations on this
   * node): a wall clock stepped back by NTP must not let a late intent pass its deadline.
   */
  readonly elapsedNow: () => number;
  /** How long an idempotency claim blocks a new run of its key. */
  readonly idempotencyTtlMs: number;
  /** Why this node may not commit now (it cannot vouch that it is a live member), if so. */
  readonly liveness?: () => string | undefined;
  /** Learns a commit found in storage (a serializable conflict names it: shim/claims.ts). */
  readonly learn?: (record: CommitRecord) => void;
  /**
   * Commit tickets written ahead, where the engine's atomic write can swap an entry
   * (putVersionsAndRecordSwapping): a commit that takes one writes no intent.
   */
  readonly tickets?: CommitTicketPool;
}

function claimContextOf(context: CommitContext): ClaimContext {
  return {
    storage: context.storage,
    timing: context.timing,
    now: context.now,
    learn: context.learn ?? (() => undefined),
  };
}

/**
 * A serializable transaction that writes nothing: it claims the keys it read (validating
 * them) under a version id of its own, and hands them back; no intent, no record.
 */
export async function validateReadOnly(txn: Transaction, context: CommitContext): Promise<void> {
  const holder = formatVersionId(context.clock.tick(), txn.txid);
  const claims = claimContextOf(context);
  const held = await acquireClaims(holder, keyUsesOf(txn.readSet, txn.writes), claims);
  await releaseClaims(holder, held, false, claims);
}

export { CommitError, CommitFailure } from './commit-errors.js';
/** The namespace of commit intents: id = version id (shim/intents.ts). */
export { INTENTS_NAMESPACE };

/**
 * The clock follows learned commits only up to now + the allowed skew (docs/protocol.md,
 * "Pushed records"): a commit known from a clock further ahead may be newer than this one's
 * version of a key it writes, and this write would never be read. Refused before anything is
 * written (the function may run again once the clocks agree).
 */
function refuseIfHidden(txn: Transaction, versionId: string, metadata: Metadata): void {
  for (const key of txn.writes.keys()) {
    const versions = metadata.versionsOf(key);
    const newest = versions[versions.length - 1];
    if (newest !== undefined && newest >= versionId) {
      throw new CommitError(
        CommitFailure.VERSIONS_FAILED,
        `a known commit of a key this transaction writes (${newest}) is ahead of this node's clock by more than the allowed clock skew: the write would be hidden behind it`,
        undefined,
      );
    }
  }
}

/** Runs steps 1-5 for a transaction with writes; resolves with its commit record. */
export async function commitWrites(txn: Transaction, context: CommitContext): Promise<CommitRecord> {
  const { storage, metrics, timing } = context;
  if (txn.versionId === undefined) {
    const taken = formatVersionId(context.clock.tick(), txn.txid);
    refuseIfHidden(txn, taken, context.metadata);
    txn.versionId = taken;
    txn.versionTakenAtMs = context.elapsedNow();
  }
  const versionId = txn.versionId;
  const guard = { timeoutMs: timing.storageCallTimeoutMs };

  const writeSet: string[] = [];
  const deleted: string[] = [];
  const versions: VersionWrite[] = [];
  for (const [key, value] of txn.writes) {
    writeSet.push(key);
    if (value === null) deleted.push(key);
    else versions.push({ key, versionId, value });
  }

  const record: CommitRecord = { versionId, txid: txn.txid, writeSet, deleted };
  const fits = storage.fitsVersionsAndRecord?.(versions, record) ?? true;
  // Where the engine applies the write by its own clock, it refuses a record past the intent
  // deadline itself: no intent, one round trip (step 4 alone).
  const termed = writesWithoutIntents(storage) && fits;
  // Where its atomic write can swap an entry, a commit spends a ticket written ahead instead of
  // an intent: one round trip too. Taken once, at the first attempt, after the version id
  // (whose time is then past the ticket's); with none ready the commit writes an intent.
  if (
    !termed &&
    fits &&
    txn.ticket === undefined &&
    !txn.versionsDurable &&
    !txn.recordAttempted &&
    storage.putVersionsAndRecordSwapping !== undefined
  ) {
    txn.ticket = context.tickets?.take();
    // The deadlines count from the ticket's time, which is earlier.
    if (txn.ticket) txn.versionTakenAtMs = Math.min(txn.versionTakenAtMs, txn.ticket.madeAtMs);
  }
  const ticket = txn.ticket;
  // Where the engine writes several items atomically and these fit, the versions go with the
  // record in step 4 (one round trip fewer).
  const atomicVersions =
    versions.length > 0 && (termed || ticket || (storage.putVersionsAndRecord !== undefined && fits))
      ? versions
      : undefined;
  // Elsewhere (no atomic write, or one too small for these) the intent carries the values,
  // where they fit it, and the record follows it at once; the versions are written after the
  // answer (shim/intents.ts).
  const redoVersions =
    versions.length > 0 && !atomicVersions && intentMayHoldValues(versions, storage.maxEntryBytes)
      ? versions
      : undefined;
  // The versions this commit may have stored before its record: what an abort deletes.
  const storedEarly = redoVersions || termed || ticket ? [] : versions;
  // No intent: storage refuses a late record itself (by its clock, or by a refused ticket).
  const withoutIntent = termed || ticket !== undefined;

  if (!txn.versionsDurable && !withoutIntent) {
    try {
      // Every commit that may write a record has an intent first, even one with no versions:
      // the intents are how other nodes find, and settle, the commits still in flight.
      const intent = encodeIntent(versions, redoVersions !== undefined);
      await storage.putEntry(INTENTS_NAMESPACE, versionId, intent);
      // Only an intent acknowledged soon after its version id, by a node still a live member,
      // may be followed by a record: nodes settle a window's intents once that bound passed.
      checkInTime(txn, context, timing.intentDeadlineMs, 'writing its intent');
      if (versions.length > 0 && !atomicVersions && !redoVersions) {
        await storage.putVersions(versions);
      }
    } catch (error) {
      if (error instanceof CommitError) {
        abandon(storage, versionId, storedEarly);
        throw error;
      }
      throw new CommitError(
        CommitFailure.VERSIONS_FAILED,
        `commit of ${txn.txid} failed writing versions`,
        error,
      );
    }
    txn.versionsDurable = true;
  }

  if (txn.isolation === Isolation.SERIALIZABLE && txn.claims === undefined) {
    try {
      txn.claims = await acquireClaims(
        versionId,
        keyUsesOf(txn.readSet, txn.writes),
        claimContextOf(context),
      );
    } catch (error) {
      // Nothing was claimed (acquireClaims handed back what it took), no idempotency key was
      // claimed yet, and no record sent.
      abandon(storage, versionId, storedEarly);
      dropUnsentTicket(txn, storage);
      throw error;
    }
  }

  if (txn.idempotencyKey !== undefined && txn.idempotencyClaimId === undefined) {
    const claim = idempotencyClaimOf(txn, versionId, context);
    try {
      // One deadline for the whole step: its look-ups and its create.
      txn.idempotencyClaimId = await guardStorage(
        storage,
        metrics,
        'claimIdempotencyKey',
        (call) => claimKey(claim, context, call),
        guard,
      );
    } catch (error) {
      // No record follows: the transaction is aborted, so its serializable claims go back.
      handBack(txn, versionId, false, context);
      dropUnsentTicket(txn, storage);
      if (error instanceof AftError && error.code !== ErrorCode.STORAGE_UNAVAILABLE) throw error;
      throw new CommitError(
        CommitFailure.VERSIONS_FAILED,
        `commit of ${txn.txid} failed claiming its idempotency key`,
        error,
      );
    }
  }

  let decided: Decided;
  try {
    if (!txn.recordAttempted) {
      // A claim written past this is stood back from by neighbouring epochs' claimants
      // (shim/idempotency.ts), and a record this late would only be marked by others.
      if (withoutIntent) checkInTime(txn, context, timing.intentDeadlineMs, 'before writing its record');
      else checkInTime(txn, context, timing.recordDeadlineMs, 'writing its versions');
      txn.recordAttempted = true;
      decided = ticket
        ? await putRecordSpending(record, atomicVersions ?? [], ticket, context)
        : await putRecord(record, atomicVersions, termed, context);
    } else if (ticket) {
      // An earlier attempt's outcome is unknown. Within the deadline the same write settles it
      // (a ticket spent by the first is no condition); past it, or no longer live, this node
      // refuses its own ticket, as a settling pull would, and reads what stands.
      const late =
        context.elapsedNow() - txn.versionTakenAtMs > timing.intentDeadlineMs ||
        context.liveness?.() !== undefined;
      decided = late
        ? await refuseTicket(record, ticket, context)
        : await putRecordSpending(record, atomicVersions ?? [], ticket, context);
    } else if (context.elapsedNow() - txn.versionTakenAtMs > orphanAfterMs(timing)) {
      // Others may be judging this commit dead by now: decide it the way they would.
      decided = await markAborted(storage, versionId);
    } else {
      // An earlier attempt's outcome is unknown: writing the same record again settles it
      // (with its versions, where they go together: a record alone would name versions that
      // may not be stored).
      decided = await putRecord(record, atomicVersions, termed, context);
    }
  } catch (error) {
    if (error instanceof CommitError) {
      // Given up before any record was sent (or refused): decided at once, so nobody waits to
      // judge it.
      abandon(storage, versionId, storedEarly);
      dropUnsentTicket(txn, storage);
      handBack(txn, versionId, false, context);
      throw error;
    }
    // A damaged record, like an internal error, is not settled by repeating the commit: the
    // same bytes are read again.
    if (error instanceof DamagedRecordError) throw error;
    if (error instanceof AftError && error.code === ErrorCode.INTERNAL) throw error;
    throw new CommitError(
      CommitFailure.OUTCOME_UNKNOWN,
      `commit of ${txn.txid} could not confirm its commit record; repeat the commit to learn the outcome`,
      error,
    );
  }
  if (decided.state === 'aborted') {
    abandon(storage, versionId, storedEarly, true);
    handBack(txn, versionId, false, context);
    throw new CommitError(
      CommitFailure.JUDGED_DEAD,
      `commit of ${txn.txid} was judged dead and marked aborted before its record landed`,
      undefined,
    );
  }
  checkOwnRecord(decided.record, txn.txid);
  if (ticket) context.tickets?.spent(ticket);

  context.metadata.add(record);
  for (const version of versions) context.cache.set(version.key, versionId, version.value);
  // In the background: a claim not yet handed back is taken over by whoever finds this record.
  handBack(txn, versionId, true, context);
  if (redoVersions) writeVersionsAfter(txn, redoVersions, context);
  // The intent has done its job; one left behind is deleted by garbage collection.
  else if (!withoutIntent) storage.deleteEntries(INTENTS_NAMESPACE, [versionId]).catch(() => undefined);
  return record;
}

/**
 * In the background, after the answer: writes the versions a redo-log intent holds, then
 * deletes the intent (in that order: a reader that misses a version reads the intent). Only
 * soon after the version id: the collector writes the versions of an intent it finds with a
 * record, and deletes superseded versions once their successor is a known lag old; a write of
 * ours landing after that would leave a version nothing collects. Past the intent deadline
 * the collector is left to do it (readers read the intent meanwhile); what fails here too.
 */
function writeVersionsAfter(
  txn: Transaction,
  versions: readonly VersionWrite[],
  context: CommitContext,
): void {
  const { storage, timing } = context;
  if (context.elapsedNow() - txn.versionTakenAtMs > timing.intentDeadlineMs) return;
  storage
    .putVersions(versions)
    .then(() => storage.deleteEntries(INTENTS_NAMESPACE, [versions[0]!.versionId]))
    .catch(() => undefined);
}

/** Hands a serializable commit's claims back, in the background (shim/claims.ts). */
function handBack(txn: Transaction, versionId: string, committed: boolean, context: CommitContext): void {
  const held = txn.claims;
  if (!held) return;
  txn.claims = undefined;
  releaseClaims(versionId, held, committed, claimContextOf(context)).catch(() => undefined);
}

/**
 * Best effort, in the background: marks an aborted commit's record id (a no-op when a marker is
 * there) and deletes its versions, then its intent. What fails here the collector finishes.
 */
function abandon(
  storage: StorageAdapter,
  versionId: string,
  versions: readonly VersionWrite[],
  marked = false,
): void {
  const refs = versions.map(({ key }) => ({ key, versionId }));
  (marked ? Promise.resolve<Decided>({ state: 'aborted' }) : markAborted(storage, versionId))
    .then((decided) => {
      if (decided.state === 'aborted') return storage.deleteVersions(refs);
      throw new Error('a record landed');
    })
    .then(() => storage.deleteEntries(INTENTS_NAMESPACE, [versionId]))
    .catch(() => undefined);
}

/**
 * Gives back a ticket no write was sent with, in the background: deleting it is safe then (a
 * ticket a write was sent with is refused instead: shim/commit-record.ts, refuseTicket).
 */
function dropUnsentTicket(txn: Transaction, storage: StorageAdapter): void {
  const { ticket } = txn;
  if (ticket === undefined || txn.recordAttempted) return;
  storage.deleteEntries(TICKETS_NAMESPACE, [ticket.id]).catch(() => undefined);
}

/**
 * Throws DEADLINE_PASSED when the commit took longer than `limitMs` since its version id (on
 * this node's clock), or the node can no longer vouch that it is a live member.
 */
function checkInTime(txn: Transaction, context: CommitContext, limitMs: number, step: string): void {
  const elapsedMs = context.elapsedNow() - txn.versionTakenAtMs;
  if (elapsedMs > limitMs) {
    throw new CommitError(
      CommitFailure.DEADLINE_PASSED,
      `commit of ${txn.txid} took ${elapsedMs} ms ${step}, over its ${limitMs} ms; it is aborted`,
      undefined,
    );
  }
  const notLive = context.liveness?.();
  if (notLive !== undefined) {
    throw new CommitError(
      CommitFailure.DEADLINE_PASSED,
      `commit of ${txn.txid} is aborted: this node cannot vouch that it is live (${notLive})`,
      undefined,
    );
  }
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
