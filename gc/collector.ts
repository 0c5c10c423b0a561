/**
 * Global garbage collection (protocol.md §8): one pass deletes from storage the versions no
 * live node can still serve, orphan versions of commits that never wrote their record, and
 * then the commit records of fully collected transactions.
 *
 * Safety. Every live node publishes a low-water mark L: each transaction running on it
 * began knowing every commit with a version time up to L. A running transaction never reads
 * a key below the newest version it knew at its start (shim/local-gc.ts), so a version u of
 * key k is unneeded by every running transaction, anywhere, once a newer version v of k has
 * a version time at or below the least L of the live nodes. Nodes register (with L = 0)
 * before they load their metadata, and a node that cannot heartbeat stops serving before it
 * can be counted dead, so no transaction escapes the minimum. New transactions know v too.
 * Commit records go last, and only when every key they wrote is collected.
 */
import type { CommitRecord, StorageAdapter, VersionRef } from '../adapters/contract.js';
import { INTENTS_NAMESPACE } from '../shim/commit.js';
import {
  claimSettledAfterMs,
  decodeClaim,
  encodeClaim,
  epochOfClaimId,
  IDEMPOTENCY_NAMESPACE,
  markCommitted,
} from '../shim/idempotency.js';
import { parseVersionId } from '../shim/ids.js';
import { decodeMember, MEMBERS_NAMESPACE } from '../shim/membership.js';
import { DEFAULT_TIMING, orphanAfterMs, pullOverlapMs, type Timing } from '../shim/timing.js';

export interface CollectorOptions {
  readonly storage: StorageAdapter;
  /** Most versions one pass deletes (orphans included). @default 10000 */
  readonly maxDeletes?: number;
  /** @default 10000 */
  readonly deadAfterMs?: number;
  readonly timing?: Partial<Timing>;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: GcProgress) => void;
}

export type GcPhase = 'members' | 'listing' | 'versions' | 'orphans' | 'claims' | 'records' | 'done';

export interface GcProgress {
  readonly phase: GcPhase;
  readonly done: number;
  readonly total: number;
}

export interface GcReport {
  /** Live nodes whose low-water marks bounded the pass. */
  readonly liveNodes: number;
  /** Versions whose version time is at or below this may supersede others. */
  readonly lowWaterMs: number;
  readonly commitRecords: number;
  readonly versionsDeleted: number;
  readonly orphanVersionsDeleted: number;
  readonly recordsDeleted: number;
  readonly intentsDeleted: number;
  /** Idempotency claims deleted: those of epochs that ended over a time-to-live ago. */
  readonly claimsDeleted: number;
  /** Collectable versions left for the next pass (the per-pass bound was reached). */
  readonly backlog: number;
}

/**
 * Keys already collected of records that must stay (another key they wrote is still
 * current): id = version id, value = JSON array of keys. Without it every pass would delete
 * those versions again and spend its budget on them.
 */
export const COLLECTED_NAMESPACE = 'gc-collected';

const PAGE = 1000;
const textEncoder = new TextEncoder();
const DELETE_BATCH = 500;
const textDecoder = new TextDecoder();

const versionTime = (versionId: string): number => parseVersionId(versionId)?.physicalMs ?? 0;

export async function collectGarbage(options: CollectorOptions): Promise<GcReport> {
  const { storage, signal } = options;
  const timing = { ...DEFAULT_TIMING, ...options.timing };
  const now = options.now ?? Date.now;
  const maxDeletes = options.maxDeletes ?? 10_000;
  const deadAfterMs = options.deadAfterMs ?? 10_000;
  const progress = options.onProgress ?? (() => undefined);
  const startedMs = now();
  const call = signal ? { signal } : {};

  // 1. The least low-water mark of the live nodes; with none, every record old enough to
  //    have surely landed is known to any node that starts later.
  progress({ phase: 'members', done: 0, total: 1 });
  let lowWaterMs = startedMs - pullOverlapMs(timing);
  let liveNodes = 0;
  for (const entry of await storage.listEntries(MEMBERS_NAMESPACE, call)) {
    const member = decodeMember(entry.value);
    if (!member) continue;
    if (startedMs - member.heartbeatAtMs > deadAfterMs + timing.maxClockSkewMs) continue;
    liveNodes += 1;
    lowWaterMs = Math.min(lowWaterMs, member.lowWaterMs);
  }

  // 2. Every commit record: the versions of each key, in order.
  const records = new Map<string, CommitRecord>();
  const versionsByKey = new Map<string, string[]>();
  for (let after: string | undefined; ; ) {
    const page = await storage.listCommitRecords(after, { limit: PAGE, ...call });
    for (const record of page) {
      records.set(record.versionId, record);
      for (const key of record.writeSet) {
        const versions = versionsByKey.get(key) ?? [];
        versions.push(record.versionId);
        versionsByKey.set(key, versions);
      }
    }
    progress({ phase: 'listing', done: records.size, total: records.size });
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.versionId;
  }

  // 3. A version is collectable when a newer version of its key is at or below the low water.
  const alreadyCollected = new Map<string, Set<string>>();
  for (const entry of await storage.listEntries(COLLECTED_NAMESPACE, call)) {
    alreadyCollected.set(entry.id, new Set(JSON.parse(textDecoder.decode(entry.value)) as string[]));
  }
  const newlyCollected = new Map<string, string[]>();
  const collectableKeys = new Map<string, number>();
  const toDelete: VersionRef[] = [];
  let backlog = 0;
  for (const [key, versions] of versionsByKey) {
    let supersededBelow = -1;
    for (let index = versions.length - 1; index > 0; index -= 1) {
      if (versionTime(versions[index]!) <= lowWaterMs) {
        supersededBelow = index;
        break;
      }
    }
    for (let index = 0; index < supersededBelow; index += 1) {
      const versionId = versions[index]!;
      const gone = records.get(versionId)!.deleted.includes(key) || alreadyCollected.get(versionId)?.has(key);
      if (!gone && toDelete.length >= maxDeletes) {
        backlog += 1;
        continue;
      }
      if (!gone) {
        toDelete.push({ key, versionId });
        newlyCollected.set(versionId, [...(newlyCollected.get(versionId) ?? []), key]);
      }
      collectableKeys.set(versionId, (collectableKeys.get(versionId) ?? 0) + 1);
    }
  }
  let versionsDeleted = 0;
  for (let i = 0; i < toDelete.length; i += DELETE_BATCH) {
    const batch = toDelete.slice(i, i + DELETE_BATCH);
    await storage.deleteVersions(batch, call);
    versionsDeleted += batch.length;
    progress({ phase: 'versions', done: versionsDeleted, total: toDelete.length });
  }

  // 4. Orphans: intents of commits that wrote no record before no record could land any more.
  let orphanVersionsDeleted = 0;
  const settledIntents: string[] = [];
  const intents = await storage.listEntries(INTENTS_NAMESPACE, call);
  for (const intent of intents) {
    if (startedMs - versionTime(intent.id) <= orphanAfterMs(timing)) continue;
    if (!records.has(intent.id) && !(await storage.getCommitRecord(intent.id, call))) {
      if (versionsDeleted + orphanVersionsDeleted >= maxDeletes) {
        backlog += 1;
        continue;
      }
      const { keys } = JSON.parse(textDecoder.decode(intent.value)) as { keys: string[] };
      await storage.deleteVersions(
        keys.map((key) => ({ key, versionId: intent.id })),
        call,
      );
      orphanVersionsDeleted += keys.length;
    }
    settledIntents.push(intent.id);
    progress({ phase: 'orphans', done: settledIntents.length, total: intents.length });
  }
  if (settledIntents.length > 0) {
    await storage.deleteEntries(INTENTS_NAMESPACE, settledIntents, call);
  }

  // 5. Idempotency claims: old epochs go; the outcome of each settled claim is written into
  //    it before step 6 may delete its commit record (shim/idempotency.ts).
  progress({ phase: 'claims', done: 0, total: 1 });
  const claims = await settleIdempotencyClaims(storage, records, startedMs, timing, call);

  // 6. Records last, once every key they wrote is collected. Keys left for the next pass
  //    were not counted, so such a record stays until they are gone.
  const deletableRecords = [...collectableKeys]
    .filter(([versionId, count]) => count === records.get(versionId)?.writeSet.length)
    .map(([versionId]) => versionId);
  // A record that wrote no key (a read-only run recorded under an idempotency key) supersedes
  // nothing and is superseded by nothing: it goes once below the low water, its claim settled.
  for (const [versionId, record] of records) {
    if (record.writeSet.length === 0 && versionTime(versionId) <= lowWaterMs)
      deletableRecords.push(versionId);
  }
  // Records that stay remember which of their keys are gone, for the next passes.
  const staying = new Set(deletableRecords);
  for (const [versionId, keys] of newlyCollected) {
    if (staying.has(versionId)) continue;
    const all = [...(alreadyCollected.get(versionId) ?? []), ...keys];
    await storage.putEntry(COLLECTED_NAMESPACE, versionId, textEncoder.encode(JSON.stringify(all)), call);
  }
  let recordsDeleted = 0;
  for (let i = 0; i < deletableRecords.length; i += DELETE_BATCH) {
    const batch = deletableRecords.slice(i, i + DELETE_BATCH);
    await storage.deleteCommitRecords(batch, call);
    recordsDeleted += batch.length;
    progress({ phase: 'records', done: recordsDeleted, total: deletableRecords.length });
  }
  const finished = deletableRecords.filter((versionId) => alreadyCollected.has(versionId));
  // Notes of records that are gone (or whose record another collector deleted) go last.
  for (const versionId of alreadyCollected.keys()) if (!records.has(versionId)) finished.push(versionId);
  if (finished.length > 0) await storage.deleteEntries(COLLECTED_NAMESPACE, finished, call);
  progress({ phase: 'done', done: 1, total: 1 });

  return {
    liveNodes,
    lowWaterMs,
    commitRecords: records.size,
    versionsDeleted,
    orphanVersionsDeleted,
    recordsDeleted,
    intentsDeleted: settledIntents.length,
    claimsDeleted: claims.deleted,
    backlog,
  };
}

/**
 * Marks committed the settled claims whose committer died before doing so (and abandoned the
 * dead ones, whose transaction never wrote its record), and deletes the claims of old epochs
 * (shim/idempotency.ts): an epoch's claims are all expired, and nobody reads or writes them
 * any more, once the epoch after it has ended too. A claim's epoch
 * length is its time-to-live (expiry minus version time), so this needs no configuration.
 * Safe to delete a record afterwards: a record this pass may delete has a version time below
 * the low-water mark, itself at least the record window back, so its claim is settled by now.
 */
async function settleIdempotencyClaims(
  storage: StorageAdapter,
  records: ReadonlyMap<string, CommitRecord>,
  startedMs: number,
  timing: Timing,
  call: { signal?: AbortSignal },
): Promise<{ deleted: number }> {
  let deleted = 0;
  for (let after: string | undefined; ; ) {
    const page = await storage.listEntries(IDEMPOTENCY_NAMESPACE, {
      limit: PAGE,
      ...call,
      ...(after && { after }),
    });
    const gone: string[] = [];
    for (const entry of page) {
      const claim = decodeClaim(entry.value);
      const epoch = epochOfClaimId(entry.id);
      if (!claim || epoch === undefined) {
        gone.push(entry.id);
        continue;
      }
      const ttlMs = claim.expiresAtMs - versionTime(claim.versionId);
      if (ttlMs > 0 && startedMs - timing.maxClockSkewMs >= (epoch + 2) * ttlMs) {
        gone.push(entry.id);
        continue;
      }
      if (claim.committed || claim.abandoned || startedMs <= claimSettledAfterMs(claim, timing)) continue;
      if (records.has(claim.versionId) || (await storage.getCommitRecord(claim.versionId, call))) {
        await markCommitted(entry.id, claim, storage, call);
      } else {
        // Dead: no record, and none can land any more. It stays until its epoch goes (deleting
        // it could leave a gap), marked so that lookups and later passes skip it unread.
        await storage.putEntry(
          IDEMPOTENCY_NAMESPACE,
          entry.id,
          encodeClaim({ ...claim, abandoned: true }),
          call,
        );
      }
    }
    if (gone.length > 0) await storage.deleteEntries(IDEMPOTENCY_NAMESPACE, gone, call);
    deleted += gone.length;
    if (page.length < PAGE) return { deleted };
    after = page[page.length - 1]!.id;
  }
}
