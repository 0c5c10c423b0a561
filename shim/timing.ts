/**
 * The time bounds the protocol's cooperation between nodes rests on (docs/protocol.md §7, §8).
 *
 * A commit record is written only while its version id is at most `recordDeadlineMs` old
 * (else the commit aborts), and every storage call finishes or fails within
 * `storageCallTimeoutMs`. So no record can land more than `recordWindowMs` after its
 * version time: a node that lists the records of the last `pullOverlapMs` (the window plus
 * the clock skew allowed between nodes) never misses a slow committer, and knows every
 * commit older than that. Orphan versions (written by a commit that never wrote its record)
 * are collected once they are older than `orphanAfterMs`.
 */
export interface Timing {
  readonly recordDeadlineMs: number;
  readonly storageCallTimeoutMs: number;
  readonly maxClockSkewMs: number;
  /** How often a node lists new commit records past its watermark. */
  readonly pullIntervalMs: number;
  /** Every this many pulls, the pull starts `pullOverlapMs` back, for slow committers. */
  readonly overlapPullEvery: number;
}

export const DEFAULT_TIMING: Timing = {
  recordDeadlineMs: 30_000,
  storageCallTimeoutMs: 20_000,
  maxClockSkewMs: 5_000,
  pullIntervalMs: 1_000,
  overlapPullEvery: 10,
};

/** After this long past its version time, no commit record of that version can still land. */
export function recordWindowMs(timing: Timing): number {
  return timing.recordDeadlineMs + timing.storageCallTimeoutMs;
}

/** How far back a pull must start to see every record that may have landed late. */
export function pullOverlapMs(timing: Timing): number {
  return recordWindowMs(timing) + timing.maxClockSkewMs;
}

/** Versions of a commit with no record this long after its version time are orphans. */
export function orphanAfterMs(timing: Timing): number {
  return 2 * pullOverlapMs(timing);
}
