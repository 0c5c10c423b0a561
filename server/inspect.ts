/**
 * What a store holds, for operators (`aft inspect`): its members, one key's versions, and
 * counts (its commit records: server/inspect-commits.ts). Read-only: lists and gets through the storage door and never a
 * write (not even the collector's observations), so it is safe against a live cluster, on any
 * engine. What it says GC may collect follows the collector's own rules (gc/collector.ts),
 * judged from this one reading: the collector, which compares readings over time, may count
 * a member live that this reading counts dead, and then collects less.
 */

import type { CommitRecord, StorageAdapter } from '../adapters/contract.js';
import {
  collectableBelow,
  listAllEntries,
  lowWaterOf,
  type Observation,
  observationsOf,
} from '../gc/collector.js';
import { keysOfNote } from '../gc/commit-index.js';
import { isAbortMarker } from '../shim/commit-outcome.js';
import { GuardedStorage } from '../shim/guarded-storage.js';
import { parseVersionId } from '../shim/ids.js';
import { keysOfIntent, valueFromIntent } from '../shim/intents.js';
import { decodeMember } from '../shim/membership.js';
import { NAMESPACES } from '../shim/namespaces.js';
import { DEFAULT_TIMING, orphanAfterMs, type Timing } from '../shim/timing.js';

export interface InspectOptions {
  readonly storage: StorageAdapter;
  readonly timing?: Partial<Timing>;
  /** The dead-after time of a member whose heartbeat does not state its own. @default 10000 */
  readonly deadAfterMs?: number;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  /** Called as a long reading goes: `total` is undefined while it is not known yet. */
  readonly onProgress?: (progress: InspectProgress) => void;
}

export interface InspectProgress {
  readonly phase: 'records' | 'entries' | 'versions' | 'done';
  readonly done: number;
  readonly total?: number;
}

export interface MemberReport {
  readonly nodeId: string;
  readonly url: string;
  /** Dead: its heartbeat is older than its dead-after time plus the allowed skew, or the collectors saw it unchanged that long. */
  readonly state: 'live' | 'dead';
  readonly seq: number;
  /** The member's clock at its latest heartbeat, and how long before this reading that was (by this machine's clock). */
  readonly heartbeatAtMs: number;
  readonly heartbeatAgeMs: number;
  readonly lowWaterMs: number;
  readonly deadAfterMs: number;
  /** Why the member fences itself, if it does. */
  readonly fenced?: string;
}

/**
 * A version's state: `visible` (the newest committed), `deleted` (the newest is a tombstone),
 * `superseded` (a newer one is committed), `collected` (GC deleted its bytes; its record
 * stays), `in-flight` (an intent, no record yet, may still commit), `orphan` (an intent past
 * the orphan bound: GC marks it aborted and deletes it), `aborted` (its id holds an abort marker).
 */
export type VersionState =
  | 'visible'
  | 'deleted'
  | 'superseded'
  | 'collected'
  | 'in-flight'
  | 'orphan'
  | 'aborted';

export interface KeyVersionReport {
  readonly versionId: string;
  readonly timeMs: number;
  readonly txid: string;
  readonly state: VersionState;
  /** Its bytes in storage; undefined when none are stored (a tombstone, or collected). */
  readonly bytes?: number;
  /** Whether a GC pass now may delete it. */
  readonly collectable: boolean;
}

export interface KeyReport {
  readonly key: string;
  /** Versions at or below this time may supersede others (the live members' least mark). */
  readonly lowWaterMs: number;
  /** Oldest first. */
  readonly versions: readonly KeyVersionReport[];
}

export interface StoreStats {
  readonly members: number;
  readonly liveMembers: number;
  readonly commitRecords: number;
  readonly abortMarkers: number;
  /** Keys some commit record wrote, and of those, keys whose newest version is a tombstone. */
  readonly keys: number;
  readonly deletedKeys: number;
  /** Committed versions whose bytes are in storage (tombstones and collected ones apart). */
  readonly versions: number;
  readonly intents: number;
  readonly idempotencyClaims: number;
  /** Serializable transactions' claims on keys. */
  readonly claims: number;
  /**
   * Ids of commit records that cannot be read (damaged in storage): their commits are
   * invisible, and they stay until an operator deletes them (docs/protocol.md).
   */
  readonly damagedRecords: readonly string[];
  readonly lowWaterMs: number;
  /** What a GC pass may delete now: superseded versions, and intents past the orphan bound. */
  readonly gcBacklog: { readonly versions: number; readonly orphanIntents: number };
}

export const PAGE = 1000;
export const timeOf = (versionId: string): number => parseVersionId(versionId)?.physicalMs ?? 0;

export interface Reading {
  readonly storage: GuardedStorage;
  readonly timing: Timing;
  readonly call: { signal?: AbortSignal };
  readonly nowMs: number;
  readonly progress: (progress: InspectProgress) => void;
  /** Damaged commit records met so far, which the storage reads as absent. */
  readonly damagedRecords: ReadonlySet<string>;
}

export function reading(options: InspectOptions): Reading {
  const timing = { ...DEFAULT_TIMING, ...options.timing };
  const damagedRecords = new Set<string>();
  return {
    storage: GuardedStorage.of(options.storage, {
      timeoutMs: timing.storageCallTimeoutMs,
      onDamagedRecord: (versionId) => damagedRecords.add(versionId),
    }),
    damagedRecords,
    timing,
    call: options.signal ? { signal: options.signal } : {},
    nowMs: (options.now ?? Date.now)(),
    progress: options.onProgress ?? (() => undefined),
  };
}

/** The members in storage, as one reading judges them. */
export async function inspectMembers(options: InspectOptions): Promise<MemberReport[]> {
  const { storage, timing, call, nowMs } = reading(options);
  const observed = await storage.getEntry(NAMESPACES.gcObservations, 'members', call);
  // What it cannot read of them: those members judged by heartbeat age alone.
  const observations = observed ? observationsOf(observed) : new Map<string, Observation>();
  const reports: MemberReport[] = [];
  for (const entry of await listAllEntries(storage, NAMESPACES.members, call)) {
    const member = decodeMember(entry.value);
    if (!member) continue;
    const deadAfterMs = member.deadAfterMs ?? options.deadAfterMs ?? 10_000;
    const boundMs = deadAfterMs + timing.maxClockSkewMs;
    const seen = observations.get(member.nodeId);
    const unchangedSinceMs = seen?.seq === member.seq ? seen.sinceMs : nowMs;
    const heartbeatAgeMs = Math.max(0, nowMs - member.heartbeatAtMs);
    const dead = heartbeatAgeMs > boundMs || nowMs - unchangedSinceMs > boundMs;
    reports.push({
      nodeId: member.nodeId,
      url: member.url,
      state: dead ? 'dead' : 'live',
      seq: member.seq,
      heartbeatAtMs: member.heartbeatAtMs,
      heartbeatAgeMs,
      lowWaterMs: member.lowWaterMs,
      deadAfterMs,
      ...(member.fenced !== undefined && { fenced: member.fenced }),
    });
  }
  return reports;
}

/** Every commit record, with the progress of the listing. */
async function allRecords(read: Reading): Promise<CommitRecord[]> {
  const records: CommitRecord[] = [];
  for (let after: string | undefined; ; ) {
    const page = await read.storage.listCommitRecords(after, { limit: PAGE, ...read.call });
    if (page.length === 0) return records;
    records.push(...page);
    read.progress({ phase: 'records', done: records.length });
    after = page[page.length - 1]!.versionId;
  }
}

async function lowWater(
  read: Reading,
  options: InspectOptions,
): Promise<{ lowWaterMs: number; members: MemberReport[] }> {
  const members = await inspectMembers(options);
  const live = members.filter((member) => member.state === 'live');
  return { lowWaterMs: lowWaterOf(live, read.nowMs, read.timing), members };
}

/** Ids of versions GC deleted while their record stays, by record: `gc-collected` entries. */
async function collectedKeys(read: Reading): Promise<Map<string, Set<string>>> {
  const collected = new Map<string, Set<string>>();
  for (const entry of await listAllEntries(read.storage, NAMESPACES.gcCollected, read.call)) {
    // A damaged note says nothing (the collector deletes it at its next start).
    const keys = keysOfNote(entry.value);
    if (keys) collected.set(entry.id, new Set(keys));
  }
  return collected;
}

/** One key's versions in storage: committed, in flight, orphaned or aborted, with their state. */
export async function inspectKey(options: InspectOptions & { readonly key: string }): Promise<KeyReport> {
  const read = reading(options);
  const { storage, call, key } = { ...read, key: options.key };
  const { lowWaterMs } = await lowWater(read, options);
  const records = await allRecords(read);
  const markers = new Set(records.filter(isAbortMarker).map((record) => record.versionId));
  const committed = records.filter((record) => !isAbortMarker(record) && record.writeSet.includes(key));
  const collected = await collectedKeys(read);
  const ids = committed.map((record) => record.versionId);
  const below = collectableBelow(ids, lowWaterMs);
  const versions: KeyVersionReport[] = [];
  // A committed version not written yet is in its commit's intent (shim/intents.ts).
  const stored = async (versionId: string) =>
    (
      (await storage.getVersion({ key, versionId }, call)) ??
      (await valueFromIntent(storage, key, versionId, call))
    )?.byteLength;
  for (const [index, record] of committed.entries()) {
    const tombstone = record.deleted.includes(key);
    const bytes = tombstone ? undefined : await stored(record.versionId);
    const newest = index === committed.length - 1;
    const gone = !tombstone && (bytes === undefined || collected.get(record.versionId)?.has(key) === true);
    const state: VersionState = newest
      ? tombstone
        ? 'deleted'
        : 'visible'
      : gone
        ? 'collected'
        : 'superseded';
    versions.push({
      versionId: record.versionId,
      timeMs: timeOf(record.versionId),
      txid: record.txid,
      state,
      ...(bytes !== undefined && { bytes }),
      collectable: index < below && !tombstone && !gone,
    });
    read.progress({ phase: 'versions', done: index + 1, total: committed.length });
  }
  const committedIds = new Set(ids);
  for (const intent of await listAllEntries(storage, NAMESPACES.intents, call)) {
    if (committedIds.has(intent.id)) continue;
    // A damaged intent names no key (the collector leaves it, and counts it).
    if (keysOfIntent(intent.value)?.includes(key) !== true) continue;
    const timeMs = timeOf(intent.id);
    const past = read.nowMs - timeMs > orphanAfterMs(read.timing);
    const bytes = await stored(intent.id);
    versions.push({
      versionId: intent.id,
      timeMs,
      txid: parseVersionId(intent.id)?.txid ?? '',
      state: markers.has(intent.id) ? 'aborted' : past ? 'orphan' : 'in-flight',
      ...(bytes !== undefined && { bytes }),
      collectable: markers.has(intent.id) || past,
    });
  }
  versions.sort((a, b) => (a.versionId < b.versionId ? -1 : a.versionId > b.versionId ? 1 : 0));
  read.progress({ phase: 'done', done: 1, total: 1 });
  return { key, lowWaterMs, versions };
}

/** Counts of what the store holds, and what GC may delete now. */
export async function inspectStats(options: InspectOptions): Promise<StoreStats> {
  const read = reading(options);
  const { storage, call } = read;
  const { lowWaterMs, members } = await lowWater(read, options);
  const records = await allRecords(read);
  const collected = await collectedKeys(read);
  const byKey = new Map<string, CommitRecord[]>();
  let abortMarkers = 0;
  for (const record of records) {
    if (isAbortMarker(record)) {
      abortMarkers += 1;
      continue;
    }
    for (const key of record.writeSet) {
      const list = byKey.get(key);
      if (list) list.push(record);
      else byKey.set(key, [record]);
    }
  }
  let versions = 0;
  let deletedKeys = 0;
  let backlog = 0;
  for (const [key, list] of byKey) {
    const held = (record: CommitRecord) =>
      !record.deleted.includes(key) && !collected.get(record.versionId)?.has(key);
    versions += list.filter(held).length;
    if (list[list.length - 1]!.deleted.includes(key)) deletedKeys += 1;
    const below = collectableBelow(
      list.map((record) => record.versionId),
      lowWaterMs,
    );
    for (let index = 0; index < below; index += 1) if (held(list[index]!)) backlog += 1;
  }
  const count = async (namespace: string) => {
    let total = 0;
    for (let after: string | undefined; ; ) {
      const page = await storage.listEntries(namespace, { limit: PAGE, ...call, ...(after && { after }) });
      if (page.length === 0) return total;
      total += page.length;
      read.progress({ phase: 'entries', done: total });
      after = page[page.length - 1]!.id;
    }
  };
  // An intent whose id holds an abort marker is an orphan still: GC deletes its versions.
  // One whose record is damaged is not: GC leaves it.
  const recorded = new Set([
    ...records.filter((record) => !isAbortMarker(record)).map((record) => record.versionId),
    ...read.damagedRecords,
  ]);
  const intents = await listAllEntries(storage, NAMESPACES.intents, call);
  const orphanIntents = intents.filter(
    (intent) => !recorded.has(intent.id) && read.nowMs - timeOf(intent.id) > orphanAfterMs(read.timing),
  ).length;
  const stats: StoreStats = {
    members: members.length,
    liveMembers: members.filter((member) => member.state === 'live').length,
    commitRecords: records.length - abortMarkers,
    abortMarkers,
    keys: byKey.size,
    deletedKeys,
    versions,
    intents: intents.length,
    idempotencyClaims: await count(NAMESPACES.idempotency),
    claims: await count(NAMESPACES.claims),
    lowWaterMs,
    gcBacklog: { versions: backlog, orphanIntents },
    damagedRecords: [...read.damagedRecords].sort(),
  };
  read.progress({ phase: 'done', done: 1, total: 1 });
  return stats;
}
