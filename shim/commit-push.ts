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
 * parse): on a 2-core VM, 80 µs for a bare Python reader woken by a line and 170-320 µs for
 * Node's (bench/wake-cost.ts), what learning a few records costs. So the interval grows on two
 * counts:
 * - with this node's load: while its event loop is busy more than `busyFrom` of the time
 *   (smoothed over its batches), the interval grows from `batchMs` to `maxBatchMs` when it is
 *   busy all the time. A busy node is a busy tier: it sends fuller batches rather than more of
 *   them, whatever the machine's speed; a node with CPU to spare keeps pushing every `batchMs`,
 *   where freshness wins;
 * - with the number of peers past `maxPushesPerSecond` / 100 of them: in a tier of n busy
 *   nodes each receives n − 1 pushes per interval, so a node then receives at most that many
 *   pushes a second in all, however large the tier.
 * And per peer: one that serves nothing asks for a slower pace (server/http/commit-stream.ts,
 * "the idle pace"), and gets one batch per pace, with every record of it.
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
  /** The share of time the event loop is busy past which the interval grows. @default 0.5 */
  readonly busyFrom?: number;
  /** The interval when the event loop is busy all the time. @default 30 */
  readonly maxBatchMs?: number;
  /**
   * The share of time (0 to 1) this process's event loop was busy since the last call.
   * @default the event loop's utilization (performance.eventLoopUtilization)
   */
  readonly loopBusy?: () => number;
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
  /** What waits for each peer that asked for a slower pace, and the timer that sends it. */
  private readonly paced = new Map<
    string,
    { readonly pending: CommitRecord[]; readonly timer: NodeJS.Timeout }
  >();
  private scheduled = false;
  private lastFlushMs = Number.NEGATIVE_INFINITY;
  /** How busy this node's event loop is, smoothed over the batches (0 to 1). */
  private busy = 0;
  private readonly now: () => number;
  private readonly loopBusy: () => number;

  constructor(private readonly options: CommitPushOptions) {
    this.now = options.now ?? (() => performance.now());
    this.loopBusy = options.loopBusy ?? loopUtilization();
  }

  push(record: CommitRecord): void {
    this.queued.push(record);
    if (this.scheduled) return;
    this.scheduled = true;
    const waitMs = this.lastFlushMs + this.intervalMs() - this.now();
    if (waitMs <= 0) setImmediate(() => this.flush()).unref();
    else setTimeout(() => this.flush(), waitMs).unref();
  }

  /** The least time between two pushes at this node's load, with the peers there are now. */
  intervalMs(): number {
    const { batchMs = 10, busyFrom = 0.5, maxBatchMs = 30 } = this.options;
    const busier = busyFrom >= 1 ? 0 : Math.min(1, Math.max(0, (this.busy - busyFrom) / (1 - busyFrom)));
    const byLoad = batchMs + busier * Math.max(0, maxBatchMs - batchMs);
    const perPeerMs = 1000 / (this.options.maxPushesPerSecond ?? 1000);
    return Math.max(byLoad, this.options.peers().length * perPeerMs);
  }

  private flush(): void {
    this.busy = 0.7 * this.busy + 0.3 * this.loopBusy();
    this.lastFlushMs = this.now();
    const records = this.queued;
    this.queued = [];
    this.scheduled = false;
    const intervalMs = this.intervalMs();
    for (const url of this.options.peers()) {
      const paceMs = this.options.transport.paceOf?.(url) ?? 0;
      if (paceMs <= intervalMs && !this.paced.has(url)) this.send(url, records);
      else this.hold(url, records, paceMs);
    }
  }

  /**
   * Keeps `records` for a peer that asked for a pace slower than this node's interval: what
   * comes for it within one pace goes in one batch at the end of it, or when it lifts its
   * pace (release).
   */
  private hold(url: string, records: readonly CommitRecord[], paceMs: number): void {
    let held = this.paced.get(url);
    if (!held) {
      held = { pending: [], timer: setTimeout(() => this.release(url), paceMs).unref() };
      this.paced.set(url, held);
    }
    for (const record of records) held.pending.push(record);
  }

  /**
   * Sends at once what waits for `url`: its pace is over, or it lifted it (it began a
   * transaction, and wants what it missed now).
   */
  release(url: string): void {
    const held = this.paced.get(url);
    if (!held) return;
    clearTimeout(held.timer);
    this.paced.delete(url);
    this.send(url, held.pending);
  }

  private send(url: string, records: readonly CommitRecord[]): void {
    this.options.transport
      .pushCommits(url, records)
      .catch((error: unknown) => this.options.logger?.debug({ err: error, peer: url }, 'commit push failed'));
  }
}

/** The share of time the event loop was busy since the last call (0 to 1). */
function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    return utilization;
  };
}
