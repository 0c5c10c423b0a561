/**
 * Membership (protocol.md §7): nodes register and heartbeat in storage, in the `members`
 * namespace of entries, so it works on every engine with no extra server; a static list of
 * peer URLs may be given as well. Each heartbeat also publishes the node's low-water mark
 * for global garbage collection.
 *
 * A node is live while its heartbeat keeps changing. Liveness is judged from the heartbeat
 * time the member wrote (for the standalone collector, which sees each entry once) and, in a
 * node, from when this node saw the member's sequence number change (so a peer's clock skew
 * does not matter for forwarding). A node that cannot write its own heartbeat for half the
 * dead-after time fences itself: it stops serving before anyone may count it dead.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import { guardStorage } from './guarded-storage.js';
import { type NodeLogger, type NodeMetrics, noMetrics } from './telemetry.js';

export const MEMBERS_NAMESPACE = 'members';

/** What a node publishes in its heartbeat entry. */
export interface MemberRecord {
  readonly nodeId: string;
  /** Where peers reach its REST API. */
  readonly url: string;
  /** Grows by one with each heartbeat. */
  readonly seq: number;
  /** The writer's wall clock at the heartbeat. */
  readonly heartbeatAtMs: number;
  /** Every transaction running on the node began knowing every commit up to this version time. */
  readonly lowWaterMs: number;
}

export interface MembershipOptions {
  readonly storage: StorageAdapter;
  readonly nodeId: string;
  readonly url: string;
  readonly lowWaterMs: () => number;
  /** @default 1000 */
  readonly heartbeatMs?: number;
  /** @default 10000 */
  readonly deadAfterMs?: number;
  /** Peer URLs given by the operator, asked for their node id over HTTP. */
  readonly peers?: readonly string[];
  /** Bearer token for asking static peers. */
  readonly token?: string;
  readonly onFenced?: (reason: string) => void;
  readonly onUnfenced?: () => void;
  readonly now?: () => number;
  readonly logger?: NodeLogger;
  readonly metrics?: NodeMetrics;
}

interface Observed {
  readonly record: MemberRecord;
  /** Local time at which this node last saw the member's heartbeat change. */
  readonly changedAtMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMember(record: MemberRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decodeMember(value: Uint8Array): MemberRecord | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(value)) as Partial<MemberRecord>;
    if (typeof parsed.nodeId !== 'string' || typeof parsed.url !== 'string') return undefined;
    return {
      nodeId: parsed.nodeId,
      url: parsed.url,
      seq: Number(parsed.seq ?? 0),
      heartbeatAtMs: Number(parsed.heartbeatAtMs ?? 0),
      lowWaterMs: Number(parsed.lowWaterMs ?? 0),
    };
  } catch {
    return undefined;
  }
}

export class Membership {
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  private readonly options: MembershipOptions;
  private readonly now: () => number;
  private readonly logger: NodeLogger | undefined;
  private readonly metrics: NodeMetrics;
  private readonly observed = new Map<string, Observed>();
  /** Static peers by URL: the node id they answered with, and when. */
  private readonly staticPeers = new Map<string, { nodeId: string; seenAtMs: number }>();
  private seq = 0;
  private lastHeartbeatOkMs: number;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private registered = false;

  constructor(options: MembershipOptions) {
    this.options = options;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.deadAfterMs = options.deadAfterMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.metrics = options.metrics ?? noMetrics;
    this.lastHeartbeatOkMs = this.now();
  }

  /**
   * Registers with a low-water mark of 0 (so no collector deletes anything this node might
   * yet need while it loads its metadata), before the node bootstraps.
   */
  async register(signal?: AbortSignal): Promise<void> {
    await this.writeHeartbeat(0, signal);
    this.registered = true;
  }

  /** Starts heartbeating; the first heartbeat (with the real low-water mark) is awaited. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch(() => undefined);
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** One heartbeat and one read of the member list, now. */
  refresh(): Promise<void> {
    return this.beat();
  }

  /** The URL of a live node, or undefined when it is unknown or dead. */
  urlOf(nodeId: string): string | undefined {
    if (nodeId === this.options.nodeId) return this.options.url;
    const nowMs = this.now();
    const seen = this.observed.get(nodeId);
    if (seen && nowMs - seen.changedAtMs <= this.deadAfterMs) return seen.record.url;
    for (const [url, peer] of this.staticPeers) {
      if (peer.nodeId === nodeId && nowMs - peer.seenAtMs <= this.deadAfterMs) return url;
    }
    return undefined;
  }

  /** URLs of the live peers (this node excluded). */
  livePeerUrls(): string[] {
    const nowMs = this.now();
    const urls = new Set<string>();
    for (const { record, changedAtMs } of this.observed.values()) {
      if (record.nodeId !== this.options.nodeId && nowMs - changedAtMs <= this.deadAfterMs)
        urls.add(record.url);
    }
    for (const [url, peer] of this.staticPeers) {
      if (peer.nodeId !== this.options.nodeId && nowMs - peer.seenAtMs <= this.deadAfterMs) urls.add(url);
    }
    return [...urls];
  }

  /** Leaves: stops heartbeating and removes this node's entry, so peers stop forwarding to it. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beating?.catch(() => undefined);
    if (this.registered) {
      await this.options.storage
        .deleteEntries(MEMBERS_NAMESPACE, [this.options.nodeId])
        .catch(() => undefined);
    }
  }

  private beat(): Promise<void> {
    // A heartbeat write that hangs fences as surely as one that fails.
    const silentMs = this.now() - this.lastHeartbeatOkMs;
    if (this.registered && silentMs > this.deadAfterMs / 2) {
      this.options.onFenced?.(`no heartbeat reached storage for ${silentMs} ms`);
    }
    this.beating ??= (async () => {
      try {
        await this.writeHeartbeat(this.options.lowWaterMs());
        await this.readMembers();
        await this.askStaticPeers();
      } finally {
        this.beating = undefined;
      }
    })();
    return this.beating;
  }

  private async writeHeartbeat(lowWaterMs: number, signal?: AbortSignal): Promise<void> {
    this.seq += 1;
    const record: MemberRecord = {
      nodeId: this.options.nodeId,
      url: this.options.url,
      seq: this.seq,
      heartbeatAtMs: this.now(),
      lowWaterMs,
    };
    try {
      await guardStorage(this.options.storage, this.metrics, 'putEntry', () =>
        this.options.storage.putEntry(MEMBERS_NAMESPACE, this.options.nodeId, encodeMember(record), {
          ...(signal && { signal }),
        }),
      );
      this.lastHeartbeatOkMs = this.now();
      this.options.onUnfenced?.();
    } catch (error) {
      const silentMs = this.now() - this.lastHeartbeatOkMs;
      if (silentMs > this.deadAfterMs / 2) {
        this.options.onFenced?.(`no heartbeat reached storage for ${silentMs} ms`);
      }
      throw error;
    }
  }

  private async readMembers(): Promise<void> {
    const entries = await guardStorage(this.options.storage, this.metrics, 'listEntries', () =>
      this.options.storage.listEntries(MEMBERS_NAMESPACE),
    );
    const nowMs = this.now();
    const present = new Set<string>();
    const stale: string[] = [];
    for (const entry of entries) {
      const record = decodeMember(entry.value);
      if (!record) continue;
      present.add(record.nodeId);
      const previous = this.observed.get(record.nodeId);
      const changed = !previous || previous.record.seq !== record.seq;
      const changedAtMs = changed ? nowMs : previous.changedAtMs;
      this.observed.set(record.nodeId, { record, changedAtMs });
      if (!changed && nowMs - changedAtMs > 10 * this.deadAfterMs) stale.push(entry.id);
    }
    for (const nodeId of this.observed.keys()) if (!present.has(nodeId)) this.observed.delete(nodeId);
    if (stale.length > 0) {
      // Long-dead members leave the list, so it does not grow with every restart.
      await this.options.storage.deleteEntries(MEMBERS_NAMESPACE, stale).catch(() => undefined);
      this.logger?.info({ nodes: stale }, 'removed dead members');
    }
  }

  private async askStaticPeers(): Promise<void> {
    const peers = this.options.peers ?? [];
    await Promise.all(
      peers.map(async (url) => {
        try {
          const response = await fetch(`${url.replace(/\/$/, '')}/v1/node`, {
            headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
            signal: AbortSignal.timeout(Math.max(500, this.heartbeatMs)),
          });
          if (!response.ok) return;
          const { nodeId } = (await response.json()) as { nodeId?: string };
          if (typeof nodeId === 'string') this.staticPeers.set(url, { nodeId, seenAtMs: this.now() });
        } catch {
          // Unreachable now: it turns dead once its last answer is older than deadAfterMs.
        }
      }),
    );
  }
}
