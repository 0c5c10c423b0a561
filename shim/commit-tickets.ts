/**
 * Commit tickets (docs/protocol.md, "Commit", "A ticket spent"): intents written ahead, on an
 * engine whose atomic write can also swap an entry (putVersionsAndRecordSwapping: DynamoDB's
 * TransactWriteItems). A commit then waits for one round trip: its versions and record, which
 * swap a ticket this node wrote earlier from `ready` to `spent <version id>`, and land only if
 * it still read `ready` (not refused).
 *
 * What an intent promised, a ticket promises the same way: the node spends a ticket only if
 * its write was acknowledged within the intent deadline of taking its time (on this node's
 * duration clock), and sends the commit's write only within that deadline, while still a live
 * member. So every ticket that can still be spent has landed by its time + intent deadline +
 * skew, and a settling pull that refuses every ticket still `ready` up to `now − known lag`
 * (shim/commit-learning.ts) leaves none that a late write could spend: every record of a
 * version time up to there (a commit's version id is taken after its ticket's) has landed, or
 * never will. A refused ticket stays the marker retention, as an abort marker does; tickets
 * are created put-if-absent, so one delivered late cannot overwrite a refusal.
 *
 * The pool is written in batches in the background, sized to the commits of the last batch's
 * span; a ticket not handed out within half the intent deadline of its time is deleted by its
 * node (an idle node keeps none), so settling pulls seldom find one to refuse; spent tickets
 * the node deletes in batches. A commit that finds the pool empty writes an intent, as on
 * other engines (two round trips).
 */
import type { GuardedStorage } from './guarded-storage.js';
import { formatVersionId, type HybridLogicalClock } from './ids.js';
import { TICKETS_NAMESPACE } from './namespaces.js';
import type { Timing } from './timing.js';

export interface CommitTicket {
  /** Its entry id: version-id shaped, with the node's clock when it was made. */
  readonly id: string;
  /**
   * The node's duration clock just before its write was sent: the deadlines of the commit
   * that spends it count from here.
   */
  readonly madeAtMs: number;
}

export interface TicketPoolContext {
  readonly storage: GuardedStorage;
  readonly clock: HybridLogicalClock;
  readonly nodeId: string;
  readonly timing: Timing;
  /** A clock for durations that never steps back. */
  readonly elapsedNow: () => number;
  /** A ticket batch failed to land (the pool tries again at the next commit). */
  readonly onError?: (error: unknown) => void;
}

/** Tickets written at once: at least, and at most. */
const MIN_BATCH = 4;
const MAX_BATCH = 200;
/** Spent tickets deleted in one call (a DynamoDB BatchWriteItem takes 25). */
const SPENT_BATCH = 25;

const textEncoder = new TextEncoder();
/** What a ticket holds: ready to spend, refused by a judge, or spent by a commit. */
export const TICKET_READY = textEncoder.encode('ready');
export const TICKET_REFUSED = textEncoder.encode('refused');
export function spentTicketValue(versionId: string): Uint8Array {
  return textEncoder.encode(`spent ${versionId}`);
}

export const TicketState = { ready: 'ready', refused: 'refused', spent: 'spent' } as const;
export type TicketState = (typeof TicketState)[keyof typeof TicketState];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** What a stored ticket says: anything but `ready` or `refused` was spent by a commit. */
export function ticketState(value: Uint8Array): TicketState {
  if (sameBytes(value, TICKET_READY)) return TicketState.ready;
  if (sameBytes(value, TICKET_REFUSED)) return TicketState.refused;
  return TicketState.spent;
}

export class CommitTicketPool {
  /** Acknowledged tickets, oldest first. */
  private readonly ready: CommitTicket[] = [];
  private refilling = false;
  private sequence = 0;
  /** Tickets asked for since the last batch was sent (handed out or not): the next batch's size. */
  private askedSinceRefill = 0;
  private lastBatch = MIN_BATCH;
  private expiry: NodeJS.Timeout | undefined;
  private closed = false;
  /** Spent tickets not deleted yet. */
  private spentIds: string[] = [];

  constructor(private readonly context: TicketPoolContext) {}

  /** How long after it was made a ticket is handed out: the commit has the rest of the intent deadline. */
  private get handOutWithinMs(): number {
    return this.context.timing.intentDeadlineMs / 2;
  }

  /** Tickets ready to hand out now. */
  get size(): number {
    return this.ready.length;
  }

  /** A ticket to spend now, or undefined when none is ready (a batch is then on its way). */
  take(): CommitTicket | undefined {
    this.dropExpired();
    this.askedSinceRefill += 1;
    const ticket = this.ready.shift();
    if (this.ready.length < Math.ceil(this.lastBatch / 2)) this.refill();
    return ticket;
  }

  /** A commit spent `ticket`: it is deleted with the next batch. */
  spent(ticket: CommitTicket): void {
    this.spentIds.push(ticket.id);
    if (this.spentIds.length >= SPENT_BATCH) this.deleteSpent();
    else if (this.expiry === undefined) this.scheduleExpiry();
  }

  /**
   * Sends the deletes of the tickets not handed out and of the spent ones, without waiting for
   * them (a closing node must not wait on a stalled engine; one cut off leaves its tickets to
   * settling pulls); the pool makes no more.
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.expiry);
    void this.discard(this.ready.splice(0));
    this.deleteSpent();
  }

  private deleteSpent(): void {
    const ids = this.spentIds;
    if (ids.length === 0) return;
    this.spentIds = [];
    this.context.storage.deleteEntries(TICKETS_NAMESPACE, ids).catch(() => undefined);
  }

  private refill(): void {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    const count = Math.min(MAX_BATCH, Math.max(MIN_BATCH, 2 * this.askedSinceRefill));
    this.askedSinceRefill = 0;
    this.lastBatch = count;
    const { clock, nodeId, storage, elapsedNow } = this.context;
    const madeAtMs = elapsedNow();
    const tickets: CommitTicket[] = [];
    for (let index = 0; index < count; index += 1) {
      this.sequence += 1;
      tickets.push({
        id: formatVersionId(clock.tick(), `${nodeId}-${this.sequence.toString(36)}`),
        madeAtMs,
      });
    }
    // Put-if-absent: a create delivered late must not overwrite a refusal.
    storage
      .createEntries(
        TICKETS_NAMESPACE,
        tickets.map(({ id }) => ({ id, value: TICKET_READY })),
      )
      .then(
        () => {
          if (this.closed) return this.discard(tickets);
          // One acknowledged past the intent deadline is not one a settling pull is sure to
          // find; it is past the hand-out window too (half that), so it is dropped, never spent.
          this.ready.push(...tickets);
          this.dropExpired();
          this.scheduleExpiry();
        },
        (error: unknown) => {
          this.context.onError?.(error);
          // Some may have landed: settling pulls refuse whatever this misses.
          return this.discard(tickets);
        },
      )
      .finally(() => {
        this.refilling = false;
      });
  }

  /** Drops (and deletes) the tickets too old to hand out. */
  private dropExpired(): void {
    const oldestUsableMs = this.context.elapsedNow() - this.handOutWithinMs;
    let expired = 0;
    while (expired < this.ready.length && this.ready[expired]!.madeAtMs < oldestUsableMs) expired += 1;
    if (expired > 0) this.discard(this.ready.splice(0, expired)).catch(() => undefined);
  }

  /**
   * Drops the expired tickets when the oldest expires, so an idle node keeps none, and deletes
   * the spent ones by then (or half the intent deadline from now, with none ready).
   */
  private scheduleExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = undefined;
    if (this.closed) return;
    const oldest = this.ready[0];
    if (oldest === undefined && this.spentIds.length === 0) return;
    const dueInMs =
      oldest === undefined
        ? this.handOutWithinMs
        : oldest.madeAtMs + this.handOutWithinMs - this.context.elapsedNow();
    this.expiry = setTimeout(() => {
      this.expiry = undefined;
      this.dropExpired();
      this.deleteSpent();
      this.scheduleExpiry();
    }, Math.max(0, dueInMs) + 1);
    this.expiry.unref();
  }

  /** Best effort: a ready ticket left behind is refused by a settling pull (and collected later). */
  private async discard(tickets: readonly CommitTicket[]): Promise<void> {
    if (tickets.length === 0) return;
    await this.context.storage
      .deleteEntries(
        TICKETS_NAMESPACE,
        tickets.map(({ id }) => id),
      )
      .catch(() => undefined);
  }
}
