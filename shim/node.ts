/**
 * A shim node: it owns the transactions it began, buffers their writes, serves their reads by
 * the read rule, commits them through storage and keeps the metadata of every commit it
 * knows. Everything durable is in storage; a node can die at any instant and a new one
 * rebuilds its metadata from the commit records (`start`).
 *
 * Over 400 lines because it is the core's one facade: each method is the lifecycle step of a
 * transaction (begin, read, write, commit, abort, reaping, fencing) and delegates the work to
 * a module of its own (limits, reads, commit, learning, local GC, finished transactions).
 */
import type { CommitRecord, StorageAdapter } from '../adapters/contract.js';
import type {
  CommitOutcome,
  PushCommitsAnswer,
  ReadItem,
  ReplayedCommit,
  StatusAnswer,
  TransactionState,
} from '../wire/api.js';
import { Isolation } from '../wire/api.js';
import { VersionCache } from './cache.js';
import { type CommitContext, CommitError, CommitFailure, commitWrites, validateReadOnly } from './commit.js';
import { CommitLearner } from './commit-learning.js';
import { CommitTicketPool } from './commit-tickets.js';
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
  TransactionNotRunningError,
} from './errors.js';
import { type DecidedOutcome, FinishedTransactions } from './finished-transactions.js';
import { GuardedStorage, guardStorage, reportDamagedRecord } from './guarded-storage.js';
import { standingOf } from './idempotency.js';
import { IdleBackoff } from './idle-backoff.js';
import { HybridLogicalClock, newNodeId, TxidGenerator } from './ids.js';
import { spendsTickets } from './intents.js';
import {
  checkIdempotencyKey,
  checkReadKeys,
  checkTimeout,
  checkWrites,
  type NodeLimits,
  resolveLimits,
} from './limits.js';
import { collectLocalGarbage } from './local-gc.js';
import { Metadata } from './metadata.js';
import { type ReadContext, readVersions } from './reads.js';
import type { SignalSource } from './signal-source.js';
import {
  type NodeLogger,
  type NodeMetrics,
  noMetrics,
  silentLogger,
  TransactionOutcome,
} from './telemetry.js';
import { checkTiming, DEFAULT_TIMING, type Timing } from './timing.js';
import { Transaction, TransactionStatus } from './transaction.js';

export type { NodeLimits };

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
  /** Something happened here: a transaction began, or a pushed commit was learned (membership's idle pace). */
  readonly onActivity?: () => void;
  /** A transaction began here (the commit streams' idle pace: server/http/commit-stream.ts). */
  readonly onBegin?: () => void;
  /**
   * Why this node cannot vouch that it is a live member right now (membership's heartbeat
   * freshness), if so: a commit then stops before its record (docs/protocol.md).
   */
  readonly liveness?: () => string | undefined;
  /** Records a listing asks storage for at once. @default 1000 */
  readonly listPageSize?: number;
}

// The node answers in the REST API's own types (wire/api.ts), under the names the library
// has always exported.
export type { DecidedOutcome, TransactionState };
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

export class ShimNode {
  readonly nodeId = newNodeId();
  readonly limits: NodeLimits;
  private readonly storage: GuardedStorage;
  private readonly metrics: NodeMetrics;
  private readonly logger: NodeLogger;
  private readonly now: () => number;
  private readonly txids: TxidGenerator;
  private readonly clock: HybridLogicalClock;
  private readonly metadata = new Metadata();
  private readonly cache: VersionCache;
  private readonly running = new Map<string, Transaction>();
  private readonly finished: FinishedTransactions;
  private readonly reaper: NodeJS.Timeout;
  private readonly commitContext: CommitContext;
  private readyFlag = false;
  private closing = false;
  readonly timing: Timing;
  private readonly onCommitted: ((record: CommitRecord) => void) | undefined;
  private readonly onActivity: (() => void) | undefined;
  private readonly onBegin: (() => void) | undefined;
  private readonly learner: CommitLearner;
  private readonly readContext: ReadContext;
  private fencedReason: string | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pullSchedule: IdleBackoff;
  private pullTimer: NodeJS.Timeout | undefined;
  private readonly localGcIntervalMs: number;
  private readonly tickets: CommitTicketPool | undefined;

  constructor(options: ShimNodeOptions) {
    this.limits = resolveLimits(options.limits);
    this.metrics = options.metrics ?? noMetrics;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.txids = new TxidGenerator(this.nodeId, this.now);
    this.clock = new HybridLogicalClock(this.now);
    this.cache = new VersionCache(this.limits.cacheBytes);
    this.reaper = setInterval(() => this.reapIdle(), options.reaperIntervalMs ?? 1000);
    this.reaper.unref();
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    checkTiming(this.timing);
    this.pullSchedule = new IdleBackoff(
      this.timing.pullIntervalMs,
      Math.max(this.timing.pullIntervalMs, this.timing.idlePullIntervalMs),
    );
    this.storage = GuardedStorage.of(options.storage, {
      metrics: this.metrics,
      timeoutMs: this.timing.storageCallTimeoutMs,
      onDamagedRecord: (versionId) => reportDamagedRecord(this.logger, versionId),
    });
    this.onCommitted = options.onCommitted;
    this.onActivity = options.onActivity;
    this.onBegin = options.onBegin;
    this.localGcIntervalMs = options.localGcIntervalMs ?? 2000;
    const elapsedNow = options.elapsedNow ?? options.now ?? (() => performance.now());
    // Tickets where the engine's atomic write can swap an entry and it has no clock to go by.
    if (spendsTickets(this.storage)) {
      this.tickets = new CommitTicketPool({
        storage: this.storage,
        clock: this.clock,
        nodeId: this.nodeId,
        timing: this.timing,
        elapsedNow,
        // Storage failing is said once per change of state (shim/storage-state.ts); a commit
        // meanwhile writes an intent, as with no ticket ready.
        onError: (error) => this.logger.debug({ err: error }, 'writing commit tickets failed'),
      });
    }
    this.commitContext = {
      storage: this.storage,
      metadata: this.metadata,
      cache: this.cache,
      clock: this.clock,
      metrics: this.metrics,
      timing: this.timing,
      now: this.now,
      elapsedNow,
      idempotencyTtlMs: this.limits.idempotencyTtlMs,
      ...(options.liveness && { liveness: options.liveness }),
      learn: (record) => this.learner.learn(record),
      ...(this.tickets && { tickets: this.tickets }),
    };
    this.learner = new CommitLearner({
      storage: this.storage,
      nodeId: this.nodeId,
      metrics: this.metrics,
      metadata: this.metadata,
      clock: this.clock,
      timing: this.timing,
      now: this.now,
      ...(options.listPageSize !== undefined && { pageSize: options.listPageSize }),
      onRefusedPushed: (versionId, why) =>
        this.logger.warn({ versionId, reason: why }, 'refused a pushed commit record'),
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
    this.finished = new FinishedTransactions(
      this.nodeId,
      this.metadata,
      this.learner,
      options.finishedMemory ?? 100_000,
    );
    this.readContext = {
      storage: this.storage,
      metadata: this.metadata,
      cache: this.cache,
      learner: this.learner,
      metrics: this.metrics,
      limits: this.limits,
    };
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
    /** Commit tickets ready to spend (shim/commit-tickets.ts): 0 on an engine that has none. */
    commitTickets: number;
  } {
    return {
      knownThroughMs: this.learner.knownThroughMs,
      commitTickets: this.tickets?.size ?? 0,
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
    this.schedulePull(this.pullSchedule.nextWaitMs);
    const gcTimer = setInterval(() => this.collectLocal(), this.localGcIntervalMs);
    gcTimer.unref();
    this.timers.push(gcTimer);
  }

  /** The next pull, `waitMs` from now (shim/idle-backoff.ts); replaces one already set. */
  private schedulePull(waitMs: number): void {
    if (this.closing) return;
    clearTimeout(this.pullTimer);
    this.pullTimer = setTimeout(() => this.scheduledPull(), waitMs);
    this.pullTimer.unref();
  }

  private scheduledPull(): void {
    this.pullTimer = undefined;
    this.learner.pull(undefined, { settle: this.pullSchedule.idle }).then(
      (learned) => this.schedulePull(this.pullSchedule.afterRound(learned)),
      (error: unknown) => {
        // Storage failing is said once per change of state (shim/storage-state.ts).
        if (error instanceof StorageUnavailableError)
          this.logger.debug({ err: error }, 'pulling commit records failed');
        else this.logger.warn({ err: error }, 'pulling commit records failed');
        this.schedulePull(this.pullSchedule.afterRound(0));
      },
    );
  }

  /** A transaction began or a pushed commit was learned: an idle node pulls at its base pace again. */
  private noteActivity(): void {
    this.onActivity?.();
    // While a pull runs there is no timer: the pull's end schedules the next at the base pace.
    if (this.pullSchedule.noteActivity() && this.pullTimer !== undefined) {
      this.schedulePull(this.timing.pullIntervalMs);
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
    return this.finished.committedVersionOf(txid);
  }

  /**
   * Learns commit records a peer pushed (the caller authenticated the peer). Each is checked
   * first (shim/pushed-records.ts); a refused one is dropped and logged. Answers how many
   * were new and how many were refused.
   */
  learnPushedCommits(records: readonly CommitRecord[]): PushCommitsAnswer {
    const answer = this.learner.learnPushed(records, this.limits.maxKeyBytes);
    if (answer.learned > 0) this.noteActivity();
    return answer;
  }

  /**
   * Drops from the metadata (and cache) the transactions no running transaction here can
   * still read (shim/local-gc.ts). Returns how many were dropped.
   */
  collectLocal(): number {
    return collectLocalGarbage({
      metadata: this.metadata,
      cache: this.cache,
      running: this.running.values(),
      collected: this.learner.collected,
      maxHeldTransactions: this.limits.maxHeldTransactions,
      abortHolder: (txn, reason) => this.finishAborted(txn, reason, TransactionOutcome.TIMED_OUT, true),
      logger: this.logger,
    });
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

  begin(options: { timeoutMs?: number; isolation?: Isolation } = {}): TransactionInfo {
    this.assertAccepting();
    const isolation = options.isolation ?? Isolation.READ_ATOMIC;
    if (isolation === Isolation.SERIALIZABLE && !this.storage.swapEntry) {
      throw new BadRequestError(
        `serializable transactions need an engine that can compare and set an entry; ${this.storage.name} cannot (docs/protocol.md, "Serializable transactions")`,
      );
    }
    if (this.running.size >= this.limits.maxOpenTransactions) {
      throw new TooManyTransactionsError(this.limits.maxOpenTransactions);
    }
    const timeoutMs = checkTimeout(options.timeoutMs, this.limits);
    this.noteActivity();
    this.onBegin?.();
    const txn = new Transaction(
      this.txids.next(),
      this.now(),
      timeoutMs,
      this.metadata.learnedSeq,
      this.learner.knownThroughMs,
      isolation,
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
    options: { timeoutMs?: number; isolation?: Isolation; signal?: AbortSignal } = {},
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
    const info = this.begin({
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      ...(options.isolation !== undefined && { isolation: options.isolation }),
    });
    this.running.get(info.txid)!.idempotencyKey = idempotencyKey;
    return info;
  }

  /** Where a transaction stands, from this node's memory only. */
  status(txid: string): TransactionInfo {
    const txn = this.running.get(txid);
    if (txn) return { txid, status: 'running' };
    const finished = this.finished.of(txid);
    return { txid, status: finished.status };
  }

  /**
   * Where a transaction stands: from memory, else from storage, so that a transaction that
   * committed answers committed on every node for the outcome retention, whoever forgot it.
   */
  async statusOf(txid: string, signal?: AbortSignal): Promise<TransactionInfo> {
    const txn = this.running.get(txid);
    if (txn) return { txid, status: 'running' };
    const finished = await this.finished.ofOrStored(txid, signal);
    return { txid, status: finished.status };
  }

  /**
   * For a transaction whose owner is a live member that did not answer: its outcome when
   * storage has decided it, else undefined (the owner may still commit it).
   */
  decidedOutcome(txid: string, signal?: AbortSignal): Promise<DecidedOutcome | undefined> {
    return this.finished.decidedOutcome(txid, signal);
  }

  /**
   * Reads keys in one transaction, in order. Versions are chosen for all keys first, with no
   * await in between, so the choices see one consistent state of the metadata; values are
   * then fetched in parallel (cache, else storage).
   */
  async read(
    txid: string,
    keys: readonly string[],
    options: {
      /** Or a function that makes it, called only if the read goes to storage (a cached read does not). */
      signal?: SignalSource;
    } = {},
  ): Promise<ReadResult[]> {
    const started = performance.now();
    const txn = this.runningTransaction(txid);
    checkReadKeys(keys, this.limits);
    txn.touch(this.now());

    const results = await readVersions(txn, keys, this.readContext, options.signal);
    this.metrics.observeRead((performance.now() - started) / 1000);
    return results;
  }

  /** Buffers writes (null deletes). All or none of the items are applied. */
  write(txid: string, items: readonly WriteItem[]): void {
    const txn = this.runningTransaction(txid);
    const sized = checkWrites(txn, items, this.limits);
    for (const { key, value, keyBytes } of sized) txn.bufferWrite(key, value, keyBytes);
    txn.touch(this.now());
  }

  /**
   * Commits, after buffering `writes` when given (all or none). Idempotent: a repeated commit
   * returns the first outcome and writes nothing new; a concurrent one joins the commit in
   * flight.
   */
  async commit(
    txid: string,
    options: { result?: Uint8Array | null; writes?: readonly WriteItem[] } = {},
  ): Promise<CommitResult> {
    const txn = this.running.get(txid);
    if (!txn) {
      const finished = await this.finished.ofOrStored(txid);
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
    // Writes carried by the commit are buffered first, all or none, then commit with it. A
    // repeated commit (its first answer lost) finds the transaction committing or finished:
    // its writes are in already, and nothing is written again.
    if (options.writes !== undefined && txn.status === TransactionStatus.RUNNING)
      this.write(txid, options.writes);
    txn.touch(this.now());
    txn.commitInFlight ??= this.runCommit(txn);
    const version = await txn.commitInFlight;
    return { txid, status: 'committed', version };
  }

  abort(txid: string): TransactionInfo {
    const txn = this.running.get(txid);
    if (!txn) {
      const finished = this.finished.of(txid);
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
    clearTimeout(this.pullTimer);
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.tickets?.close();
    await this.storage.close();
  }

  private async runCommit(txn: Transaction): Promise<string | null> {
    const started = performance.now();
    txn.status = TransactionStatus.COMMITTING;
    // A read-only transaction commits without storage, unless it records a result under an
    // idempotency key (its run then must not repeat: it goes through the protocol, writing none).
    if (txn.writes.size === 0 && (txn.idempotencyKey === undefined || txn.result === null)) {
      if (txn.isolation === Isolation.SERIALIZABLE && txn.readSet.size > 0) {
        try {
          await validateReadOnly(txn, this.commitContext);
        } catch (error) {
          txn.commitInFlight = undefined;
          this.finishAborted(
            txn,
            error instanceof Error ? error.message : 'its reads failed validation',
            TransactionOutcome.ABORTED,
            true,
          );
          throw error;
        }
      }
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
    this.finished.remember(txn.txid, { status: 'committed', version, reason: '' });
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
    this.finished.remember(txn.txid, {
      status: 'aborted',
      version: null,
      reason,
      ...(lost && { lost: true as const }),
    });
    this.metrics.transactionEnded(outcome);
  }

  private runningTransaction(txid: string): Transaction {
    const txn = this.running.get(txid);
    if (txn?.status === TransactionStatus.RUNNING) return txn;
    if (txn) throw new TransactionNotRunningError(txid, 'committing', 'a commit has started');
    const finished = this.finished.of(txid);
    if (finished.lost)
      throw new TransactionLostError(txid, `transaction ${txid} was lost: ${finished.reason}`);
    throw new TransactionNotRunningError(txid, finished.status, finished.reason);
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
