/**
 * When a node pulls (protocol.md, "Learning commits"): every `pullIntervalMs` while anything
 * happens, backing off to `idlePullIntervalMs` while nothing does. A pull that learns nothing,
 * with no transaction begun here and no commit pushed to this node since the pull before,
 * doubles the wait; anything learned or begun brings it straight back. An idle node of an
 * idle cluster so lists records a few times a minute, not every second: on S3 and DynamoDB
 * each listing is billed, and for nothing, since no commit was made anywhere.
 *
 * Pulls are the safety net for commits no push delivered, and what moves the node's claim
 * (and so its low-water mark for the collector): while backing off, every pull settles, so the
 * claim moves on as before, at most one idle wait late.
 */
export class PullSchedule {
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
   * the node was backing off: the caller pulls again within `pullIntervalMs` from now.
   */
  noteActivity(): boolean {
    this.active = true;
    if (this.waitMs === this.baseMs) return false;
    this.waitMs = this.baseMs;
    return true;
  }

  /** A pull finished, having learned `learned` commits; returns the wait before the next. */
  afterPull(learned: number): number {
    this.waitMs = learned > 0 || this.active ? this.baseMs : Math.min(this.waitMs * 2, this.idleMaxMs);
    this.active = false;
    return this.waitMs;
  }
}
