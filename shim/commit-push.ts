/**
 * The fast path of learning commits (protocol.md §7): right after a commit, its record is
 * pushed to every live peer. A commit after a quiet spell goes out at once (within the same
 * turn of the event loop, with whatever else committed in it); while commits keep coming,
 * pushes go at most once per `batchMs` per peer, each carrying every record committed since
 * the last. So a busy node sends at most 1000 / batchMs pushes a second per peer, however
 * many commits, and a quiet one adds no delay. A lost push costs only latency: peers learn
 * every commit from storage on their next pull.
 *
 * Each push costs its receiver a fixed amount besides its records (a read, a wake-up, a
 * parse): on a 2-core VM, 80 µs for a bare Python reader woken by a line and 140-300 µs for
 * Node's, about what learning ten records costs. So the interval grows on two counts:
 * - with this node's commit rate: past `busyCommitsPerSecond` the interval is `batchMs` ×
 *   rate / that, up to `maxBatchMs`, so a busier node sends fuller batches rather than more of
 *   them (at 1,000 commits a second, a batch of 20 every 20 ms instead of 10 every 10 ms);
 *   below it, where a receiver has CPU to spare, freshness wins;
 * - with the number of peers past `maxPushesPerSecond` / 100 of them: in a tier of n busy
 *   nodes each receives n − 1 pushes per interval, so a node then receives at most that many
 *   pushes a second in all, however large the tier.
 */
import type { CommitRecord } from '../adapters/contract.js';
import type { PeerTransport } from './peer-transport.js';
import type { NodeLogger } from './telemetry.js';

export interface CommitPushOptions {
  /** The peers to push to now (none while this node holds no peer credential). */
  readonly peers: () => readonly string[];
  readonly transport: PeerTransport;
  readonly logger?: NodeLogger;
  /** The least time between two pushes. @default 10 */
  readonly batchMs?: number;
  /** The commit rate (per second) past which the interval grows with it. @default 500 */
  readonly busyCommitsPerSecond?: number;
  /** The most the rate makes the interval. @default 30 */
  readonly maxBatchMs?: number;
  /**
   * The most pushes a node of a tier where every node pushes like this one receives a second:
   * the interval is at least peers × 1000 / this. @default 1000
   */
  readonly maxPushesPerSecond?: number;
  /** @default performance.now */
  readonly now?: () => number;
}

export class CommitPush {
  private queued: CommitRecord[] = [];
  private scheduled = false;
  private lastFlushMs = Number.NEGATIVE_INFINITY;
  /** This node's commits a second, smoothed over the batches (0 until a batch follows another). */
  private commitsPerSecond = 0;
  private readonly now: () => number;

  constructor(private readonly options: CommitPushOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  push(record: CommitRecord): void {
    this.queued.push(record);
    if (this.scheduled) return;
    this.scheduled = true;
    const waitMs = this.lastFlushMs + this.intervalMs() - this.now();
    if (waitMs <= 0) setImmediate(() => this.flush()).unref();
    else setTimeout(() => this.flush(), waitMs).unref();
  }

  /** The least time between two pushes at this commit rate, with the peers there are now. */
  intervalMs(): number {
    const { batchMs = 10, busyCommitsPerSecond = 500, maxBatchMs = 30 } = this.options;
    const byRate = Math.min(
      Math.max(batchMs, maxBatchMs),
      (batchMs * this.commitsPerSecond) / busyCommitsPerSecond,
    );
    const perPeerMs = 1000 / (this.options.maxPushesPerSecond ?? 1000);
    return Math.max(batchMs, byRate, this.options.peers().length * perPeerMs);
  }

  private flush(): void {
    const nowMs = this.now();
    // The rate since the last batch; a batch after a quiet spell of a second or more counts
    // as none (it says nothing of a busy spell's rate, and lets a new one start fresh).
    const sinceMs = nowMs - this.lastFlushMs;
    const rate = sinceMs < 1000 ? (1000 * this.queued.length) / Math.max(1, sinceMs) : 0;
    this.commitsPerSecond = rate === 0 ? 0 : 0.7 * this.commitsPerSecond + 0.3 * rate;
    this.lastFlushMs = nowMs;
    const records = this.queued;
    this.queued = [];
    this.scheduled = false;
    for (const url of this.options.peers()) {
      this.options.transport
        .pushCommits(url, records)
        .catch((error: unknown) =>
          this.options.logger?.debug({ err: error, peer: url }, 'commit push failed'),
        );
    }
  }
}
