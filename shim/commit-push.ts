/**
 * The fast path of learning commits (protocol.md §7): right after a commit, its record is
 * pushed to every live peer. A commit after a quiet spell goes out at once (within the same
 * turn of the event loop, with whatever else committed in it); while commits keep coming,
 * pushes go at most once per `batchMs` per peer, each carrying every record committed since
 * the last. So a busy node sends at most 1000 / batchMs pushes a second per peer, however
 * many commits, and a quiet one adds no delay. A lost push costs only latency: peers learn
 * every commit from storage on their next pull.
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
    const waitMs = this.lastFlushMs + (this.options.batchMs ?? 10) - this.now();
    if (waitMs <= 0) setImmediate(() => this.flush()).unref();
    else setTimeout(() => this.flush(), waitMs).unref();
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
