/**
 * Membership (protocol.md §7): nodes register and heartbeat in storage, in the `members`
 * namespace of entries, so it works on every engine with no extra server; a static list of
 * peer URLs may be given as well. Each heartbeat also publishes the node's low-water mark
 * for global garbage collection.
 *
 * A node is live while its heartbeat keeps changing. An observer judges a member dead only
 * from what it saw itself: the member's sequence number unchanged across its own reads that
 * span more than the member's own dead-after time (published in its entry). No clock of the
 * member's is compared with the observer's, and an observer that cannot read the list judges
 * nobody dead. A node whose last acknowledged heartbeat was *sent* over half its dead-after
 * time ago fences itself, and commits nothing (`liveness`): it stops before anyone may count
 * it dead. Each heartbeat that changed between two reads also bounds the member's clock
 * offset; a node whose clock disagrees with most of its peers by more than the allowed skew
 * fences itself too.
 *
 * Over 400 lines: liveness, fencing and clock bounds are one rule set over the same
 * observations; split, each half would need the other's state.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import { GuardedStorage } from './guarded-storage.js';
import type { PeerTransport } from './peer-transport.js';
import { type NodeLogger, type NodeMetrics, noMetrics } from './telemetry.js';

export { MEMBERS_NAMESPACE } from './namespaces.js';

import { MEMBERS_NAMESPACE } from './namespaces.js';

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
  /** The member's own settings, so observers judge it by them. */
  readonly heartbeatMs?: number;
  readonly deadAfterMs?: number;
  /** Why the member fences itself (its clock is off), when it does. */
  readonly fenced?: string;
}

/** A member as this node sees it (GET /v1/node, `aft inspect members`). */
export interface MemberView {
  readonly nodeId: string;
  readonly url: string;
  /** This node itself. */
  readonly self: boolean;
  /** Dead: its heartbeat unchanged across this node's reads past its dead-after time. */
  readonly state: 'live' | 'dead';
  readonly seq: number;
  /** The member's own clock at its latest heartbeat. */
  readonly heartbeatAtMs: number;
  readonly lowWaterMs: number;
  /** How long this node has seen its heartbeat unchanged. */
  readonly unchangedForMs: number;
  /** Why it is fenced (it serves no commit), if it is. */
  readonly fenced?: string;
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
  /** Peer URLs given by the operator, asked for their node id through `transport`. */
  readonly peers?: readonly string[];
  /** How static peers are asked who they are; without one, `peers` are not asked. */
  readonly transport?: PeerTransport;
  readonly onFenced?: (reason: string) => void;
  readonly onUnfenced?: () => void;
  /** The wall clock, written in heartbeats and compared with peers'. @default Date.now */
  readonly now?: () => number;
  /**
   * The clock for durations (heartbeat freshness, how long a member was seen unchanged): it
   * must never step back. @default `now` when one is given, else performance.now
   */
  readonly elapsedNow?: () => number;
  readonly logger?: NodeLogger;
  readonly metrics?: NodeMetrics;
  /** Clocks further apart than this from most peers fence this node. @default 5000 */
  readonly maxClockSkewMs?: number;
  /**
   * With nothing to do this long (no `noteActivity`), a node lists the members (and reads the
   * engine's clock, and asks its static peers) only this often; its heartbeat goes on at the
   * heartbeat pace. Activity lists at once. @default heartbeatMs: every heartbeat, always
   */
  readonly idleListingMs?: number;
}

interface Observed {
  readonly record: MemberRecord;
  /** When (elapsed clock) a read of this node first answered with the member's current sequence number. */
  readonly changedAtMs: number;
}

/** What one heartbeat change tells of a member's clock: its offset from ours lies in [low, high]. */
interface ClockOffset {
  readonly lowMs: number;
  readonly highMs: number;
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
      ...(Number.isFinite(parsed.heartbeatMs) && { heartbeatMs: Number(parsed.heartbeatMs) }),
      ...(Number.isFinite(parsed.deadAfterMs) && { deadAfterMs: Number(parsed.deadAfterMs) }),
      ...(typeof parsed.fenced === 'string' && { fenced: parsed.fenced }),
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
  private readonly elapsedNow: () => number;
  private readonly logger: NodeLogger | undefined;
  private readonly metrics: NodeMetrics;
  /** Storage through its one door (shim/guarded-storage.ts). */
  private readonly storage: GuardedStorage;
  private readonly observed = new Map<string, Observed>();
  /** Peers this node has logged as dead, so each death and return is logged once. */
  private readonly countedDead = new Set<string>();
  /** Static peers by URL: the node id they answered with, and when. */
  private readonly staticPeers = new Map<string, { nodeId: string; seenAtMs: number }>();
  private seq = 0;
  /** When the newest heartbeat that storage acknowledged was sent (not answered). */
  private lastHeartbeatSentOkMs: number;
  /** When the latest successful read of the member list began (elapsed clock, and wall clock). */
  private lastListingStartMs: number | undefined;
  private lastListingWallMs: number | undefined;
  private readonly offsets = new Map<string, ClockOffset>();
  private skewReason: string | undefined;
  /** This node's clock offset from the storage engine's, where the engine tells time. */
  private engineOffset: ClockOffset | undefined;
  private readonly maxClockSkewMs: number;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private observing: Promise<void> | undefined;
  private registered = false;
  private readonly idleListingMs: number;
  /** When (elapsed clock) this node last had something to do. */
  private lastActivityMs: number;

  constructor(options: MembershipOptions) {
    this.options = options;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.deadAfterMs = options.deadAfterMs ?? 10_000;
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.elapsedNow = options.elapsedNow ?? options.now ?? (() => performance.now());
    this.logger = options.logger;
    this.metrics = options.metrics ?? noMetrics;
    this.storage = GuardedStorage.of(options.storage, { metrics: this.metrics });
    this.lastHeartbeatSentOkMs = this.elapsedNow();
    this.idleListingMs = Math.max(this.heartbeatMs, options.idleListingMs ?? this.heartbeatMs);
    this.lastActivityMs = this.elapsedNow();
  }

  /**
   * This node has something to do (a transaction began, a peer pushed a commit): a node that
   * was idle lists the members at once, and at every heartbeat from then on.
   */
  noteActivity(): void {
    const wasIdle = this.isIdle();
    this.lastActivityMs = this.elapsedNow();
    if (wasIdle && this.timer !== undefined) this.observe().catch(() => undefined);
  }

  /**
   * Lists the members unless a listing began within the last second (or heartbeat, if
   * shorter): for a request whose owner this node does not know (a node that joined since),
   * at most one listing a second however many such requests come.
   */
  async listIfStale(): Promise<void> {
    // One in flight may have begun before the owner joined: wait for it, then judge.
    if (this.observing) await this.observing.catch(() => undefined);
    const startedMs = this.lastListingStartMs;
    if (startedMs !== undefined && this.elapsedNow() - startedMs < Math.min(this.heartbeatMs, 1000)) return;
    await this.observe();
  }

  private isIdle(): boolean {
    return this.elapsedNow() - this.lastActivityMs > this.idleListingMs;
  }

  /**
   * Why this node cannot vouch that it is live now, if so: its last acknowledged heartbeat was
   * sent over half the dead-after time ago (others may count it dead from then on), or its
   * clock disagrees with its peers'. A commit checks this before its record (shim/commit.ts).
   */
  liveness(): string | undefined {
    if (!this.registered) return undefined;
    const silentMs = this.elapsedNow() - this.lastHeartbeatSentOkMs;
    if (silentMs > this.deadAfterMs / 2) return `no heartbeat reached storage for ${silentMs} ms`;
    return this.skewReason;
  }

  /** The offset of each peer's clock from this node's, as last measured (for operators). */
  clockOffsets(): ReadonlyMap<string, ClockOffset> {
    return this.offsets;
  }

  /**
   * Registers with a low-water mark of 0 (so no collector deletes anything this node might
   * yet need while it loads its metadata), before the node bootstraps.
   */
  async register(signal?: AbortSignal): Promise<void> {
    await this.writeHeartbeat(0, signal);
    this.registered = true;
  }

  /**
   * Starts heartbeating; the first heartbeat is awaited. A node starts this before it loads
   * its metadata (with a low-water mark of 0 until then), so a long load never looks dead.
   */
  async start(): Promise<void> {
    await this.beat();
    this.timer ??= setInterval(() => {
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
    const nowMs = this.elapsedNow();
    const seen = this.observed.get(nodeId);
    if (seen && !this.isDead(seen)) return seen.record.url;
    for (const [url, peer] of this.staticPeers) {
      if (peer.nodeId === nodeId && nowMs - peer.seenAtMs <= this.deadAfterMs) return url;
    }
    return undefined;
  }

  /**
   * Whether this node has seen `nodeId` dead: registered, then its heartbeat unchanged across
   * this node's own reads for longer than its dead-after time. A node it never saw is not
   * judged (undefined from `urlOf`, false here).
   */
  isKnownDead(nodeId: string): boolean {
    const seen = this.observed.get(nodeId);
    return seen !== undefined && this.isDead(seen);
  }

  /** Every member this node's latest listing found, itself included, as it judges them. */
  members(): MemberView[] {
    const nowMs = this.elapsedNow();
    return [...this.observed.values()].map(({ record, changedAtMs }) => {
      const self = record.nodeId === this.options.nodeId;
      const fenced = self ? this.liveness() : record.fenced;
      return {
        nodeId: record.nodeId,
        url: record.url,
        self,
        state: !self && this.isDead({ record, changedAtMs }) ? 'dead' : 'live',
        seq: record.seq,
        heartbeatAtMs: record.heartbeatAtMs,
        lowWaterMs: record.lowWaterMs,
        unchangedForMs: Math.max(0, Math.round(nowMs - changedAtMs)),
        ...(fenced !== undefined && { fenced }),
      };
    });
  }

  /** URLs of the live peers (this node excluded). */
  livePeerUrls(): string[] {
    const nowMs = this.elapsedNow();
    const urls = new Set<string>();
    for (const observed of this.observed.values()) {
      if (observed.record.nodeId !== this.options.nodeId && !this.isDead(observed))
        urls.add(observed.record.url);
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
      await this.storage.deleteEntries(MEMBERS_NAMESPACE, [this.options.nodeId]).catch(() => undefined);
    }
  }

  /** Logs each peer this node newly counts dead, and each one counted dead whose heartbeat moves again. */
  private reportLiveness(): void {
    for (const [nodeId, observed] of this.observed) {
      if (nodeId === this.options.nodeId) continue;
      const dead = this.isDead(observed);
      const { url, deadAfterMs = this.deadAfterMs } = observed.record;
      if (dead && !this.countedDead.has(nodeId)) {
        this.countedDead.add(nodeId);
        this.logger?.warn(
          { nodeId, url, deadAfterMs },
          'peer counted dead: its heartbeat stopped changing for longer than its dead-after time',
        );
      } else if (!dead && this.countedDead.delete(nodeId)) {
        this.logger?.info({ nodeId, url }, 'peer is back: its heartbeat changes again');
      }
    }
  }

  /** Dead: unchanged across this node's reads for longer than the member's own dead-after time. */
  private isDead(observed: Observed): boolean {
    if (this.lastListingStartMs === undefined) return false;
    const deadAfterMs = observed.record.deadAfterMs ?? this.deadAfterMs;
    return this.lastListingStartMs - observed.changedAtMs > deadAfterMs;
  }

  private beat(): Promise<void> {
    // A heartbeat write that hangs fences as surely as one that fails.
    const notLive = this.liveness();
    if (notLive !== undefined) this.options.onFenced?.(notLive);
    this.beating ??= (async () => {
      try {
        await this.writeHeartbeat(this.options.lowWaterMs());
        const listedMs = this.lastListingStartMs;
        const listingDue =
          !this.isIdle() || listedMs === undefined || this.elapsedNow() - listedMs >= this.idleListingMs;
        if (listingDue) await this.observe();
      } finally {
        this.beating = undefined;
      }
    })();
    return this.beating;
  }

  /** The engine's clock, the member list and the static peers, read once (one at a time). */
  private observe(): Promise<void> {
    this.observing ??= (async () => {
      try {
        await this.readEngineClock();
        await this.readMembers();
        await this.askStaticPeers();
      } finally {
        this.observing = undefined;
      }
    })();
    return this.observing;
  }

  private async writeHeartbeat(lowWaterMs: number, signal?: AbortSignal): Promise<void> {
    this.seq += 1;
    const sentMs = this.now();
    const sentElapsedMs = this.elapsedNow();
    const record: MemberRecord = {
      nodeId: this.options.nodeId,
      url: this.options.url,
      seq: this.seq,
      heartbeatAtMs: sentMs,
      lowWaterMs,
      heartbeatMs: this.heartbeatMs,
      deadAfterMs: this.deadAfterMs,
      ...(this.skewReason !== undefined && { fenced: this.skewReason }),
    };
    try {
      // A heartbeat that lands later than half the dead-after time is worth nothing to the
      // fencing rule.
      await this.storage.putEntry(MEMBERS_NAMESPACE, this.options.nodeId, encodeMember(record), {
        ...(signal && { signal }),
        timeoutMs: this.deadAfterMs / 2,
      });
      // Freshness counts from the sending: the write landed no earlier, and an observer saw
      // it change no earlier than that.
      this.lastHeartbeatSentOkMs = Math.max(this.lastHeartbeatSentOkMs, sentElapsedMs);
      if (this.liveness() === undefined) this.options.onUnfenced?.();
    } catch (error) {
      const notLive = this.liveness();
      if (notLive !== undefined) this.options.onFenced?.(notLive);
      throw error;
    }
  }

  private async readMembers(): Promise<void> {
    const startedMs = this.now();
    const startedElapsedMs = this.elapsedNow();
    const entries = await this.storage.listEntries(MEMBERS_NAMESPACE);
    const nowMs = this.now();
    const answeredElapsedMs = this.elapsedNow();
    // Wall times, to bound peers' clock offsets; durations run on the elapsed clock.
    const previousListingMs = this.lastListingWallMs;
    this.lastListingWallMs = startedMs;
    this.lastListingStartMs = startedElapsedMs;
    const present = new Set<string>();
    const stale: string[] = [];
    for (const entry of entries) {
      const record = decodeMember(entry.value);
      if (!record) continue;
      present.add(record.nodeId);
      const previous = this.observed.get(record.nodeId);
      const changed = !previous || previous.record.seq !== record.seq;
      // Counted from when this read answered: the heartbeat had landed by then, so it was sent
      // no later, and its node stops by half its dead-after time after that.
      const changedAtMs = changed ? answeredElapsedMs : previous.changedAtMs;
      this.observed.set(record.nodeId, { record, changedAtMs });
      if (changed && previous && previousListingMs !== undefined && record.nodeId !== this.options.nodeId) {
        // Written after the previous read began and before this one answered.
        this.offsets.set(record.nodeId, {
          lowMs: record.heartbeatAtMs - nowMs,
          highMs: record.heartbeatAtMs - previousListingMs,
        });
      }
      if (!changed && answeredElapsedMs - changedAtMs > 10 * (record.deadAfterMs ?? this.deadAfterMs)) {
        stale.push(entry.id);
      }
    }
    for (const nodeId of this.offsets.keys()) if (!present.has(nodeId)) this.offsets.delete(nodeId);
    this.judgeClock();
    for (const [nodeId, observed] of this.observed) {
      if (present.has(nodeId)) continue;
      this.observed.delete(nodeId);
      if (!this.countedDead.delete(nodeId) && nodeId !== this.options.nodeId) {
        this.logger?.info({ nodeId, url: observed.record.url }, 'peer left: its membership entry is gone');
      }
    }
    this.reportLiveness();
    if (stale.length > 0) {
      // Long-dead members leave the list, so it does not grow with every restart.
      await this.storage.deleteEntries(MEMBERS_NAMESPACE, stale).catch(() => undefined);
      this.logger?.info({ nodes: stale }, 'removed dead members');
    }
  }

  /**
   * Where the engine tells time, bounds this node's offset from it: the engine read its clock
   * between this node's two readings. (A failed read keeps the last bound.)
   */
  private async readEngineClock(): Promise<void> {
    const { storage } = this;
    if (!storage.time) return;
    const beforeMs = this.now();
    const engineMs = await storage.time({ timeoutMs: this.deadAfterMs / 2 }).catch(() => undefined);
    if (engineMs === undefined) return;
    this.engineOffset = { lowMs: beforeMs - engineMs, highMs: this.now() - engineMs };
  }

  /** This node's offset from the storage engine's clock, where the engine tells time (for operators). */
  engineClockOffset(): ClockOffset | undefined {
    return this.engineOffset;
  }

  /**
   * Fences this node while its clock is off: from the storage engine's by over half the
   * allowed skew, where the engine tells time; else from a majority of the live peers it
   * measured by over the skew (a peer's offset is known only within an interval; only an
   * interval wholly past the bound counts). With one peer and no engine clock, both fence:
   * neither can tell who is wrong, and trusting either could let the collector delete a
   * version someone reads.
   */
  private judgeClock(): void {
    const wasSkewed = this.skewReason !== undefined;
    this.skewReason = this.engineOffset ? this.engineSkew(this.engineOffset) : this.peerSkew();
    if (this.skewReason !== undefined) {
      if (!wasSkewed) this.logger?.error({ reason: this.skewReason }, 'clock skew over the bound');
      this.options.onFenced?.(this.skewReason);
    } else if (wasSkewed && this.liveness() === undefined) {
      this.options.onUnfenced?.();
    }
  }

  /**
   * The engine's clock is every node's reference: within half the bound of it, any two nodes
   * are within the bound of each other. Only an offset wholly past half the bound counts.
   */
  private engineSkew(offset: ClockOffset): string | undefined {
    const halfMs = this.maxClockSkewMs / 2;
    const beyond = offset.lowMs > halfMs ? offset.lowMs : offset.highMs < -halfMs ? offset.highMs : 0;
    if (beyond === 0) return undefined;
    return `this node's clock is ${Math.round(beyond)} ms off the storage engine's, over half the ${this.maxClockSkewMs} ms allowed between nodes`;
  }

  private peerSkew(): string | undefined {
    let measured = 0;
    let off = 0;
    let worstMs = 0;
    for (const [nodeId, offset] of this.offsets) {
      const observed = this.observed.get(nodeId);
      if (!observed || this.isDead(observed)) continue;
      measured += 1;
      const beyond =
        offset.lowMs > this.maxClockSkewMs
          ? offset.lowMs
          : offset.highMs < -this.maxClockSkewMs
            ? offset.highMs
            : 0;
      if (beyond !== 0) {
        off += 1;
        if (Math.abs(beyond) > Math.abs(worstMs)) worstMs = beyond;
      }
    }
    return measured > 0 && off * 2 > measured
      ? `this node's clock disagrees with ${off} of ${measured} peers by over ${this.maxClockSkewMs} ms (a peer is ${Math.round(worstMs)} ms off)`
      : undefined;
  }

  private async askStaticPeers(): Promise<void> {
    const { peers = [], transport } = this.options;
    if (!transport) return;
    await Promise.all(
      peers.map(async (url) => {
        // Unanswered: it turns dead once its last answer is older than deadAfterMs.
        const nodeId = await transport.probe(url, Math.max(500, this.heartbeatMs)).catch(() => undefined);
        if (nodeId !== undefined) this.staticPeers.set(url, { nodeId, seenAtMs: this.elapsedNow() });
      }),
    );
  }
}
