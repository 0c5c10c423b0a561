/**
 * The fast path of learning commits (protocol.md §7): right after a commit, its record is
 * pushed to every live peer. Records committed within `batchMs` go in one request per peer,
 * so a busy node sends a few pushes a second per peer, not one per commit. A lost push
 * costs only latency: peers learn every commit from storage on their next pull.
 */
import type { CommitRecord } from '../adapters/contract.js';
import type { NodeLogger } from './telemetry.js';

export interface CommitPushOptions {
  readonly peers: () => readonly string[];
  /** The peer credential (docs/protocol.md, "Pushed records"). */
  readonly token: () => string | undefined;
  readonly logger?: NodeLogger;
  /** @default 2000 */
  readonly timeoutMs?: number;
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
    const token = this.options.token();
    if (token === undefined) return;
    const body = JSON.stringify({ records });
    for (const url of this.options.peers()) {
      fetch(`${url.replace(/\/$/, '')}/v1/internal/commits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 2000),
      })
        .then((answer) => answer.body?.cancel())
        .catch((error: unknown) =>
          this.options.logger?.debug({ err: error, peer: url }, 'commit push failed'),
        );
    }
  }
}
