/**
 * What the collector knows of the commit records between passes (gc/collector.ts), so that a
 * pass costs what changed since the one before rather than every record in the outcome
 * retention. Without it every pass listed every record (15 minutes of them by default), built
 * every key's versions and walked them all, and under load ran back to back: in a profile of
 * the bench's CPU table a fifth of the node's busy time went there (bench/RESULTS.md).
 *
 * It holds the records listed so far (markers apart), each key's versions that may still be
 * collected (ascending), the keys with two or more of them (only those can supersede), and the
 * records whose every key is gone, by version id, waiting for the outcome retention. Whatever
 * it holds is a fact about storage that stays true (a record, once written, is never rewritten;
 * a version, once deleted, never comes back), so a pass may act on it however old it is: a
 * version it deletes has a newer one at or below the low water, a record it deletes has all its
 * keys gone. What it can miss is a record that landed behind what it listed (a commit held in
 * flight longer than the look-back, a clock further off): that only waits for the next full
 * listing, as the index lists everything again every `fullListingEveryMs`.
 */
import type { CallOptions, CommitRecord, StorageAdapter } from '../adapters/contract.js';
import { insertSorted } from '../adapters/sorted.js';
import { isAbortMarker } from '../shim/commit-outcome.js';
import { versionIdFloor, versionTimeOf } from '../shim/ids.js';

const PAGE = 1000;

export interface CommitIndexOptions {
  /** How often a pass lists every record again. @default 60000 */
  readonly fullListingEveryMs?: number;
}

export class CommitIndex {
  /** Committed records listed and not deleted here. */
  readonly records = new Map<string, CommitRecord>();
  /** Version ids of abort markers listed and not deleted here. */
  readonly markers = new Set<string>();
  /** Each key's versions not yet known gone, ascending. */
  private readonly versionsByKey = new Map<string, string[]>();
  /** Keys with two or more versions: the only ones where one may supersede another. */
  private readonly keysToCheck = new Set<string>();
  /** Each record's keys known gone (from the `collected` notes read, and this collector's deletes). */
  readonly goneKeys = new Map<string, Set<string>>();
  /** Records that have a `collected` note in storage. */
  readonly noted = new Set<string>();
  /**
   * Records whose every key is gone (or that wrote none). Only a full listing's pass deletes
   * records (gc/collector.ts, step 8), and it lists everything anyway, so a set to scan then
   * is enough: no order is kept between passes.
   */
  private readonly finished = new Set<string>();
  /** The newest record id listed, where the next incremental listing goes on from. */
  private listedThrough: string | undefined;
  private fullListingAtMs = Number.NEGATIVE_INFINITY;
  private readonly fullListingEveryMs: number;

  constructor(options: CommitIndexOptions = {}) {
    this.fullListingEveryMs = options.fullListingEveryMs ?? 60_000;
  }

  /**
   * Whether the pass beginning at `nowMs` must list every record: the first one, and one every
   * `fullListingEveryMs`. Such a pass starts from nothing, so it also forgets whatever another
   * collector deleted meanwhile.
   */
  startPass(nowMs: number): boolean {
    if (nowMs - this.fullListingAtMs < this.fullListingEveryMs) return false;
    this.clear();
    this.fullListingAtMs = nowMs;
    return true;
  }

  /** Forgets everything: the next pass lists every record (after a pass that failed halfway). */
  clear(): void {
    this.records.clear();
    this.markers.clear();
    this.versionsByKey.clear();
    this.keysToCheck.clear();
    this.goneKeys.clear();
    this.noted.clear();
    this.finished.clear();
    this.listedThrough = undefined;
    this.fullListingAtMs = Number.NEGATIVE_INFINITY;
  }

  private knows(versionId: string): boolean {
    return this.records.has(versionId) || this.markers.has(versionId);
  }

  /** A listed record or marker; one already known changes nothing. */
  private add(record: CommitRecord, isMarker: boolean): void {
    if (this.listedThrough === undefined || record.versionId > this.listedThrough)
      this.listedThrough = record.versionId;
    if (this.knows(record.versionId)) return;
    if (isMarker) {
      this.markers.add(record.versionId);
      return;
    }
    this.records.set(record.versionId, record);
    if (record.writeSet.length === 0) this.finished.add(record.versionId);
    for (const key of record.writeSet) {
      const versions = this.versionsByKey.get(key);
      if (!versions) {
        this.versionsByKey.set(key, [record.versionId]);
        continue;
      }
      insertSorted(versions, record.versionId);
      this.keysToCheck.add(key);
    }
  }

  /** A `collected` note read at a full listing: these keys of the record are gone. */
  addNote(versionId: string, keys: readonly string[]): void {
    this.noted.add(versionId);
    this.goneKeys.set(versionId, new Set(keys));
  }

  /** Whether the version of `key` written by `versionId` is known gone (a tombstone, or collected). */
  isGone(versionId: string, key: string): boolean {
    return (
      this.records.get(versionId)?.deleted.includes(key) === true ||
      this.goneKeys.get(versionId)?.has(key) === true
    );
  }

  /** The keys where a version may be superseded, with their versions (ascending). */
  *candidates(): Generator<[string, readonly string[]]> {
    for (const key of this.keysToCheck) yield [key, this.versionsByKey.get(key)!];
  }

  /**
   * The first `count` versions of `key` are gone (deleted by this pass or before): they leave
   * the key, and a record whose keys are all gone waits for its retention.
   */
  dropGone(key: string, count: number): void {
    const versions = this.versionsByKey.get(key);
    if (!versions) return;
    for (const versionId of versions.splice(0, count)) {
      const record = this.records.get(versionId);
      if (!record) continue;
      let gone = this.goneKeys.get(versionId);
      if (!gone) {
        gone = new Set();
        this.goneKeys.set(versionId, gone);
      }
      gone.add(key);
      if (gone.size === record.writeSet.length) this.finished.add(versionId);
    }
    if (versions.length < 2) this.keysToCheck.delete(key);
  }

  /**
   * The records whose keys are all gone, of a version time before `beforeMs`, that `mayGo`
   * lets go; the others stay for a later pass.
   */
  finishedBefore(beforeMs: number, mayGo: (record: CommitRecord) => boolean): string[] {
    const ready: string[] = [];
    for (const versionId of this.finished) {
      const record = this.records.get(versionId);
      if (record && versionTimeOf(versionId) < beforeMs && mayGo(record)) ready.push(versionId);
    }
    return ready;
  }

  /**
   * Learns the records and markers past the newest listed (all of them after a full
   * listing's `clear`), then those landed since up to `lookBackMs` behind it.
   */
  async listNew(storage: StorageAdapter, lookBackMs: number, call: CallOptions): Promise<void> {
    const listedBefore = this.listedThrough;
    await this.listAfter(storage, listedBefore, call);
    if (listedBefore === undefined) return;
    await this.listLate(
      storage,
      versionIdFloor(versionTimeOf(listedBefore) - lookBackMs),
      listedBefore,
      call,
    );
  }

  /** Learns every record and marker past `after`, page by page. */
  private async listAfter(
    storage: StorageAdapter,
    after: string | undefined,
    call: CallOptions,
  ): Promise<void> {
    for (let cursor = after; ; ) {
      const page = await storage.listCommitRecords(cursor, { limit: PAGE, ...call });
      // A short page is not the end (the contract allows them): only an empty one is.
      if (page.length === 0) return;
      for (const record of page) this.add(record, isAbortMarker(record));
      cursor = page[page.length - 1]!.versionId;
    }
  }

  /**
   * Learns the records past `from` and up to `through` it does not know: those that landed
   * after the listing that went past them (a commit in flight then, a clock behind). Only
   * their ids are listed; the few unknown ones are read.
   */
  private async listLate(
    storage: StorageAdapter,
    from: string,
    through: string,
    call: CallOptions,
  ): Promise<void> {
    for (let cursor = from; ; ) {
      const ids = await storage.listCommitRecordIds(cursor, { limit: PAGE, ...call });
      if (ids.length === 0) return;
      for (const versionId of ids) {
        if (versionId > through) return;
        if (this.knows(versionId)) continue;
        const record = await storage.getCommitRecord(versionId, call);
        // Listed ids may name records deleted since, or not written yet.
        if (record) this.add(record, isAbortMarker(record));
      }
      cursor = ids[ids.length - 1]!;
    }
  }

  /** Records and markers deleted by this pass. */
  forget(versionIds: readonly string[]): void {
    for (const versionId of versionIds) {
      this.records.delete(versionId);
      this.markers.delete(versionId);
      this.goneKeys.delete(versionId);
      this.noted.delete(versionId);
      this.finished.delete(versionId);
    }
  }
}
