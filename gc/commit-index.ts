/**
 * What the collector knows of the commit records between passes (gc/collector.ts), so that a
 * pass costs what changed since the one before rather than every record in the outcome
 * retention. Without it every pass listed every record (15 minutes of them by default), built
 * every key's versions and walked them all, and under load ran back to back: in a profile of
 * the bench's CPU table a fifth of the node's busy time went there (bench/RESULTS.md).
 *
 * It holds the records listed so far (markers apart) whose keys are not all gone, each key's
 * versions that may still be collected (ascending), the keys with two or more of them (only
 * those can supersede), and, by version id alone, the records whose every key is gone, waiting
 * for the outcome retention. That last kind is most of what it holds under load (a record is
 * superseded within seconds and kept 15 minutes), so it is kept as its id: whole records, with
 * a Set of gone keys each, were ~600 bytes of live heap a commit, 1.2 GB at 15 minutes of
 * 2,200 commits a second (bench/RESULTS.md, "The collector's memory under load").
 *
 * Whatever it holds is a fact about storage that stays true (a record, once written, is never
 * rewritten; a version, once deleted, never comes back), so a pass may act on it however old
 * it is: a version it deletes has a newer one at or below the low water, a record it deletes
 * has all its keys gone. What it can miss is a record that landed behind what it listed (a
 * commit held in flight longer than the look-back, a clock further off): that only waits for
 * the next full listing, which lists every id every `fullListingEveryMs` and reads the records
 * it does not know. What another collector deleted meanwhile is not forgotten there: deleting
 * again is no error, and it drains as this collector's own deletes do (a node that lost the
 * lease starts afresh anyway, gc/rounds.ts).
 */
import type { CallOptions, CommitRecord, StorageAdapter } from '../adapters/contract.js';
import { insertSorted } from '../adapters/sorted.js';
import { isStrings, parseStoredJson } from '../adapters/stored-json.js';
import { isAbortMarker } from '../shim/commit-outcome.js';
import { versionIdFloor, versionTimeOf } from '../shim/ids.js';
import { COLLECTED_NAMESPACE } from '../shim/namespaces.js';

const PAGE = 1000;
/** Up to this many unknown ids in a page of a full listing are read one by one, not listed. */
const READ_ONE_BY_ONE = 16;
const NO_KEYS: readonly string[] = [];

/** Flags of a finished record (a number each, where a Set per fact cost an entry per fact). */
const Finished = {
  /** It has a `collected` note in storage, to delete with it. */
  noted: 1,
  /** It wrote no key (a read-only run under an idempotency key): it waits for the low water. */
  wroteNothing: 2,
} as const;

/** A record with keys not yet gone: what a pass needs of it. */
interface HeldRecord {
  readonly writeSet: readonly string[];
  readonly deleted: readonly string[];
  /** Its keys known gone (a `collected` note, this collector's deletes); none yet when undefined. */
  gone: Set<string> | undefined;
  noted: boolean;
}

/** The keys a `collected` note names, or undefined for one that is not a JSON array of strings. */
export function keysOfNote(value: Uint8Array): string[] | undefined {
  const keys = parseStoredJson(value);
  return isStrings(keys) ? keys : undefined;
}

export interface CommitIndexOptions {
  /** How often a pass lists every record id again, reading the records it does not know. @default 60000 */
  readonly fullListingEveryMs?: number;
}

export class CommitIndex {
  /** Committed records listed, not deleted here, with keys not all gone. */
  private readonly held = new Map<string, HeldRecord>();
  /** Records whose every key is gone (or that wrote none), with their `Finished` flags. */
  private readonly finished = new Map<string, number>();
  /** Version ids of abort markers listed and not deleted here. */
  private readonly markers = new Set<string>();
  /** Each key's versions not yet known gone, ascending; one alone as itself. */
  private readonly versionsByKey = new Map<string, string | string[]>();
  /** Keys with two or more versions: the only ones where one may supersede another. */
  private readonly keysToCheck = new Set<string>();
  /** The write sets of the records finished by this pass, for its notes; emptied as it ends. */
  private readonly finishedThisPass = new Map<string, readonly string[]>();
  /** The newest record id listed, where the next incremental listing goes on from. */
  private listedThrough: string | undefined;
  private fullListingAtMs = Number.NEGATIVE_INFINITY;
  private fullListingDue = false;
  private readonly fullListingEveryMs: number;

  constructor(options: CommitIndexOptions = {}) {
    this.fullListingEveryMs = options.fullListingEveryMs ?? 60_000;
  }

  /**
   * Whether the pass beginning at `nowMs` is a full listing: the first one, and one every
   * `fullListingEveryMs`.
   */
  startPass(nowMs: number): boolean {
    if (nowMs - this.fullListingAtMs < this.fullListingEveryMs) return false;
    this.fullListingAtMs = nowMs;
    this.fullListingDue = true;
    return true;
  }

  /** Forgets everything: the next pass lists every record (after a pass that failed halfway). */
  clear(): void {
    this.held.clear();
    this.finished.clear();
    this.markers.clear();
    this.versionsByKey.clear();
    this.keysToCheck.clear();
    this.finishedThisPass.clear();
    this.listedThrough = undefined;
    this.fullListingAtMs = Number.NEGATIVE_INFINITY;
  }

  /** How many committed records it knows (markers apart). */
  get size(): number {
    return this.held.size + this.finished.size;
  }

  /** Whether a committed record of this version id was listed and not deleted here. */
  has(versionId: string): boolean {
    return this.held.has(versionId) || this.finished.has(versionId);
  }

  private knows(versionId: string): boolean {
    return this.has(versionId) || this.markers.has(versionId);
  }

  /** A listed record or marker; one already known changes nothing. */
  private add(record: CommitRecord, gone?: readonly string[]): void {
    const { versionId, writeSet } = record;
    if (this.listedThrough === undefined || versionId > this.listedThrough) this.listedThrough = versionId;
    if (this.knows(versionId)) return;
    if (isAbortMarker(record)) {
      this.markers.add(versionId);
      return;
    }
    if (writeSet.length === 0 || (gone !== undefined && writeSet.every((key) => gone.includes(key)))) {
      this.finished.set(
        versionId,
        (gone === undefined ? 0 : Finished.noted) | (writeSet.length === 0 ? Finished.wroteNothing : 0),
      );
      return;
    }
    this.held.set(versionId, {
      writeSet,
      deleted: record.deleted.length === 0 ? NO_KEYS : record.deleted,
      gone: gone === undefined ? undefined : new Set(gone),
      noted: gone !== undefined,
    });
    for (const key of writeSet) {
      if (gone?.includes(key)) continue;
      const versions = this.versionsByKey.get(key);
      if (versions === undefined) {
        this.versionsByKey.set(key, versionId);
      } else if (typeof versions === 'string') {
        this.versionsByKey.set(key, versions < versionId ? [versions, versionId] : [versionId, versions]);
        this.keysToCheck.add(key);
      } else {
        insertSorted(versions, versionId);
      }
    }
  }

  /** Whether the version of `key` written by `versionId` is known gone (a tombstone, or collected). */
  isGone(versionId: string, key: string): boolean {
    if (this.finished.has(versionId)) return true;
    const record = this.held.get(versionId);
    return record !== undefined && (record.deleted.includes(key) || record.gone?.has(key) === true);
  }

  /** The keys where a version may be superseded, with their versions (ascending). */
  *candidates(): Generator<[string, readonly string[]]> {
    for (const key of this.keysToCheck) yield [key, this.versionsByKey.get(key) as string[]];
  }

  /**
   * The first `count` versions of `key` are gone (deleted by this pass or before): they leave
   * the key, and a record whose keys are all gone waits for its retention.
   */
  dropGone(key: string, count: number): void {
    const versions = this.versionsByKey.get(key);
    if (typeof versions !== 'object') return;
    for (const versionId of versions.splice(0, count)) {
      const record = this.held.get(versionId);
      if (!record) continue;
      record.gone ??= new Set();
      record.gone.add(key);
      if (record.gone.size < record.writeSet.length) continue;
      this.held.delete(versionId);
      this.finished.set(versionId, record.noted ? Finished.noted : 0);
      this.finishedThisPass.set(versionId, record.writeSet);
    }
    if (versions.length < 2) {
      this.keysToCheck.delete(key);
      if (versions.length === 1) this.versionsByKey.set(key, versions[0]!);
    }
  }

  /** The keys of a record known gone, for its `collected` note. */
  goneKeysOf(versionId: string): readonly string[] {
    const gone = this.held.get(versionId)?.gone;
    return gone ? [...gone] : (this.finishedThisPass.get(versionId) ?? NO_KEYS);
  }

  /** These records' `collected` notes are written. */
  markNoted(versionIds: readonly string[]): void {
    for (const versionId of versionIds) {
      const record = this.held.get(versionId);
      if (record) record.noted = true;
      const flags = this.finished.get(versionId);
      if (flags !== undefined) this.finished.set(versionId, flags | Finished.noted);
    }
  }

  /** Whether a record has a `collected` note in storage. */
  isNoted(versionId: string): boolean {
    const flags = this.finished.get(versionId);
    return flags !== undefined ? (flags & Finished.noted) !== 0 : this.held.get(versionId)?.noted === true;
  }

  /**
   * The records whose keys are all gone, of a version time before `beforeMs`, that `mayGo`
   * lets go (told whether the record wrote any key); the others stay for a later pass.
   */
  finishedBefore(beforeMs: number, mayGo: (versionId: string, wroteKeys: boolean) => boolean): string[] {
    const ready: string[] = [];
    for (const [versionId, flags] of this.finished) {
      if (versionTimeOf(versionId) < beforeMs && mayGo(versionId, (flags & Finished.wroteNothing) === 0))
        ready.push(versionId);
    }
    return ready;
  }

  /** The abort markers of a version time before `beforeMs` that `mayGo` lets go. */
  markersBefore(beforeMs: number, mayGo: (versionId: string) => boolean): string[] {
    return [...this.markers].filter((versionId) => versionTimeOf(versionId) < beforeMs && mayGo(versionId));
  }

  /**
   * Learns the records and markers it does not know. A first listing (or one after `clear`)
   * reads the `collected` notes and then every record; a later pass lists those past the newest
   * listed, then the ids behind it, reading only those it does not know: every id on a full
   * listing, else those landed up to `lookBackMs` behind it. Resolves with the ids of notes
   * whose record is gone (a collector stopped between deleting the two), found by a first
   * listing, for the pass to delete.
   */
  async listNew(storage: StorageAdapter, lookBackMs: number, call: CallOptions): Promise<string[]> {
    const listedBefore = this.listedThrough;
    const full = this.fullListingDue;
    this.fullListingDue = false;
    if (listedBefore === undefined) return this.listFirst(storage, call);
    // Those past the newest listed, page by page (an engine may answer a short page, which a
    // page of ids would not show), then the ids behind it: from the first on a full listing.
    await this.listAfter(storage, listedBefore, call);
    const lookBackFrom = full ? undefined : versionIdFloor(versionTimeOf(listedBefore) - lookBackMs);
    await this.listUnknown(storage, lookBackFrom, listedBefore, call);
    return [];
  }

  /**
   * Every record, each with what its note says is gone: a record whose keys are all gone is
   * kept as its id from the start, never whole. The notes are read first, all of them (one
   * call on Redis and the in-process store): a transient of the outcome retention's notes, once
   * per collector start or lease taken over.
   */
  private async listFirst(storage: StorageAdapter, call: CallOptions): Promise<string[]> {
    const notes = new Map<string, readonly string[]>();
    const damaged: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await storage.listEntries(COLLECTED_NAMESPACE, { ...call, ...(after && { after }) });
      if (page.length === 0) break;
      for (const { id, value } of page) {
        const keys = keysOfNote(value);
        if (keys) notes.set(id, keys);
        else damaged.push(id);
      }
      after = page[page.length - 1]!.id;
    }
    // A note it cannot read only costs deleting again what it named (which is no error): it
    // goes now, before this pass may write the record's note anew. (It stopped every pass.)
    if (damaged.length > 0) await storage.deleteEntries(COLLECTED_NAMESPACE, damaged, call);
    await this.listAfter(storage, undefined, call, notes);
    return [...notes.keys()].filter((versionId) => !this.has(versionId));
  }

  /**
   * Learns every record and marker past `after` (up to `through` at least, when given: the
   * listing stops at the first page that reaches it), page by page.
   */
  private async listAfter(
    storage: StorageAdapter,
    after: string | undefined,
    call: CallOptions,
    notes?: ReadonlyMap<string, readonly string[]>,
    through?: string,
  ): Promise<void> {
    for (let cursor = after; ; ) {
      const page = await storage.listCommitRecords(cursor, { limit: PAGE, ...call });
      // A short page is not the end (the contract allows them): only an empty one is.
      if (page.length === 0) return;
      for (const record of page) this.add(record, notes?.get(record.versionId));
      cursor = page[page.length - 1]!.versionId;
      if (through !== undefined && cursor >= through) return;
    }
  }

  /**
   * Learns the records past `from` (from the first when undefined) and up to `through` it does
   * not know: those that landed after the listing that went past them (a commit in flight then,
   * a clock behind). Only their ids are listed; a page with a few unknown ones reads those, a
   * page with more lists its records.
   */
  private async listUnknown(
    storage: StorageAdapter,
    from: string | undefined,
    through: string,
    call: CallOptions,
  ): Promise<void> {
    for (let cursor = from; ; ) {
      const ids = await storage.listCommitRecordIds(cursor, { limit: PAGE, ...call });
      if (ids.length === 0) return;
      const unknown = ids.filter((versionId) => versionId <= through && !this.knows(versionId));
      const last = ids[ids.length - 1]!;
      if (unknown.length > READ_ONE_BY_ONE) {
        // The page's records, in as many pages as the engine answers them.
        await this.listAfter(storage, cursor, call, undefined, last);
      } else {
        for (const versionId of unknown) {
          const record = await storage.getCommitRecord(versionId, call);
          // Listed ids may name records deleted since, or not written yet.
          if (record) this.add(record);
        }
      }
      if (last >= through) return;
      cursor = last;
    }
  }

  /** The pass ends, having deleted these records and markers (its notes are written). */
  endPass(deleted: readonly string[]): void {
    for (const versionId of deleted) {
      this.finished.delete(versionId);
      this.markers.delete(versionId);
    }
    this.finishedThisPass.clear();
  }
}
