/**
 * The time bounds the protocol's cooperation between nodes rests on (docs/protocol.md, "Time
 * bounds"). None of them is trusted for safety against late storage writes: a commit record
 * that arrives late loses to an abort marker (shim/commit-outcome.ts). What they bound is how
 * soon others may judge a commit dead, and how far back a node's knowledge reaches.
 *
 * - A committer writes its record only if its intent entry was acknowledged within
 *   `intentDeadlineMs` of taking its version id (measured on its own clock) and it was still
 *   a live member then. So every intent that can be followed by a record has landed by
 *   version time + intent deadline + clock skew: a node that settles the intents of that
 *   window (`knownLagMs`) knows every commit of it, or has marked it aborted.
 * - A commit whose record is still absent `orphanAfterMs` after its version time may be
 *   judged dead by anyone, who marks its record id aborted first.
 * - Commit records and markers stay `outcomeRetentionMs`, so a repeated commit of a
 *   transaction any node forgot is answered from storage.
 */
export interface Timing {
  /** The committer's intent must be acknowledged within this long of its version id. */
  readonly intentDeadlineMs: number;
  /** Claim and record are attempted only within this long of the version id (else abort). */
  readonly recordDeadlineMs: number;
  /** Every storage call is abandoned after this long (one deadline, retries included). */
  readonly storageCallTimeoutMs: number;
  /** The most two nodes' clocks may disagree; a node whose clock is further off fences itself. */
  readonly maxClockSkewMs: number;
  /** How often a node lists new commit records past its watermark. */
  readonly pullIntervalMs: number;
  /**
   * The longest wait between pulls of an idle node: each pull that learns nothing, with no
   * transaction begun or commit pushed here since the one before, doubles the wait up to this
   * (shim/idle-backoff.ts). At or under pullIntervalMs: no backing off.
   */
  readonly idlePullIntervalMs: number;
  /** Every this many pulls, a settling pull resolves the intents and re-lists recent records. */
  readonly overlapPullEvery: number;
  /** Commit records (and abort markers) stay at least this long after their version time. */
  readonly outcomeRetentionMs: number;
  /** Abort markers stay this long: a record write delivered later than this is not stopped. */
  readonly markerRetentionMs: number;
}

export const DEFAULT_TIMING: Timing = {
  intentDeadlineMs: 10_000,
  recordDeadlineMs: 30_000,
  storageCallTimeoutMs: 20_000,
  maxClockSkewMs: 5_000,
  pullIntervalMs: 1_000,
  idlePullIntervalMs: 30_000,
  overlapPullEvery: 10,
  outcomeRetentionMs: 15 * 60_000,
  markerRetentionMs: 24 * 3_600_000,
};

/** Every intent that may still be followed by a record has landed this long after its version time. */
export function knownLagMs(timing: Timing): number {
  return timing.intentDeadlineMs + timing.maxClockSkewMs;
}

/**
 * A commit with no record this long after its version time may be judged dead (and marked):
 * a healthy committer has attempted its record by then, and its storage call has given up.
 */
export function orphanAfterMs(timing: Timing): number {
  return timing.recordDeadlineMs + timing.storageCallTimeoutMs + timing.maxClockSkewMs;
}

/** Throws a RangeError for bounds that contradict each other. */
export function checkTiming(timing: Timing): void {
  if (timing.intentDeadlineMs > timing.recordDeadlineMs) {
    throw new RangeError('intentDeadlineMs must not exceed recordDeadlineMs');
  }
  if (timing.outcomeRetentionMs < 2 * orphanAfterMs(timing)) {
    throw new RangeError('outcomeRetentionMs must be at least twice orphanAfterMs');
  }
  if (timing.markerRetentionMs < timing.outcomeRetentionMs) {
    throw new RangeError('markerRetentionMs must be at least outcomeRetentionMs');
  }
}
