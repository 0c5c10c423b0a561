/**
 * The pace of a node's rounds of background work that only matter when something happens:
 * pulls (protocol.md, "Learning commits") and the collector's passes. Every `baseMs` while
 * anything happens, backing off to `idleMaxMs` while nothing does: a round that finds nothing,
 * with no activity here (a transaction begun, a pushed commit learned) since the round
 * before, doubles the wait; anything found or begun brings it straight back. An idle node of an
 * idle cluster so lists records and tries the lease a few times a minute, not every second: on
 * S3 and DynamoDB each listing is billed, and for nothing, since no commit was made anywhere.
 *
 * Pulls are the safety net for commits no push delivered, and what moves the node's claim
 * (and so its low-water mark for the collector): while backing off, every pull settles, so the
 * claim moves on as before, at most one idle wait late.
 */
export class IdleBackoff {
  private waitMs: number;
  private active = false;

  constructor(
    private readonly baseMs: number,
    private readonly idleMaxMs: number,
  ) {
    this.waitMs = baseMs;
  }

  /** The wait before the next pull. */
  get nextWaitMs(): number {
    return this.waitMs;
  }

  /** Whether the node is backing off now (its next pull should settle). */
  get idle(): boolean {
    return this.waitMs > this.baseMs;
  }

  /**
   * Something happened here (a transaction began, a pushed commit was learned). True when
   * the node was backing off: the caller runs the next round within `baseMs` from now.
   */
  noteActivity(): boolean {
    this.active = true;
    if (this.waitMs === this.baseMs) return false;
    this.waitMs = this.baseMs;
    return true;
  }

  /** A round finished, having found `found` things (commits learned, objects deleted); returns the wait before the next. */
  afterRound(found: number): number {
    this.waitMs = found > 0 || this.active ? this.baseMs : Math.min(this.waitMs * 2, this.idleMaxMs);
    this.active = false;
    return this.waitMs;
  }
}
