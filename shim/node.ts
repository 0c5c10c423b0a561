/**
 * A shim node: it owns the transactions it began, buffers their writes, serves their reads by
 * the read rule, commits them through storage and keeps the metadata of every commit it
 * knows. Everything durable is in storage; a node can die at any instant and a new one
 * rebuilds its metadata from the commit records (`start`).
 */
import { LRUCache } from 'lru-cache';
import type { CommitRecord, StorageAdapter } from '../adapters/contract.js';
import { mapLimit } from '../adapters/map-limit.js';
import type { CommitOutcome, ReadItem, ReplayedCommit, StatusAnswer, TransactionState } from '../wire/api.js';
import { VersionCache } from './cache.js';
import { type CommitContext, CommitError, CommitFailure, commitWrites } from './commit.js';
import { CommitLearner } from './commit-learning.js';
import { DEFAULT_CONFIG, type ShimConfig } from './config.js';
import {
  AftError,
  BadRequestError,
  DuplicateCommittedError,
  DuplicateInProgressError,
  ErrorCode,
  NotReadyError,
  ShuttingDownError,
  StorageUnavailableError,
  TooLargeError,
  TooManyTransactionsError,
  TransactionLostError,
  TransactionNotFoundError,
  TransactionNotRunningError,
} from './errors.js';
import { guardStorage } from './guarded-storage.js';
import { standingOf } from './idempotency.js';
import { HybridLogicalClock, newNodeId, ownerOfTxid, TxidGenerator } from './ids.js';
import { supersededBefore } from './local-gc.js';
import { Metadata } from './metadata.js';
import { refusalOf } from './pushed-records.js';
import { chooseVersion, NOTHING_READ } from './read-atomic.js';
import {
  type NodeLogger,
  type NodeMetrics,
  noMetrics,
  silentLogger,
  TransactionOutcome,
} from './telemetry.js';
import { checkTiming, DEFAULT_TIMING, type Timing } from './timing.js';
import { type BufferedValue, Transaction, TransactionStatus } from './transaction.js';

/** The settings a node enforces; see shim/config.ts for each one's meaning and default. */
export type NodeLimits = Pick<
  ShimConfig,
  | 'maxKeyBytes'
  | 'maxValueBytes'
  | 'maxTransactionKeys'
  | 'maxTransactionBytes'
  | 'maxOpenTransactions'
  | 'maxHeldTransactions'
  | 'transactionTimeoutMs'
  | 'maxTransactionTimeoutMs'
  | 'cacheBytes'
  | 'idempotencyTtlMs'
  | 'maxResultBytes'
>;

export interface ShimNodeOptions {
  readonly storage: StorageAdapter;
  readonly limits?: Partial<NodeLimits>;
  readonly metrics?: NodeMetrics;
  readonly logger?: NodeLogger;
  /** The clock, for tests. @default Date.now */
  readonly now?: () => number;
  /**
   * The clock for durations (commit deadlines), for tests: it must never step back.
   * @default `now` when one is given, else performance.now
   */
  readonly elapsedNow?: () => number;
  /** How often idle transactions are looked for. @default 1000 */
  readonly reaperIntervalMs?: number;
  /** How many finished transactions are remembered for status and repeated commits. @default 100000 */
  readonly finishedMemory?: number;
  /** The protocol's time bounds (shim/timing.ts); tests shorten them. */
  readonly timing?: Partial<Timing>;
  /** How often the node drops superseded transactions from its metadata. @default 2000 */
  readonly localGcIntervalMs?: number;
  /** Called with each commit record this node writes, to push it to peers. */
  readonly onCommitted?: (record: CommitRecord) => void;
  /**
   * Why this node cannot vouch that it is a live member right now (membership's heartbeat
   * freshness), if so: a commit then stops before its record (docs/protocol.md).
   */
  readonly liveness?: () => string | undefined;
  /** Records a listing asks storage for at once. @default 1000 */
  readonly listPageSize?: number;
}

/** A transaction's outcome once storage has decided it. */
export type DecidedOutcome =
  | { readonly status: 'committed'; readonly version: string | null }
  | { readonly status: 'aborted' };

// The node answers in the REST API's own types (wire/api.ts), under the names the library
// has always exported.
export type { TransactionState };
/** A transaction and its state. */
export type TransactionInfo = StatusAnswer;
export type CommitResult = CommitOutcome;
/** The answer to an idempotent begin whose key already committed: that transaction and its result. */
export type Replay = ReplayedCommit & { readonly status: 'committed' };
/** Do not mutate a value read: it may be the cache's. */
export type ReadResult = ReadItem;

export interface WriteItem {
  readonly key: string;
  /** The new value, or null to delete the key. */
  readonly value: Uint8Array | null;
}

interface FinishedTransaction {
  readonly status: 'committed' | 'aborted';
  readonly version: string | null;
  readonly reason: string;
  /** Aborted by the node or the protocol, not by its client: it was lost (see finishAborted). */
  readonly lost?: true;
}

const textEncoder = new TextEncoder();

/** One key of a batch read: its buffered write, or the committed version the read rule chose. */
interface ReadChoice {
  readonly key: string;
  readonly buffered?: BufferedValue;
  readonly version?: string;
  /** Chosen by this batch (not read before by the transaction, nor buffered). */
  readonly chosenNow: boolean;
}

/** A read chose a pushed record that storage does not confirm; it is gone from the metadata now. */
class PushedRecordDropped extends Error {}

/** Versions one batch read fetches from storage at once. */
const READS_IN_FLIGHT = 64;

/** A batch is chosen again at most this often after dropping pushed records. */
const MAX_READ_ATTEMPTS = 4;

export class ShimNode {
  readonly nodeId = newNodeId();
  readonly limits: NodeLimits;
  private readonly storage: StorageAdapter;
  private readonly metrics: NodeMetrics;
  private readonly logger: NodeLogger;
  private readonly now: () => number;
  private readonly txids: TxidGenerator;
  private readonly clock: HybridLogicalClock;
  private readonly metadata = new Metadata();
  private readonly cache: VersionCache;
  private readonly running = new Map<string, Transaction>();
  private readonly finished: LRUCache<string, FinishedTransaction>;
  private readonly reaper: NodeJS.Timeout;
  private readonly commitContext: CommitContext;
  private readyFlag = false;
  private closing = false;
  readonly timing: Timing;
  private readonly onCommitted: ((record: CommitRecord) => void) | undefined;
  private readonly learner: CommitLearner;
  private fencedReason: string | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly localGcIntervalMs: number;

  constructor(options: ShimNodeOptions) {
    this.storage = options.storage;
    const limits = { ...DEFAULT_CONFIG, ...options.limits };
    // Keep only the limits, not the whole server configuration a caller may pass.
    this.limits = {
      maxKeyBytes: limits.maxKeyBytes,
      maxValueBytes: limits.maxValueBytes,
      maxTransactionKeys: limits.maxTransactionKeys,
      maxTransactionBytes: limits.maxTransactionBytes,
      maxOpenTransactions: limits.maxOpenTransactions,
      maxHeldTransactions: limits.maxHeldTransactions,
      transactionTimeoutMs: limits.transactionTimeoutMs,
      maxTransactionTimeoutMs: limits.maxTransactionTimeoutMs,
      cacheBytes: limits.cacheBytes,
      idempotencyTtlMs: limits.idempotencyTtlMs,
      maxResultBytes: limits.maxResultBytes,
    };
    this.metrics = options.metrics ?? noMetrics;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.txids = new TxidGenerator(this.nodeId, this.now);
    this.clock = new HybridLogicalClock(this.now);
    this.cache = new VersionCache(this.limits.cacheBytes);
    this.finished = new LRUCache({ max: options.finishedMemory ?? 100_000 });
    this.reaper = setInterval(() => this.reapIdle(), options.reaperIntervalMs ?? 1000);
    this.reaper.unref();
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    checkTiming(this.timing);
    this.onCommitted = options.onCommitted;
    this.localGcIntervalMs = options.localGcIntervalMs ?? 2000;
    this.commitContext = {
      storage: this.storage,
      metadata: this.metadata,
      cache: this.cache,
      clock: this.clock,
      metrics: this.metrics,
      timing: this.timing,
      now: this.now,
      elapsedNow: options.elapsedNow ?? options.now ?? (() => performance.now()),
      idempotencyTtlMs: this.limits.idempotencyTtlMs,
      ...(options.liveness && { liveness: options.liveness }),
    };
    this.learner = new CommitLearner({
      storage: this.storage,
      metrics: this.metrics,
      metadata: this.metadata,
      clock: this.clock,
      timing: this.timing,
      now: this.now,
      ...(options.listPageSize !== undefined && { pageSize: options.listPageSize }),
      onDroppedPushed: (versionId, why) => {
        this.logger.warn(
          { versionId, reason: why },
          'dropped a pushed commit record storage does not confirm',
        );
      },
      onClockAhead: (versionId, aheadMs) =>
        this.logger.warn(
          { versionId, aheadMs, maxClockSkewMs: this.timing.maxClockSkewMs },
          "a commit record is further ahead of this node's clock than the allowed skew: the clock does not follow it",
        ),
    });
  }

  /** A node that has loaded the metadata of every commit in storage. */
  static async open(options: ShimNodeOptions & { signal?: AbortSignal }): Promise<ShimNode> {
    const node = new ShimNode(options);
    try {
      await node.start(options.signal);
    } catch (error) {
      await node.close();
      throw error;
    }
    return node;
  }

  get ready(): boolean {
    return this.readyFlag && !this.closing && this.fencedReason === undefined;
  }

  /**
   * This node's low-water mark for global garbage collection: every running transaction
   * here began knowing every commit with a version time up to it.
   */
  get lowWaterMs(): number {
    let low = this.learner.knownThroughMs;
    for (const txn of this.running.values()) low = Math.min(low, txn.knownThroughAtStartMs);
    return low;
  }

  get openTransactions(): number {
    return this.running.size;
  }

  /** Counts for tests and operators: metadata entries, cache use. */
  get stats(): {
    transactions: number;
    keys: number;
    cacheBytes: number;
    cacheEntries: number;
    knownThroughMs: number;
  } {
    return {
      knownThroughMs: this.learner.knownThroughMs,
      transactions: this.metadata.transactionCount,
      keys: this.metadata.keyCount,
      cacheBytes: this.cache.sizeBytes,
      cacheEntries: this.cache.entryCount,
    };
  }

  /**
   * Bootstrap: settles the intents in flight and reads every commit record in storage into
   * the metadata, moving the clock past the newest, so this node's commits order after all.
   */
  async start(signal?: AbortSignal): Promise<void> {
    await this.learner.bootstrap(signal);
    this.readyFlag = true;
    this.logger.info({ nodeId: this.nodeId, commits: this.metadata.transactionCount }, 'metadata loaded');
    if (this.closing) return;
    const pullTimer = setInterval(() => {
      this.pull().catch((error: unknown) => {
        // Storage failing is said once per change of state (shim/storage-state.ts).
        if (error instanceof StorageUnavailableError)
          this.logger.debug({ err: error }, 'pulling commit records failed');
        else this.logger.warn({ err: error }, 'pulling commit records failed');
      });
    }, this.timing.pullIntervalMs);
    const gcTimer = setInterval(() => this.collectLocal(), this.localGcIntervalMs);
    for (const timer of [pullTimer, gcTimer]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  /**
   * Learns the commit records in storage this node does not know (shim/commit-learning.ts);
   * every few pulls a settling pull moves what this node claims to know. Resolves with the
   * number of commits learned.
   */
  pull(signal?: AbortSignal): Promise<number> {
    return this.learner.pull(signal);
  }

  /** The version of a committed transaction this node knows of (null: read-only), else undefined. */
  committedVersionOf(txid: string): string | null | undefined {
    const finished = this.finished.get(txid);
    if (finished?.status === 'committed') return finished.version;
    return this.metadata.versionIdOfTxid(txid);
  }

  /**
   * Learns commit records a peer pushed (the caller authenticated the peer). Each is checked
   * first (shim/pushed-records.ts); a refused one is dropped and logged. Answers how many
   * were new and how many were refused.
   */
  learnPushedCommits(records: readonly CommitRecord[]): { learned: number; refused: number } {
    const bounds = {
      nowMs: this.now(),
      maxClockSkewMs: this.timing.maxClockSkewMs,
      maxKeyBytes: this.limits.maxKeyBytes,
    };
    let learned = 0;
    let refused = 0;
    for (const record of records) {
      const refusal = refusalOf(record, bounds);
      if (refusal !== undefined) {
        refused += 1;
        this.logger.warn({ versionId: record.versionId, reason: refusal }, 'refused a pushed commit record');
      } else if (this.learner.learn(record, false)) {
        learned += 1;
      }
    }
    return { learned, refused };
  }

  /**
   * Drops from the metadata (and cache) the transactions no running transaction here can
   * still read (shim/local-gc.ts). Returns how many were dropped.
   */
  collectLocal(): number {
    let horizon = this.metadata.learnedSeq;
    for (const txn of this.running.values()) horizon = Math.min(horizon, txn.startSeq);
    let removable = supersededBefore(this.metadata, horizon);
    if (horizon < this.metadata.learnedSeq) {
      const held = supersededBefore(this.metadata, this.metadata.learnedSeq).length - removable.length;
      if (held > this.limits.maxHeldTransactions) removable = this.releaseHeld(held);
    }
    for (const versionId of removable) {
      const committed = this.metadata.get(versionId);
      if (!committed) continue;
      for (const key of committed.writeSet) this.cache.delete(key, versionId);
      this.metadata.remove(versionId);
      this.learner.collected.set(versionId, true);
    }
    return removable.length;
  }

  /**
   * The running transactions hold more superseded transactions than the bound: aborts the
   * oldest, as lost (nothing of them is visible, so their functions may run again), until
   * the rest hold no more than the bound. Committing ones are left to finish. Answers what
   * local GC may then drop.
   */
  private releaseHeld(held: number): string[] {
    const bound = this.limits.maxHeldTransactions;
    const oldestFirst = [...this.running.values()].sort((a, b) => a.startSeq - b.startSeq);
    const everySuperseded = supersededBefore(this.metadata, this.metadata.learnedSeq).length;
    let removable: string[] = [];
    for (const txn of oldestFirst) {
      if (held <= bound) break;
      if (txn.status !== TransactionStatus.RUNNING) continue;
      this.finishAborted(
        txn,
        `it held back local garbage collection past --max-held-txns (${bound} superseded transactions)`,
        TransactionOutcome.TIMED_OUT,
        true,
      );
      let horizon = this.metadata.learnedSeq;
      for (const running of this.running.values()) horizon = Math.min(horizon, running.startSeq);
      removable = supersededBefore(this.metadata, horizon);
      held = everySuperseded - removable.length;
    }
    this.logger.warn(
      { held, maxHeldTransactions: bound },
      'aborted the oldest running transactions: they held back local garbage collection',
    );
    return removable;
  }

  /**
   * Stops serving: the node lost contact with storage for so long that the others may have
   * counted it dead (and collected versions its transactions could read). Its running
   * transactions are aborted; it serves again once `unfence` is called.
   */
  fence(reason: string): void {
    if (this.fencedReason !== undefined) return;
    this.fencedReason = reason;
    this.logger.error({ reason }, 'node fenced: it stops serving until it reaches storage again');
    for (const txn of this.running.values()) {
      if (txn.status === TransactionStatus.RUNNING) {
        this.finishAborted(txn, `the node was fenced: ${reason}`, TransactionOutcome.ABORTED, true);
      }
    }
  }

  unfence(): void {
    if (this.fencedReason === undefined) return;
    this.fencedReason = undefined;
    this.logger.info({}, 'node serves again');
  }

  begin(options: { timeoutMs?: number } = {}): TransactionInfo {
    this.assertAccepting();
    if (this.running.size >= this.limits.maxOpenTransactions) {
      throw new TooManyTransactionsError(this.limits.maxOpenTransactions);
    }
    const timeoutMs = options.timeoutMs ?? this.limits.transactionTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > this.limits.maxTransactionTimeoutMs) {
      throw new BadRequestError(
        `timeoutMs must be a whole number from 1 to ${this.limits.maxTransactionTimeoutMs}`,
      );
    }
    const txn = new Transaction(
      this.txids.next(),
      this.now(),
      timeoutMs,
      this.metadata.learnedSeq,
      this.learner.knownThroughMs,
    );
    this.running.set(txn.txid, txn);
    return { txid: txn.txid, status: 'running' };
  }

  /**
   * Begins a transaction that will commit only if no other transaction with the same
   * idempotency key commits (shim/idempotency.ts). When one already committed within the
   * key's time-to-live, nothing begins: its txid and recorded result come back instead, and
   * when one is committing right now this throws DuplicateInProgressError (retryable).
   */
  async beginIdempotent(
    idempotencyKey: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<TransactionInfo | Replay> {
    this.assertAccepting();
    checkIdempotencyKey(idempotencyKey);
    const standing = await guardStorage(this.storage, this.metrics, 'claimIdempotencyKey', () =>
      standingOf(
        idempotencyKey,
        undefined,
        this.commitContext,
        options.signal ? { signal: options.signal } : {},
      ),
    );
    if (standing.state === 'committed') {
      const { txid, versionId, result } = standing.claim;
      return {
        txid,
        status: 'committed',
        version: versionId,
        result: result === null ? null : new Uint8Array(Buffer.from(result, 'base64')),
        replayed: true,
      };
    }
    if (standing.state === 'pending') throw new DuplicateInProgressError(idempotencyKey, standing.claim.txid);
    const info = this.begin(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    this.running.get(info.txid)!.idempotencyKey = idempotencyKey;
    return info;
  }

  /** Where a transaction stands, from this node's memory only. */
  status(txid: string): TransactionInfo {
    const txn = this.running.get(txid);
    if (txn) return { txid, status: 'running' };
    const finished = this.finishedOf(txid);
    return { txid, status: finished.status };
  }

  /**
   * Where a transaction stands: from memory, else from storage, so that a transaction that
   * committed answers committed on every node for the outcome retention, whoever forgot it.
   */
  async statusOf(txid: string, signal?: AbortSignal): Promise<TransactionInfo> {
    const txn = this.running.get(txid);
    if (txn) return { txid, status: 'running' };
    const finished = await this.finishedOrStored(txid, signal);
    return { txid, status: finished.status };
  }

  /**
   * For a transaction whose owner is a live member that did not answer: its outcome when
   * storage has decided it, else undefined (the owner may still commit it).
   */
  async decidedOutcome(txid: string, signal?: AbortSignal): Promise<DecidedOutcome | undefined> {
    const version = this.committedVersionOf(txid);
    if (version !== undefined) return { status: 'committed', version };
    const stored = await this.learner.outcomeOf(txid, false, signal);
    if (stored.status === 'committed') return { status: 'committed', version: stored.version };
    if (stored.status === 'aborted') return { status: 'aborted' };
    return undefined;
  }

  /**
   * Reads keys in one transaction, in order. Versions are chosen for all keys first, with no
   * await in between, so the choices see one consistent state of the metadata; values are
   * then fetched in parallel (cache, else storage).
   */
  async read(
    txid: string,
    keys: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<ReadResult[]> {
    const started = performance.now();
    const txn = this.runningTransaction(txid);
    for (const key of keys) this.checkKey(key);
    txn.touch(this.now());

    // A pushed record storage does not confirm is dropped as the read finds it; the batch's
    // choices may have leaned on it, so they are undone and made again without it. Reads of
    // earlier batches never chose it (they would have found it then).
    for (let attempt = 1; ; attempt++) {
      const choices = this.chooseVersions(txn, keys);
      try {
        const results = await this.readChoices(choices, options.signal);
        this.metrics.observeRead((performance.now() - started) / 1000);
        return results;
      } catch (error) {
        if (!(error instanceof PushedRecordDropped) || attempt >= MAX_READ_ATTEMPTS) throw error;
        for (const choice of choices) if (choice.chosenNow) txn.forgetRead(choice.key);
      }
    }
  }

  /** The read rule for each key, recorded in the read set before the next key is chosen. */
  private chooseVersions(txn: Transaction, keys: readonly string[]): ReadChoice[] {
    return keys.map((key): ReadChoice => {
      const buffered = txn.writes.get(key);
      if (buffered !== undefined) return { key, buffered, chosenNow: false };
      const chosenNow = !txn.readSet.has(key);
      const version = chooseVersion(key, txn.readSet, this.metadata);
      txn.recordRead(key, version ?? NOTHING_READ);
      return version === undefined ? { key, chosenNow } : { key, version, chosenNow };
    });
  }

  /**
   * Reads the chosen versions, a bounded number at a time, and refuses an answer whose values
   * add up past the transaction limit: one request never holds more than a transaction may
   * write, whatever the client asks for.
   */
  private async readChoices(
    choices: readonly ReadChoice[],
    signal: AbortSignal | undefined,
  ): Promise<ReadResult[]> {
    const maxBytes = this.limits.maxTransactionBytes;
    let answerBytes = 0;
    const tooLarge = () =>
      new TooLargeError(`a read may return at most ${maxBytes} bytes of values: read fewer keys at once`);
    return mapLimit(choices, READS_IN_FLIGHT, async (choice) => {
      if (answerBytes > maxBytes) throw tooLarge();
      const result = await this.readChoice(choice, signal);
      answerBytes += result.value?.byteLength ?? 0;
      if (answerBytes > maxBytes) throw tooLarge();
      return result;
    });
  }

  private async readChoice(choice: ReadChoice, signal: AbortSignal | undefined): Promise<ReadResult> {
    const { key, buffered, version } = choice;
    if (buffered !== undefined) return { key, value: buffered ?? undefined, version: undefined };
    if (version === undefined) return { key, value: undefined, version };
    if (this.metadata.isTombstone(key, version)) {
      // A pushed tombstone would hide the key with no storage call to notice: check it first.
      if (!(await this.learner.verify(version, signal))) throw new PushedRecordDropped();
      return { key, value: undefined, version };
    }
    const value = await this.fetchVersion(key, version, signal);
    if (value !== undefined) return { key, value, version };
    if (!(await this.learner.verify(version, signal))) throw new PushedRecordDropped();
    this.metrics.storageError('getVersion');
    throw new StorageUnavailableError(`committed version ${version} of a key is missing from storage`);
  }

  /** Buffers writes (null deletes). All or none of the items are applied. */
  write(txid: string, items: readonly WriteItem[]): void {
    const txn = this.runningTransaction(txid);
    const sized = items.map(({ key, value }) => {
      const keyBytes = this.checkKey(key);
      if (value !== null && value.byteLength > this.limits.maxValueBytes) {
        throw new TooLargeError(
          `value of ${value.byteLength} bytes is over the limit of ${this.limits.maxValueBytes}`,
        );
      }
      return { key, value, keyBytes };
    });
    const projected = txn.projectedSize(sized);
    if (projected.keys > this.limits.maxTransactionKeys) {
      throw new TooLargeError(`a transaction may write at most ${this.limits.maxTransactionKeys} keys`);
    }
    if (projected.bytes > this.limits.maxTransactionBytes) {
      throw new TooLargeError(`a transaction may buffer at most ${this.limits.maxTransactionBytes} bytes`);
    }
    for (const { key, value, keyBytes } of sized) txn.bufferWrite(key, value, keyBytes);
    txn.touch(this.now());
  }

  /**
   * Commits. Idempotent: a repeated commit returns the first outcome and writes nothing new;
   * a concurrent one joins the commit in flight.
   */
  async commit(txid: string, options: { result?: Uint8Array | null } = {}): Promise<CommitResult> {
    const txn = this.running.get(txid);
    if (!txn) {
      const finished = await this.finishedOrStored(txid);
      if (finished.status === 'committed') return { txid, status: 'committed', version: finished.version };
      if (finished.lost)
        throw new TransactionLostError(txid, `transaction ${txid} was lost: ${finished.reason}`);
      throw new TransactionNotRunningError(txid, finished.status, finished.reason);
    }
    if (this.closing && txn.status === TransactionStatus.RUNNING) throw new ShuttingDownError();
    if (options.result !== undefined && options.result !== null && txn.status === TransactionStatus.RUNNING) {
      if (txn.idempotencyKey === undefined) {
        throw new BadRequestError('a result is recorded only for a transaction begun with an idempotencyKey');
      }
      if (options.result.byteLength > this.limits.maxResultBytes) {
        throw new TooLargeError(
          `a result of ${options.result.byteLength} bytes is over the limit of ${this.limits.maxResultBytes}`,
        );
      }
      txn.result = options.result;
    }
    txn.touch(this.now());
    txn.commitInFlight ??= this.runCommit(txn);
    const version = await txn.commitInFlight;
    return { txid, status: 'committed', version };
  }

  abort(txid: string): TransactionInfo {
    const txn = this.running.get(txid);
    if (!txn) {
      const finished = this.finishedOf(txid);
      // Aborting twice is harmless and answers the same; aborting a commit is not possible.
      if (finished.status === 'aborted') return { txid, status: 'aborted' };
      throw new TransactionNotRunningError(txid, finished.status);
    }
    if (txn.status !== TransactionStatus.RUNNING) {
      throw new TransactionNotRunningError(txid, 'committing', 'a commit has started');
    }
    this.finishAborted(txn, 'aborted by the client', TransactionOutcome.ABORTED);
    return { txid, status: 'aborted' };
  }

  /**
   * Graceful stop: no new transactions, in-flight commits get up to `graceMs` to finish,
   * every other running transaction is aborted.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    for (const txn of this.running.values()) {
      if (txn.status === TransactionStatus.RUNNING) {
        this.finishAborted(txn, 'the node shut down', TransactionOutcome.ABORTED);
      }
    }
    const inFlight = [...this.running.values()].flatMap((txn) =>
      txn.commitInFlight ? [txn.commitInFlight] : [],
    );
    if (inFlight.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled(inFlight), timeout]);
      clearTimeout(timer);
    }
    await this.close();
  }

  /** Stops timers and closes the adapter. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.reaper);
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await this.storage.close();
  }

  private async runCommit(txn: Transaction): Promise<string | null> {
    const started = performance.now();
    txn.status = TransactionStatus.COMMITTING;
    // A read-only transaction commits without storage, unless it records a result under an
    // idempotency key (its run then must not repeat: it goes through the protocol, writing none).
    if (txn.writes.size === 0 && (txn.idempotencyKey === undefined || txn.result === null)) {
      this.finishCommitted(txn, null);
      return null;
    }
    try {
      const record = await commitWrites(txn, this.commitContext);
      this.finishCommitted(txn, record.versionId);
      this.onCommitted?.(record);
      this.metrics.observeCommit((performance.now() - started) / 1000);
      return record.versionId;
    } catch (error) {
      txn.commitInFlight = undefined;
      if (error instanceof CommitError && error.failure === CommitFailure.OUTCOME_UNKNOWN) {
        this.logger.warn(
          { txid: txn.txid, err: error },
          'commit outcome unknown; it will be resolved on retry',
        );
      } else if (error instanceof DuplicateCommittedError || error instanceof DuplicateInProgressError) {
        this.finishAborted(txn, error.message, TransactionOutcome.ABORTED);
      } else {
        this.finishAborted(
          txn,
          error instanceof Error ? error.message : 'its commit failed in storage',
          TransactionOutcome.FAILED,
          true,
        );
      }
      throw error;
    }
  }

  private finishCommitted(txn: Transaction, version: string | null): void {
    txn.status = TransactionStatus.COMMITTED;
    this.running.delete(txn.txid);
    this.finished.set(txn.txid, { status: 'committed', version, reason: '' });
    this.metrics.transactionEnded(TransactionOutcome.COMMITTED);
  }

  /**
   * `lost`: aborted by the node or the protocol, not by its client (the node was fenced, or
   * the commit failed or was judged dead before its record): nothing of it is visible and
   * running its function again is safe, so later requests answer TXN_LOST, retryable.
   */
  private finishAborted(txn: Transaction, reason: string, outcome: TransactionOutcome, lost = false): void {
    txn.status = TransactionStatus.ABORTED;
    this.running.delete(txn.txid);
    this.finished.set(txn.txid, {
      status: 'aborted',
      version: null,
      reason,
      ...(lost && { lost: true as const }),
    });
    this.metrics.transactionEnded(outcome);
  }

  /** A version's bytes, from the cache or storage; undefined when storage does not hold it. */
  private async fetchVersion(
    key: string,
    versionId: string,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const cached = this.cache.get(key, versionId);
    if (cached) {
      this.metrics.cacheHit();
      return cached;
    }
    this.metrics.cacheMiss();
    const value = await guardStorage(this.storage, this.metrics, 'getVersion', () =>
      this.storage.getVersion({ key, versionId }, signal ? { signal } : {}),
    );
    if (value !== undefined) this.cache.set(key, versionId, value);
    return value;
  }

  private runningTransaction(txid: string): Transaction {
    const txn = this.running.get(txid);
    if (txn?.status === TransactionStatus.RUNNING) return txn;
    if (txn) throw new TransactionNotRunningError(txid, 'committing', 'a commit has started');
    const finished = this.finishedOf(txid);
    if (finished.lost)
      throw new TransactionLostError(txid, `transaction ${txid} was lost: ${finished.reason}`);
    throw new TransactionNotRunningError(txid, finished.status, finished.reason);
  }

  /** The outcome of a transaction that is not running here, or the error that explains its absence. */
  private finishedOf(txid: string): FinishedTransaction {
    const finished = this.finished.get(txid);
    if (finished) return finished;
    // Commits are durable and indexed by txid, so a committed transaction is found after
    // this node forgot it, and after a crash of the node that ran it.
    const version = this.metadata.versionIdOfTxid(txid);
    if (version !== undefined) return { status: 'committed', version, reason: '' };
    const owner = ownerOfTxid(txid);
    if (owner !== undefined && owner !== this.nodeId) throw new TransactionLostError(txid);
    throw new TransactionNotFoundError(txid);
  }

  /**
   * The outcome of a transaction that is not running here, from memory, else from storage.
   * Only a transaction this node does not own, or owns and forgot, gets here, so it is judged
   * dead: an intent of it without a record is marked aborted (shim/commit-outcome.ts).
   */
  private async finishedOrStored(txid: string, signal?: AbortSignal): Promise<FinishedTransaction> {
    try {
      return this.finishedOf(txid);
    } catch (error) {
      if (!(error instanceof TransactionLostError || error instanceof TransactionNotFoundError)) throw error;
      const stored = await this.learner.outcomeOf(txid, true, signal);
      if (stored.status === 'committed') {
        const finished = { status: 'committed', version: stored.version, reason: '' } as const;
        this.finished.set(txid, finished);
        return finished;
      }
      // Aborted by a marker: it was lost, and running the function again is safe. (Absent:
      // it never reached its commit, and the error already says lost, or unknown here.)
      if (stored.status === 'aborted') {
        throw error instanceof TransactionLostError ? error : new TransactionLostError(txid);
      }
      throw error;
    }
  }

  /** Validates a key and returns its UTF-8 length. */
  private checkKey(key: string): number {
    if (typeof key !== 'string' || key.length === 0)
      throw new BadRequestError('a key must be a non-empty string');
    if (!key.isWellFormed())
      throw new BadRequestError('a key must be valid UTF-8 (it holds a lone surrogate)');
    const bytes = textEncoder.encode(key).byteLength;
    if (bytes > this.limits.maxKeyBytes) {
      throw new BadRequestError(
        `a key may be at most ${this.limits.maxKeyBytes} bytes of UTF-8; this one is ${bytes}`,
      );
    }
    return bytes;
  }

  private assertAccepting(): void {
    if (this.closing) throw new ShuttingDownError();
    if (!this.readyFlag) throw new NotReadyError();
    if (this.fencedReason !== undefined) throw new NotReadyError(`this node is fenced: ${this.fencedReason}`);
  }

  /**
   * Aborts transactions idle past their timeout. A transaction whose commit outcome is unknown
   * is not aborted (its record may have landed): its commit is retried instead.
   */
  private reapIdle(): void {
    const nowMs = this.now();
    for (const txn of this.running.values()) {
      if (!txn.isIdle(nowMs)) continue;
      if (txn.status === TransactionStatus.RUNNING) {
        this.finishAborted(txn, `idle for over ${txn.idleTimeoutMs} ms`, TransactionOutcome.TIMED_OUT);
      } else if (txn.status === TransactionStatus.COMMITTING && !txn.commitInFlight) {
        txn.touch(nowMs);
        txn.commitInFlight = this.runCommit(txn);
        txn.commitInFlight.catch((error: unknown) => {
          if (!(error instanceof AftError && error.code === ErrorCode.STORAGE_UNAVAILABLE)) {
            this.logger.error({ txid: txn.txid, err: error }, 'retrying an unresolved commit failed');
          }
        });
      }
    }
  }
}

const MAX_IDEMPOTENCY_KEY_BYTES = 1024;

function checkIdempotencyKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || !key.isWellFormed()) {
    throw new BadRequestError('an idempotencyKey must be a non-empty string of valid UTF-8');
  }
  if (textEncoder.encode(key).byteLength > MAX_IDEMPOTENCY_KEY_BYTES) {
    throw new BadRequestError(`an idempotencyKey may be at most ${MAX_IDEMPOTENCY_KEY_BYTES} bytes of UTF-8`);
  }
}
