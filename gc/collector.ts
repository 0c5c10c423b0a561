/**
 * Global garbage collection (protocol.md §8): one pass writes the versions that committed
 * commits' intents still hold (shim/intents.ts), deletes from storage the versions no live
 * node can still serve, orphan versions of commits that never wrote their record, and then
 * the commit records of fully collected transactions.
 *
 * Safety. Every live node publishes a low-water mark L: each transaction running on it
 * began knowing every commit with a version time up to L. A running transaction never reads
 * a key below the newest version it knew at its start (shim/local-gc.ts), so a version u of
 * key k is unneeded by every running transaction, anywhere, once a newer version v of k has
 * a version time at or below the least L of the live nodes. Nodes register (with L = 0)
 * before they load their metadata, and a node that cannot heartbeat stops serving before it
 * can be counted dead, so no transaction escapes the minimum. New transactions know v too.
 * A member is counted dead only when this collector (or an earlier one, whose observations
 * are kept in storage) saw its heartbeat unchanged for longer than its own dead-after time:
 * no member's clock is compared with ours.
 *
 * Commit records go last, only when every key they wrote is collected, their intent is gone
 * and they are older than the outcome retention (a repeated commit is answered from them).
 * Orphan versions are deleted only after their record id holds an abort marker, so a late
 * record can never make them visible again (shim/commit-outcome.ts).
 */
import { appendAll } from '../adapters/append-all.js';
import type { CallOptions, Entry, StorageAdapter, VersionRef } from '../adapters/contract.js';
import { parseStoredJson } from '../adapters/stored-json.js';
import { decideUnlessDamaged } from '../shim/commit-outcome.js';
import { TicketState, ticketState } from '../shim/commit-tickets.js';
import { GuardedStorage } from '../shim/guarded-storage.js';
import {
  claimSettledAfterMs,
  decodeClaim,
  encodeClaim,
  epochOfClaimId,
  IDEMPOTENCY_NAMESPACE,
} from '../shim/idempotency.js';
import { versionTimeOf } from '../shim/ids.js';
import {
  decodeIntent,
  INTENTS_NAMESPACE,
  type Intent,
  spendsTickets,
  versionsOfIntent,
} from '../shim/intents.js';
import { decodeMember, MEMBERS_NAMESPACE, type MemberRecord } from '../shim/membership.js';
import { checkTiming, DEFAULT_TIMING, knownLagMs, orphanAfterMs, type Timing } from '../shim/timing.js';
import { CommitIndex } from './commit-index.js';

export interface CollectorOptions {
  /** The storage; guarded here unless it is already (shim/guarded-storage.ts). */
  readonly storage: StorageAdapter;
  /** Most versions one pass deletes (orphans included). @default 10000 */
  readonly maxDeletes?: number;
  /** The dead-after time of a member whose entry does not state its own. @default 10000 */
  readonly deadAfterMs?: number;
  readonly timing?: Partial<Timing>;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: GcProgress) => void;
  /**
   * A commit record that cannot be read was met (CommitRecord.damaged; the pass goes on past
   * it and leaves it). Only where the collector guards the storage itself: a storage guarded
   * already (a node's) reports to its own.
   */
  readonly onDamagedRecord?: (versionId: string) => void;
  /**
   * What the passes before learned of the records (gc/commit-index.ts), kept between the passes
   * of one collector: a pass then lists only the records new since the last one (and those
   * landed up to the clock skew behind it), and walks only the keys where one version may
   * supersede another, listing everything again every `fullListingEveryMs`. Without one, a
   * pass lists everything.
   */
  readonly index?: CommitIndex;
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
  /**
   * Intents it could not read (damaged in storage): left in place in the `intents` namespace,
   * with their records and versions, for an operator to look at.
   */
  readonly unreadableIntents: number;
  /** Idempotency claims deleted: those of epochs that ended over a time-to-live ago. */
  readonly claimsDeleted: number;
  /**
   * Refusals deleted: txids refused over the outcome retention ago (shim/intents.ts), and
   * refused commit tickets made over the marker retention ago (shim/commit-tickets.ts).
   */
  readonly refusalsDeleted: number;
  /** Abort markers written for commits judged dead, and markers deleted past their retention. */
  readonly markersWritten: number;
  readonly markersDeleted: number;
  /** Collectable versions left for the next pass (the per-pass bound was reached). */
  readonly backlog: number;
}

export { COLLECTED_NAMESPACE, OBSERVATIONS_NAMESPACE } from '../shim/namespaces.js';

import {
  COLLECTED_NAMESPACE,
  OBSERVATIONS_NAMESPACE,
  REFUSALS_NAMESPACE,
  TICKETS_NAMESPACE,
} from '../shim/namespaces.js';

const PAGE = 1000;
const textEncoder = new TextEncoder();
const DELETE_BATCH = 500;
const NOTES_PER_CALL = 500;

/**
 * The low-water mark of a pass: the least mark of the live members, and never later than the
 * known lag before now (a commit that far back has landed or can be marked).
 */
export function lowWaterOf(
  live: readonly { readonly lowWaterMs: number }[],
  nowMs: number,
  timing: Timing,
): number {
  let lowWaterMs = nowMs - knownLagMs(timing);
  for (const member of live) lowWaterMs = Math.min(lowWaterMs, member.lowWaterMs);
  return lowWaterMs;
}

/**
 * How many of a key's versions (ascending) GC may delete: those below the newest version
 * whose time is at or below the low water (every running transaction knew it at its start).
 */
export function collectableBelow(versions: readonly string[], lowWaterMs: number): number {
  // Ascending ids have ascending times, so the newest at or below the low water is found by
  // halving: under load a key holds a version per overwrite of the known lag, all above it.
  let found = 0;
  for (let low = 1, high = versions.length - 1; low <= high; ) {
    const middle = (low + high) >> 1;
    if (versionTimeOf(versions[middle]!) <= lowWaterMs) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

export async function collectGarbage(options: CollectorOptions): Promise<GcReport> {
  const { signal } = options;
  const timing = { ...DEFAULT_TIMING, ...options.timing };
  checkTiming(timing);
  // Every call through the one door: typed errors, a deadline each (shim/guarded-storage.ts).
  const storage = GuardedStorage.of(options.storage, {
    timeoutMs: timing.storageCallTimeoutMs,
    ...(options.onDamagedRecord && { onDamagedRecord: options.onDamagedRecord }),
  });
  const now = options.now ?? Date.now;
  const maxDeletes = options.maxDeletes ?? 10_000;
  const progress = options.onProgress ?? (() => undefined);
  const startedMs = now();
  const call = signal ? { signal } : {};

  // 1. The least low-water mark of the live nodes; with none, every commit that far back has
  //    landed or can be marked, and any node that starts later learns it.
  progress({ phase: 'members', done: 0, total: 1 });
  const live = await liveMembers(storage, now, options.deadAfterMs ?? 10_000, timing, call);
  const lowWaterMs = lowWaterOf(live, startedMs, timing);
  const liveNodes = live.length;

  // 2. The commit records: every one on a full listing, else those new since the last pass
  //    and those that landed late behind it (gc/commit-index.ts). Markers apart.
  const index = options.index ?? new CommitIndex();
  const pass = { storage, timing, maxDeletes, progress, startedMs, call, lowWaterMs, liveNodes };
  try {
    return await collectPass(pass, index, index.startPass(startedMs));
  } catch (error) {
    // Halfway, what the index holds may be ahead of storage or behind it: list all next time.
    index.clear();
    throw error;
  }
}

interface Pass {
  readonly storage: GuardedStorage;
  readonly timing: Timing;
  readonly maxDeletes: number;
  readonly progress: (progress: GcProgress) => void;
  readonly startedMs: number;
  readonly call: CallOptions;
  readonly lowWaterMs: number;
  readonly liveNodes: number;
}

/** Steps 2 to 8 of a pass, with what `index` knows (gc/commit-index.ts). */
async function collectPass(pass: Pass, index: CommitIndex, fullListing: boolean): Promise<GcReport> {
  const { storage, timing, maxDeletes, progress, startedMs, call, lowWaterMs, liveNodes } = pass;
  // Notes of records that are gone (found by a first listing) are deleted at the end.
  const notesOfGoneRecords = await index.listNew(storage, timing.maxClockSkewMs, call);
  progress({ phase: 'listing', done: index.size, total: index.size });

  // 3. Intents of committed transactions go, at any age, before their records may (a node
  //    settling intents reads a missing record as not yet landed). The versions a redo-log
  //    intent holds are written first (its committer died before writing them, or is about
  //    to): before this pass picks superseded versions, so none is written after its delete.
  //    An intent it cannot read (damaged in storage) stays, and so does its record: a pass
  //    that failed on one failed at every try after it.
  const settledIntents: string[] = [];
  const intentsLeft = new Set<string>();
  let unreadableIntents = 0;
  const unreadable = (intent: Entry): void => {
    unreadableIntents += 1;
    intentsLeft.add(intent.id);
  };
  const intents = await listAllEntries(storage, INTENTS_NAMESPACE, call);
  for (const intent of intents) {
    if (!index.has(intent.id)) continue;
    const decoded = decodeIntent(intent.value);
    if (!decoded) {
      unreadable(intent);
      continue;
    }
    await writeIntentVersions(storage, intent.id, decoded, call);
    settledIntents.push(intent.id);
  }

  // 4. A version is collectable when a newer version of its key is at or below the low water.
  const newlyCollected = new Map<string, string[]>();
  const toDelete: VersionRef[] = [];
  // Per key, how many of its first versions are gone once this pass's deletes are done.
  const goneAfterPass: [string, number][] = [];
  let backlog = 0;
  for (const [key, versions] of index.candidates()) {
    const below = collectableBelow(versions, lowWaterMs);
    let gonePrefix = 0;
    for (let position = 0; position < below; position += 1) {
      const versionId = versions[position]!;
      if (!index.isGone(versionId, key)) {
        if (toDelete.length >= maxDeletes) {
          backlog += 1;
          continue;
        }
        toDelete.push({ key, versionId });
        const keys = newlyCollected.get(versionId);
        if (keys) keys.push(key);
        else newlyCollected.set(versionId, [key]);
      }
      if (gonePrefix === position) gonePrefix = position + 1;
    }
    if (gonePrefix > 0) goneAfterPass.push([key, gonePrefix]);
  }
  let versionsDeleted = 0;
  for (let i = 0; i < toDelete.length; i += DELETE_BATCH) {
    const batch = toDelete.slice(i, i + DELETE_BATCH);
    await storage.deleteVersions(batch, call);
    versionsDeleted += batch.length;
    progress({ phase: 'versions', done: versionsDeleted, total: toDelete.length });
  }
  for (const [key, count] of goneAfterPass) index.dropGone(key, count);

  // 5. Orphans: intents of commits with no record this long after their version time are
  //    judged dead: the abort marker goes first, so no late record can follow, then the
  //    versions.
  let orphanVersionsDeleted = 0;
  let markersWritten = 0;
  for (const intent of intents) {
    if (index.has(intent.id)) continue;
    if (startedMs - versionTimeOf(intent.id) <= orphanAfterMs(timing)) {
      intentsLeft.add(intent.id);
      continue;
    }
    if (versionsDeleted + orphanVersionsDeleted >= maxDeletes) {
      backlog += 1;
      intentsLeft.add(intent.id);
      continue;
    }
    // Unread, its versions could be neither written nor deleted: it is left whole, unmarked.
    const decoded = decodeIntent(intent.value);
    if (!decoded) {
      unreadable(intent);
      continue;
    }
    const decided = await decideUnlessDamaged(storage, intent.id, call);
    // Its record id holds a record that cannot be read: neither writing its versions nor
    // deleting them can be decided. It stays whole, as an intent that cannot be read does.
    if (decided === undefined) {
      unreadable(intent);
      continue;
    }
    if (decided.state === 'committed') {
      // Its record landed since the listing: committed after all; its intent goes. (Not
      // listed above, its versions are no candidates of this pass.)
      await writeIntentVersions(storage, intent.id, decoded, call);
      settledIntents.push(intent.id);
      continue;
    }
    if (decided.created) markersWritten += 1;
    const { keys, values } = decoded;
    // An intent that holds the values had none written before a record (shim/intents.ts).
    if (keys.length > 0 && values === undefined) {
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

  // Steps 6 to 8 run on a full listing only (the first pass, then one a minute): the claims are
  // one namespace listed whole, every claim of two epochs (an hour each by default), which a
  // pass per transaction batch would read again and again; and the records they outlive wait
  // the outcome retention (15 min) anyway, so a minute more costs nothing.
  const claims = fullListing
    ? await settleIdempotencyClaims(storage, index, startedMs, timing, call, progress)
    : { deleted: 0, markersWritten: 0 };

  // 7. Refused txids (a commit written without an intent is refused while its txid is
  //    there): any such commit's deadline passed long before the outcome retention. Refused
  //    commit tickets (no clock refuses a write spending one late) stay as long as abort
  //    markers do.
  const refusalsDeleted = fullListing
    ? (await deleteOldRefusals(storage, startedMs - timing.outcomeRetentionMs, call)) +
      (await deleteOldRefusedTickets(storage, startedMs - timing.markerRetentionMs, call))
    : 0;

  // 8. Records last, once every key they wrote is collected (keys left for the next pass are
  //    not), only past the outcome retention (a repeated commit is answered from the record),
  //    and with no intent left (one is deleted first, above). A record that wrote no key (a
  //    read-only run recorded under an idempotency key) supersedes nothing and is superseded
  //    by nothing: it goes once below the low water too, its claim settled (step 6, this pass).
  const deletableRecords = fullListing
    ? index.finishedBefore(
        startedMs - timing.outcomeRetentionMs,
        (versionId, wroteKeys) =>
          !intentsLeft.has(versionId) && (wroteKeys || versionTimeOf(versionId) <= lowWaterMs),
      )
    : [];
  // Markers stay while a late record could still arrive (shim/timing.ts, markerRetentionMs).
  const expiredMarkers = fullListing
    ? index.markersBefore(startedMs - timing.markerRetentionMs, (versionId) => !intentsLeft.has(versionId))
    : [];
  appendAll(deletableRecords, expiredMarkers);
  // Records that stay remember which of their keys are gone, for a later full listing: one
  // note per record, NOTES_PER_CALL to a storage call (one at a time, a pass waited a round
  // trip per record, and on a busy node a turn of its event loop too).
  const staying = new Set(deletableRecords);
  const noting = [...newlyCollected.keys()].filter((versionId) => !staying.has(versionId));
  for (let i = 0; i < noting.length; i += NOTES_PER_CALL) {
    const batch = noting.slice(i, i + NOTES_PER_CALL);
    const notes = batch.map((versionId) => ({
      id: versionId,
      value: textEncoder.encode(JSON.stringify(index.goneKeysOf(versionId))),
    }));
    await storage.putEntries(COLLECTED_NAMESPACE, notes, call);
    index.markNoted(batch);
  }
  let recordsDeleted = 0;
  for (let i = 0; i < deletableRecords.length; i += DELETE_BATCH) {
    const batch = deletableRecords.slice(i, i + DELETE_BATCH);
    await storage.deleteCommitRecords(batch, call);
    recordsDeleted += batch.length;
    progress({ phase: 'records', done: recordsDeleted, total: deletableRecords.length });
  }
  // Notes of records that are gone (or whose record another collector deleted) go last.
  const finished = [
    ...deletableRecords.filter((versionId) => index.isNoted(versionId)),
    ...notesOfGoneRecords,
  ];
  if (finished.length > 0) await storage.deleteEntries(COLLECTED_NAMESPACE, finished, call);
  index.endPass(deletableRecords);
  progress({ phase: 'done', done: 1, total: 1 });

  return {
    liveNodes,
    lowWaterMs,
    commitRecords: index.size,
    versionsDeleted,
    orphanVersionsDeleted,
    recordsDeleted,
    intentsDeleted: settledIntents.length,
    unreadableIntents,
    claimsDeleted: claims.deleted,
    refusalsDeleted,
    markersWritten: markersWritten + claims.markersWritten,
    markersDeleted: expiredMarkers.length,
    backlog,
  };
}

/**
 * Deletes the refusals written before `beforeMs`; resolves with how many. One whose time it
 * cannot read stays: deleting it could let a late commit of a transaction judged dead land.
 */
async function deleteOldRefusals(
  storage: GuardedStorage,
  beforeMs: number,
  call: CallOptions,
): Promise<number> {
  const old = (await listAllEntries(storage, REFUSALS_NAMESPACE, call))
    .filter((entry) => {
      const atMs = refusedAtMs(entry.value);
      return atMs !== undefined && atMs < beforeMs;
    })
    .map((entry) => entry.id);
  if (old.length > 0) await storage.deleteEntries(REFUSALS_NAMESPACE, old, call);
  return old.length;
}

/** Deletes the refused commit tickets made before `beforeMs`; resolves with how many. */
async function deleteOldRefusedTickets(
  storage: GuardedStorage,
  beforeMs: number,
  call: CallOptions,
): Promise<number> {
  if (!spendsTickets(storage)) return 0;
  const old = (await listAllEntries(storage, TICKETS_NAMESPACE, call))
    .filter(({ id, value }) => versionTimeOf(id) < beforeMs && ticketState(value) === TicketState.refused)
    .map(({ id }) => id);
  if (old.length > 0) await storage.deleteEntries(TICKETS_NAMESPACE, old, call);
  return old.length;
}

/**
 * The collectors' observations of the members (`gc-observations/members`), each one that
 * reads as one: a damaged entry, or a damaged part of one, counts as not observed.
 */
export function observationsOf(value: Uint8Array): Map<string, Observation> {
  const observations = new Map<string, Observation>();
  const parsed = parseStoredJson(value);
  if (typeof parsed !== 'object' || parsed === null) return observations;
  for (const [nodeId, observation] of Object.entries(parsed)) {
    const { seq, sinceMs } = (observation ?? {}) as { seq?: unknown; sinceMs?: unknown };
    if (Number.isFinite(seq) && Number.isFinite(sinceMs))
      observations.set(nodeId, { seq: seq as number, sinceMs: sinceMs as number });
  }
  return observations;
}

/** When a refusal was written (shim/namespaces.ts, `refusals`), or undefined if it does not say. */
function refusedAtMs(value: Uint8Array): number | undefined {
  const atMs = (parseStoredJson(value) as { atMs?: unknown } | null | undefined)?.atMs;
  return typeof atMs === 'number' && Number.isFinite(atMs) ? atMs : undefined;
}

/** Writes the versions a committed commit's redo-log intent holds (none for keys only). */
async function writeIntentVersions(
  storage: GuardedStorage,
  versionId: string,
  intent: Intent,
  call: CallOptions,
): Promise<void> {
  const versions = versionsOfIntent(versionId, intent);
  if (versions.length > 0) await storage.putVersions(versions, call);
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
  storage: GuardedStorage,
  records: { has(versionId: string): boolean },
  startedMs: number,
  timing: Timing,
  call: { signal?: AbortSignal },
  progress: (progress: GcProgress) => void,
): Promise<{ deleted: number; markersWritten: number }> {
  // 6. Idempotency claims: old epochs go; the outcome of each settled claim is written into
  //    it before step 8 may delete its commit record (shim/idempotency.ts).
  progress({ phase: 'claims', done: 0, total: 1 });
  let deleted = 0;
  let markersWritten = 0;
  for (let after: string | undefined; ; ) {
    const page = await storage.listEntries(IDEMPOTENCY_NAMESPACE, {
      limit: PAGE,
      ...call,
      ...(after && { after }),
    });
    if (page.length === 0) return { deleted, markersWritten };
    const gone: string[] = [];
    // What this page settled, written in one batch (a write per claim took a round trip each).
    const settled: Entry[] = [];
    for (const entry of page) {
      const claim = decodeClaim(entry.value);
      const epoch = epochOfClaimId(entry.id);
      if (!claim || epoch === undefined) {
        gone.push(entry.id);
        continue;
      }
      const ttlMs = claim.expiresAtMs - versionTimeOf(claim.versionId);
      if (ttlMs > 0 && startedMs - timing.maxClockSkewMs >= (epoch + 2) * ttlMs) {
        gone.push(entry.id);
        continue;
      }
      // Settled from the instant its settle time has passed (strictly after, as lookups judge).
      if (claim.committed || claim.abandoned || startedMs <= claimSettledAfterMs(claim, timing)) continue;
      const listed = records.has(claim.versionId);
      const decided = listed ? undefined : await decideUnlessDamaged(storage, claim.versionId, call);
      // A claim whose record cannot be read is left unsettled: its lookups answer 503 for it.
      if (!listed && decided === undefined) continue;
      if (decided === undefined || decided.state === 'committed') {
        // Only ever true, so a blind write is safe (shim/idempotency.ts, markCommitted).
        settled.push({ id: entry.id, value: encodeClaim({ ...claim, committed: true }) });
      } else {
        if (decided.created) markersWritten += 1;
        // Dead: its record id holds a marker. It stays until its epoch goes (deleting it could
        // leave a gap), marked so that lookups and later passes skip it unread.
        settled.push({ id: entry.id, value: encodeClaim({ ...claim, abandoned: true }) });
      }
    }
    // Before the records may go (step 8), as each write was before.
    await storage.putEntries(IDEMPOTENCY_NAMESPACE, settled, call);
    if (gone.length > 0) await storage.deleteEntries(IDEMPOTENCY_NAMESPACE, gone, call);
    deleted += gone.length;
    after = page[page.length - 1]!.id;
  }
}

/**
 * Every entry of a namespace, page by page until an empty page. No limit is asked, since all
 * of it is kept anyway: each engine answers the pages it likes (DynamoDB 1 MB, S3 1,000 keys,
 * Redis and the in-process store all at once), in as few calls as it can.
 */
export async function listAllEntries(
  storage: StorageAdapter,
  namespace: string,
  call: { signal?: AbortSignal },
): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (let after: string | undefined; ; ) {
    const page = await storage.listEntries(namespace, { ...call, ...(after && { after }) });
    if (page.length === 0) return entries;
    appendAll(entries, page);
    after = page[page.length - 1]!.id;
  }
}

export interface Observation {
  readonly seq: number;
  readonly sinceMs: number;
}

/**
 * The members this collector may not count dead, and its observations saved for the next
 * pass. A member is dead when an earlier observation saw its current sequence number more
 * than its own dead-after time (plus the clock skew, as that observation may be another
 * collector's) before this listing began. A member seen for the first time is live.
 */
async function liveMembers(
  storage: StorageAdapter,
  now: () => number,
  defaultDeadAfterMs: number,
  timing: Timing,
  call: { signal?: AbortSignal },
): Promise<MemberRecord[]> {
  const saved = await storage.getEntry(OBSERVATIONS_NAMESPACE, 'members', call);
  // What it cannot read (damaged in storage) counts as not observed: those members live.
  const previous = saved ? observationsOf(saved) : new Map<string, Observation>();
  const live: MemberRecord[] = [];
  const observed: Record<string, Observation> = {};
  const startedMs = now();
  const entries = await listAllEntries(storage, MEMBERS_NAMESPACE, call);
  // A heartbeat first seen in this listing had landed, so was sent, before it answered.
  const listedMs = now();
  for (const entry of entries) {
    const member = decodeMember(entry.value);
    if (!member) continue;
    const before = previous.get(member.nodeId);
    const sinceMs = before?.seq === member.seq ? before.sinceMs : listedMs;
    observed[member.nodeId] = { seq: member.seq, sinceMs };
    const deadAfterMs = member.deadAfterMs ?? defaultDeadAfterMs;
    if (startedMs - sinceMs > deadAfterMs + timing.maxClockSkewMs) continue;
    live.push(member);
  }
  await storage.putEntry(
    OBSERVATIONS_NAMESPACE,
    'members',
    textEncoder.encode(JSON.stringify(observed)),
    call,
  );
  return live;
}
