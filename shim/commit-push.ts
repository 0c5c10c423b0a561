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
 * parse). In a tier of n busy nodes each receives n − 1 pushes per interval, so the interval
 * grows with the number of peers past `maxPushesPerSecond` / 100 of them: a node then
 * receives at most that many pushes a second in all, however large the tier, and a tier of
 * up to 11 nodes keeps the 10 ms interval.
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

  /** The least time between two pushes with the peers there are now. */
  private intervalMs(): number {
    const perPeerMs = 1000 / (this.options.maxPushesPerSecond ?? 1000);
    return Math.max(this.options.batchMs ?? 10, this.options.peers().length * perPeerMs);
  }

  private flush(): void {
    this.lastFlushMs = this.now();
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
