/**
 * The fast path of learning commits (protocol.md §7): right after a commit, its record is
 * pushed to every live peer. Records committed within `batchMs` go in one request per peer,
 * so a busy node sends a few pushes a second per peer, not one per commit. A lost push
 * costs only latency: peers learn every commit from storage on their next pull.
 */
import type { CommitRecord } from '../adapters/contract.js';
import type { PeerTransport } from './peer-transport.js';
import type { NodeLogger } from './telemetry.js';

export interface CommitPushOptions {
  /** The peers to push to now (none while this node holds no peer credential). */
  readonly peers: () => readonly string[];
  readonly transport: PeerTransport;
  readonly logger?: NodeLogger;
  /** How long records wait to share a push. @default 10 */
  readonly batchMs?: number;
}

export class CommitPush {
  private queued: CommitRecord[] = [];
  private scheduled = false;

  constructor(private readonly options: CommitPushOptions) {}

  push(record: CommitRecord): void {
    this.queued.push(record);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), this.options.batchMs ?? 10).unref();
  }

  private flush(): void {
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
