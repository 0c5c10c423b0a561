/**
 * How a node learns the commits of others from storage (docs/protocol.md, "Learning
 * commits"), and what it may claim to know.
 *
 * - A plain pull lists the records past the newest this node knows: cheap, and claims
 *   nothing (a short page just leaves the rest for the next pull).
 * - A settling pull (every few pulls, and at start-up) makes a claim: after it, this node knows
 *   every commit with a version time up to `knownThroughMs`, or knows it aborted. It first
 *   settles the intents of that stretch (an intent whose record is absent and old enough to
 *   be judged dead gets an abort marker, so its record can never land later), then lists
 *   every record id of the stretch, page by page until an empty page (never stopping at a short
 *   one: the contract allows short pages). An intent still in flight caps the claim below it.
 * - A transaction's outcome can be read back from storage by its txid alone (its begin time
 *   bounds where its record can be), for a repeated commit that no node remembers.
 */
import type { CallOptions, CommitRecord, Entry } from '../adapters/contract.js';
import { mapLimit } from '../adapters/map-limit.js';
import { CollectedIds } from './collected-ids.js';
import { INTENTS_NAMESPACE } from './commit.js';
import { abortMarker, decideUnlessDamaged, isAbortMarker, markAborted } from './commit-outcome.js';
import { refusalValue } from './commit-record.js';
import { TICKET_READY, TICKET_REFUSED, TicketState, ticketState } from './commit-tickets.js';
import type { GuardedStorage } from './guarded-storage.js';
import {
  beganAtOfTxid,
  type HybridLogicalClock,
  ownerOfTxid,
  type ParsedVersionId,
  parseVersionId,
  versionIdFloor,
  versionTimeOf,
} from './ids.js';
import { spendsTickets, writesWithoutIntents } from './intents.js';
import type { KeySet, Metadata } from './metadata.js';
import { REFUSALS_NAMESPACE, TICKETS_NAMESPACE } from './namespaces.js';
import { refusalOf } from './pushed-records.js';
import { RecentSet } from './recent-set.js';
import { callOptions, type SignalSource } from './signal-source.js';
import type { NodeMetrics } from './telemetry.js';
import { knownLagMs, orphanAfterMs, type Timing } from './timing.js';

export interface LearningContext {
  /** Storage through its one door (shim/guarded-storage.ts). */
  readonly storage: GuardedStorage;
  readonly metrics: NodeMetrics;
  readonly metadata: Metadata;
  readonly clock: HybridLogicalClock;
  readonly timing: Timing;
  readonly now: () => number;
  /** This node's id: a look-up of its own transaction refuses none of its tickets. */
  readonly nodeId?: string;
  /** Records or ids asked for per listing call. @default 1000 */
  readonly pageSize?: number;
  /** A pushed record failed its checks and was not learned. */
  readonly onRefusedPushed?: (versionId: string, why: string) => void;
  /** A pushed record was dropped: storage does not hold it as pushed. */
  readonly onDroppedPushed?: (versionId: string, why: string) => void;
  /** A record's version time is further ahead of this node's clock than the allowed skew. */
  readonly onClockAhead?: (versionId: string, aheadMs: number) => void;
}

/** What storage says of a transaction this node does not remember. */
export type StoredOutcome =
  | { readonly status: 'committed'; readonly version: string }
  | { readonly status: 'aborted' }
  /** Its intent is there without a record, and nobody may judge it dead yet. */
  | { readonly status: 'pending' }
  /** No intent and no record: it never reached its commit, and (its owner dead) never will. */
  | { readonly status: 'absent' }
  /** Too old to tell: its record may have been collected. */
  | { readonly status: 'forgotten' };

const DEFAULT_PAGE = 1000;
/** Commit records a settling pull reads at once (those it did not know). */
const RECORD_READS_IN_FLIGHT = 16;

function sameKeys(known: KeySet, stored: readonly string[]): boolean {
  return known.size === stored.length && stored.every((key) => known.has(key));
}

export class CommitLearner {
  /** Every commit with a version time up to this is known here, aborted, or was collected. */
  knownThroughMs = 0;
  /** Transactions local GC dropped that a settling pull may still list, so it does not learn them again. */
  readonly collected = new CollectedIds();
  /** Commits known to be aborted (their record id holds a marker; at least the last 100,000). */
  private readonly aborted = new RecentSet<string>(100_000);
  /**
   * The newest record id learned, markers included: with the metadata's newest, where plain
   * pulls go on from.
   */
  private watermark: string | undefined;
  private pulls = 0;
  private pulling: Promise<number> | undefined;
  private readonly pageSize: number;

  constructor(private readonly context: LearningContext) {
    this.pageSize = context.pageSize ?? DEFAULT_PAGE;
  }

  /**
   * Adds a record to the metadata (a marker only to the aborted set); true when it was new.
   * `fromStorage` false: a peer pushed it (shim/pushed-records.ts checked its shape); it stays
   * unverified until storage shows it. A record from storage confirms or replaces an
   * unverified one with its version id. `parsed`: its version id parsed already.
   */
  learn(record: CommitRecord, fromStorage = true, parsed?: ParsedVersionId): boolean {
    const { metadata } = this.context;
    if (fromStorage && (this.watermark === undefined || record.versionId > this.watermark)) {
      this.watermark = record.versionId;
    }
    if (isAbortMarker(record)) {
      this.aborted.add(record.versionId);
      if (metadata.get(record.versionId)) this.dropPushed(record.versionId, 'storage holds an abort marker');
      return false;
    }
    if (this.collected.has(record.versionId)) return false;
    if (!metadata.add(record, fromStorage)) {
      if (fromStorage) this.confirm(record);
      else if (!this.matchesKnown(record)) {
        // Two pushes of one id disagree: one of them is wrong, and storage says which.
        this.verify(record.versionId).catch(() => undefined);
      }
      return false;
    }
    this.observeClock(record.versionId, parsed);
    return true;
  }

  learnAll(records: readonly CommitRecord[], fromStorage = true): number {
    let learned = 0;
    for (const record of records) if (this.learn(record, fromStorage)) learned += 1;
    return learned;
  }

  /**
   * Learns records a peer pushed (the caller authenticated the peer). Each is checked first
   * (shim/pushed-records.ts); a refused one is dropped and reported.
   */
  learnPushed(records: readonly CommitRecord[], maxKeyBytes: number): { learned: number; refused: number } {
    const bounds = {
      nowMs: this.context.now(),
      maxClockSkewMs: this.context.timing.maxClockSkewMs,
      maxKeyBytes,
    };
    let learned = 0;
    let refused = 0;
    for (const record of records) {
      // Parsed once, for the checks and the clock.
      const parsed = parseVersionId(record.versionId);
      const refusal = refusalOf(record, bounds, parsed);
      if (refusal !== undefined) {
        refused += 1;
        this.context.onRefusedPushed?.(record.versionId, refusal);
      } else if (this.learn(record, false, parsed)) {
        learned += 1;
      }
    }
    return { learned, refused };
  }

  /**
   * Checks a pushed record against storage before a read relies on it. Resolves true when it
   * stands (storage holds it as pushed, or it came from storage); false when it was dropped,
   * now or by another read, and replaced by storage's record of the same id if there is one.
   */
  async verify(versionId: string, signal?: SignalSource): Promise<boolean> {
    const known = this.context.metadata.get(versionId);
    // Gone from the metadata while a read held it: dropped by another read (local GC never
    // takes a version a running transaction may read), so the read chooses again.
    if (!known) return false;
    if (known.verified) return true;
    const stored = await this.context.storage.getCommitRecord(versionId, callOptions(signal));
    if (stored === undefined) {
      this.dropPushed(versionId, 'storage holds no record of that id');
      return false;
    }
    this.learn(stored);
    return this.context.metadata.get(versionId)?.verified === true;
  }

  /** A record from storage meets one a peer pushed: the same, it is verified; else storage wins. */
  private confirm(stored: CommitRecord): void {
    const { metadata } = this.context;
    const known = metadata.get(stored.versionId);
    if (!known || known.verified) return;
    if (this.matchesKnown(stored)) {
      known.verified = true;
      // Storage holds it: it may supersede older versions for local GC from now on.
      metadata.markListed(stored.versionId);
      return;
    }
    this.dropPushed(stored.versionId, 'storage holds another record of that id');
    metadata.add(stored, true);
    this.observeClock(stored.versionId);
  }

  private matchesKnown(record: CommitRecord): boolean {
    const known = this.context.metadata.get(record.versionId);
    return (
      known !== undefined &&
      known.txid === record.txid &&
      sameKeys(known.writeSet, record.writeSet) &&
      sameKeys(known.deleted, record.deleted)
    );
  }

  private dropPushed(versionId: string, why: string): void {
    const known = this.context.metadata.get(versionId);
    if (!known || known.verified) return;
    this.context.metadata.remove(versionId);
    this.context.onDroppedPushed?.(versionId, why);
  }

  /**
   * Moves the clock past a learned commit, never further than now + the allowed skew: a
   * record from a clock that far ahead cannot be from a live member (it would have fenced
   * itself), and following it would push every later commit of this node into the future.
   */
  private observeClock(versionId: string, parsed?: ParsedVersionId): void {
    const timestamp = parsed ?? parseVersionId(versionId);
    if (!timestamp) return;
    const aheadMs = timestamp.physicalMs - this.context.now();
    if (aheadMs > this.context.timing.maxClockSkewMs) {
      this.context.onClockAhead?.(versionId, aheadMs);
      return;
    }
    this.context.clock.observe(timestamp);
  }

  /** Start-up: settles the intents, then lists every record in storage, to the end. */
  async bootstrap(signal?: AbortSignal): Promise<void> {
    const startedMs = this.context.now();
    const claim = await this.settleIntents(startedMs, signal);
    await this.refuseOldTickets(startedMs - knownLagMs(this.context.timing), signal);
    await this.listRecords(undefined, signal);
    this.moveClaim(claim);
  }

  /**
   * Learns the commit records in storage this node does not know (the fault manager's safe
   * path: a commit whose node died before pushing it is learned here). Every
   * `overlapPullEvery`-th pull settles, and each with `settle`. Resolves with the number of
   * commits learned.
   */
  pull(signal?: AbortSignal, options: { readonly settle?: boolean } = {}): Promise<number> {
    this.pulling ??= (async () => {
      this.pulls += 1;
      if (options.settle || this.pulls % this.context.timing.overlapPullEvery === 0)
        return this.settle(signal);
      const page = await this.context.storage.listCommitRecords(this.plainPullWatermark(), {
        limit: this.pageSize,
        ...callOptions(signal),
      });
      return this.learnAll(page);
    })().finally(() => {
      this.pulling = undefined;
    });
    return this.pulling;
  }

  /** The newest record id this node knows: its own commits, learned ones and markers alike. */
  private plainPullWatermark(): string | undefined {
    const newest = this.context.metadata.newestVersionId;
    if (newest === undefined) return this.watermark;
    // Version ids compare as plain strings (code units).
    return this.watermark !== undefined && this.watermark > newest ? this.watermark : newest;
  }

  /** A settling pull: afterwards `knownThroughMs` has moved as far as storage allows. */
  async settle(signal?: AbortSignal): Promise<number> {
    const startedMs = this.context.now();
    const from = versionIdFloor(this.knownThroughMs);
    const claimMs = startedMs - knownLagMs(this.context.timing);
    const claim = await this.settleIntents(startedMs, signal);
    await this.refuseOldTickets(claimMs, signal);
    // Intents and tickets first, records second: a record whose intent was gone by then had
    // landed, and one whose ticket is refused never will.
    const learned = await this.listUnknownRecords(from, claimMs, signal);
    this.moveClaim(claim);
    return learned;
  }

  /** Moves what this node claims to know; the collected ids below it are listed no more. */
  private moveClaim(throughMs: number): void {
    this.knownThroughMs = Math.max(this.knownThroughMs, throughMs);
    this.collected.forgetBelow(versionIdFloor(this.knownThroughMs));
  }

  /**
   * Decides every intent with a version time up to `startedMs − knownLag` whose record this
   * node does not know: learns its record, or marks it aborted when it is old enough to be
   * judged dead. Resolves with how far this node may claim to know: the lag back, or just
   * below the oldest intent still in flight (or too old to mark safely: the collector's).
   */
  private async settleIntents(startedMs: number, signal?: AbortSignal): Promise<number> {
    const { timing } = this.context;
    const claimMs = startedMs - knownLagMs(timing);
    const oldestMarkableMs = startedMs - (timing.outcomeRetentionMs - orphanAfterMs(timing));
    let after: string | undefined;
    for (;;) {
      const page = await this.context.storage.listEntries(INTENTS_NAMESPACE, {
        limit: this.pageSize,
        ...callOptions(signal),
        ...(after !== undefined && { after }),
      });
      if (page.length === 0) return claimMs;
      for (const { id } of page) {
        const versionMs = versionTimeOf(id);
        // Intents list in version order: the rest are all younger than the claim.
        if (versionMs > claimMs) return claimMs;
        if (this.isDecided(id)) continue;
        let record = await this.context.storage.getCommitRecord(id, callOptions(signal));
        if (record === undefined) {
          const inFlight = startedMs - versionMs <= orphanAfterMs(timing);
          if (inFlight || versionMs < oldestMarkableMs) return Math.min(claimMs, versionMs - 1);
          const decided = await decideUnlessDamaged(this.context.storage, id, callOptions(signal));
          // Its record id holds a record that cannot be read (reported): nothing of it is
          // visible, nor ever will be, and no write of it can land now. Past it, then.
          if (decided === undefined) continue;
          record = decided.state === 'committed' ? decided.record : abortMarker(id);
        }
        this.learn(record);
      }
      after = page[page.length - 1]!.id;
    }
  }

  /**
   * Refuses every commit ticket (shim/commit-tickets.ts) made up to `throughMs` that is still
   * ready: a write spending one may still be on its way, and lands now only if it did already.
   * Its owner spends a ticket only within the intent deadline of its time, and deletes the ones
   * it did not hand out well before, so none made by then is spent healthily still. Spent
   * tickets found (their owner died before deleting them) are deleted; refused ones stay for
   * the collector. Those up to the last claim were settled by the pull that made it: a ticket
   * that landed since landed too late to be spent.
   */
  private async refuseOldTickets(throughMs: number, signal?: AbortSignal): Promise<void> {
    const { storage } = this.context;
    if (!spendsTickets(storage)) return;
    for (let after = versionIdFloor(this.knownThroughMs); ; ) {
      const page = await storage.listEntries(TICKETS_NAMESPACE, {
        limit: this.pageSize,
        after,
        ...callOptions(signal),
      });
      // Tickets list in time order: the rest are all younger.
      const old = page.filter(({ id }) => versionTimeOf(id) <= throughMs);
      await this.refuseTickets(old, signal);
      if (old.length < page.length || page.length === 0) return;
      after = page[page.length - 1]!.id;
    }
  }

  /** Refuses the ready tickets of `tickets` and deletes the spent ones. */
  private async refuseTickets(tickets: readonly Entry[], signal?: AbortSignal): Promise<void> {
    const { storage } = this.context;
    const ready = tickets.filter(({ value }) => ticketState(value) === TicketState.ready);
    await mapLimit(ready, RECORD_READS_IN_FLIGHT, ({ id }) =>
      storage.swapEntry!(TICKETS_NAMESPACE, id, TICKET_READY, TICKET_REFUSED, callOptions(signal)),
    );
    const spent = tickets.filter(({ value }) => ticketState(value) === TicketState.spent);
    if (spent.length > 0) {
      await storage.deleteEntries(
        TICKETS_NAMESPACE,
        spent.map(({ id }) => id),
        callOptions(signal),
      );
    }
  }

  /**
   * Refuses every ready ticket of node `owner`, judged dead: a write of its still on the way
   * spends one of them (it was acknowledged before the write was sent), and lands now never.
   */
  private async refuseTicketsOf(owner: string, signal?: AbortSignal): Promise<void> {
    const mark = `.${owner}-`;
    for (let after: string | undefined; ; ) {
      const page = await this.context.storage.listEntries(TICKETS_NAMESPACE, {
        limit: this.pageSize,
        ...callOptions(signal),
        ...(after !== undefined && { after }),
      });
      if (page.length === 0) return;
      await this.refuseTickets(
        page.filter(({ id }) => id.includes(mark)),
        signal,
      );
      after = page[page.length - 1]!.id;
    }
  }

  /** Lists every record after `after` into the metadata, to the end. */
  private async listRecords(after: string | undefined, signal?: AbortSignal): Promise<number> {
    let learned = 0;
    for (;;) {
      const page = await this.context.storage.listCommitRecords(after, {
        limit: this.pageSize,
        ...callOptions(signal),
      });
      if (page.length === 0) return learned;
      learned += this.learnAll(page);
      after = page[page.length - 1]!.versionId;
    }
  }

  /**
   * Lists record ids after `after`, past `throughMs` (in version order: once a page ends past
   * it, every id up to it was listed), and reads only those this node does not know. Not to
   * the end: under steady commits the end moves on while a listing runs, and a listing that
   * chased it never ended (pushes and plain pulls learn what is newer, the next settling pull
   * what they miss).
   */
  private async listUnknownRecords(
    after: string | undefined,
    throughMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    let learned = 0;
    for (;;) {
      const ids = await this.context.storage.listCommitRecordIds(after, {
        limit: this.pageSize,
        ...callOptions(signal),
      });
      if (ids.length === 0) return learned;
      // A pushed record counts as known here: reading each again would cost a storage read per
      // commit per node. It is verified where a forgery would show (verify); that storage
      // lists its id is enough for local GC to let it supersede older versions.
      const { metadata } = this.context;
      const unknown: string[] = [];
      for (const id of ids) {
        if (metadata.get(id) !== undefined) metadata.markListed(id);
        else if (!this.isDecided(id)) unknown.push(id);
      }
      const records = await mapLimit(unknown, RECORD_READS_IN_FLIGHT, (id) =>
        this.context.storage.getCommitRecord(id, callOptions(signal)),
      );
      // An id whose record is gone (collected meanwhile) or not yet written is skipped.
      learned += this.learnAll(records.filter((record): record is CommitRecord => record !== undefined));
      after = ids[ids.length - 1]!;
      if (versionTimeOf(after) > throughMs) return learned;
    }
  }

  /**
   * What storage says of `txid`. With `judgeDead` (its owner is gone, or is this node and has
   * forgotten it) an intent without a record is marked aborted; otherwise it is pending.
   */
  async outcomeOf(txid: string, judgeDead: boolean, signal?: AbortSignal): Promise<StoredOutcome> {
    const { timing } = this.context;
    const beganMs = beganAtOfTxid(txid);
    if (beganMs === undefined) return { status: 'absent' };
    if (this.context.now() - beganMs > timing.outcomeRetentionMs - orphanAfterMs(timing)) {
      return { status: 'forgotten' };
    }
    const from = versionIdFloor(beganMs - timing.maxClockSkewMs);
    const suffix = `.${txid}`;
    const intent = await this.findId(
      from,
      suffix,
      (after, call) =>
        this.context.storage
          .listEntries(INTENTS_NAMESPACE, {
            limit: this.pageSize,
            ...call,
            ...(after !== undefined && { after }),
          })
          .then((entries) => entries.map((entry) => entry.id)),
      signal,
    );
    // Intents first, records second: a record whose intent was gone by then had landed.
    const findRecordId = () =>
      this.findId(
        from,
        suffix,
        (after, call) => this.context.storage.listCommitRecordIds(after, { limit: this.pageSize, ...call }),
        signal,
      );
    let versionId = intent ?? (await findRecordId());
    if (versionId === undefined) {
      if (!judgeDead) return { status: 'absent' };
      // A commit written without an intent (shim/commit.ts) may still be on its way, and no
      // intent names the record id to mark: its txid is refused instead (by the engine's clock),
      // or its owner's tickets are (one of them is the one it spends), then its record looked
      // for once more. One that lands after the refusal cannot land at all. This node's own
      // transaction, which it forgot, has no write on its way: it left `running` decided.
      const owner = ownerOfTxid(txid);
      if (writesWithoutIntents(this.context.storage)) {
        await this.context.storage.createEntry(
          REFUSALS_NAMESPACE,
          txid,
          refusalValue(this.context.now()),
          callOptions(signal),
        );
      } else if (
        spendsTickets(this.context.storage) &&
        owner !== undefined &&
        owner !== this.context.nodeId
      ) {
        await this.refuseTicketsOf(owner, signal);
      } else {
        return { status: 'absent' };
      }
      versionId = await findRecordId();
      if (versionId === undefined) return { status: 'absent' };
    }
    let record = await this.context.storage.getCommitRecord(versionId, callOptions(signal));
    if (record === undefined) {
      if (!judgeDead) return { status: 'pending' };
      const decided = await markAborted(this.context.storage, versionId, callOptions(signal));
      if (decided.state === 'aborted') return { status: 'aborted' };
      record = decided.record;
    }
    this.learn(record);
    return isAbortMarker(record) ? { status: 'aborted' } : { status: 'committed', version: versionId };
  }

  private async findId(
    from: string,
    suffix: string,
    list: (after: string | undefined, call: CallOptions) => Promise<string[]>,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    for (let after: string | undefined = from; ; ) {
      const ids = await list(after, callOptions(signal));
      if (ids.length === 0) return undefined;
      const found = ids.find((id) => id.endsWith(suffix));
      if (found !== undefined) return found;
      after = ids[ids.length - 1]!;
    }
  }

  private isDecided(versionId: string): boolean {
    return (
      this.collected.has(versionId) ||
      this.aborted.has(versionId) ||
      // A pushed record is not a decision until storage shows it.
      this.context.metadata.get(versionId)?.verified === true
    );
  }
}
