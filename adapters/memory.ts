/**
 * An in-process adapter for tests and benchmarks. Nothing survives the process. Values are
 * copied in and out, so callers can never mutate a stored version.
 */
import {
  assertEntryName,
  assertEntryNames,
  assertSwappable,
  assertVersionId,
  assertWriteIds,
  type CallOptions,
  type CommitRecord,
  type Entry,
  type EntryListOptions,
  type EntrySwap,
  type ListOptions,
  type StorageAdapter,
  type SwappingWriteOutcome,
  TermedWriteOutcome,
  type VersionRef,
  type VersionWrite,
  type WriteTerms,
} from './contract.js';
import { copyRecord } from './record-codec.js';
import { insertSorted, removeSorted, upperBound } from './sorted.js';

export interface MemoryAdapterOptions {
  /**
   * A clock for the store to tell (`time`) and to apply writes by (putVersionsAndRecordBy),
   * as an engine with a clock of its own does: commits then write no intent. Absent: the
   * store has no clock (commits write an intent, then versions and record in one step).
   */
  readonly clock?: () => number;
  /**
   * Whether the store swaps an entry in its atomic write (putVersionsAndRecordSwapping), as
   * DynamoDB does: commits without a clock then spend commit tickets instead of writing an
   * intent. @default false
   */
  readonly swappingWrites?: boolean;
}

export class MemoryAdapter implements StorageAdapter {
  readonly name = 'memory';
  private readonly versions = new Map<string, Map<string, Uint8Array>>();
  private readonly commits = new Map<string, CommitRecord>();
  /** Commit record ids in ascending order, for listing past a watermark. */
  private readonly commitOrder: string[] = [];
  private readonly entries = new Map<string, EntryNamespace>();

  constructor(options: MemoryAdapterOptions = {}) {
    const { clock } = options;
    if (options.swappingWrites) {
      this.putVersionsAndRecordSwapping = async (versions, record, swap, call) => {
        await settle(call);
        assertWriteIds(versions, record);
        assertEntryName(swap.namespace, swap.id);
        assertSwappable(swap.expected, swap.value);
        // Every condition and the write in one synchronous step, as one transaction applies.
        if (this.commits.has(record.versionId)) return TermedWriteOutcome.TAKEN;
        const entries = this.entriesOf(swap.namespace);
        const current = entries.values.get(swap.id);
        if (current === undefined || !Buffer.from(current).equals(swap.expected))
          return TermedWriteOutcome.REFUSED;
        this.storeVersions(versions);
        this.storeRecord(record);
        entries.set(swap.id, swap.value.slice());
        return TermedWriteOutcome.CREATED;
      };
    }
    if (clock) {
      this.time = async (call) => {
        await settle(call);
        return clock();
      };
      this.putVersionsAndRecordBy = async (versions, record, terms, call) => {
        await settle(call);
        assertWriteIds(versions, record);
        // Every condition and the write in one synchronous step, as one script runs.
        if (this.commits.has(record.versionId)) return TermedWriteOutcome.TAKEN;
        if (this.entries.get(terms.unless.namespace)?.values.has(terms.unless.id))
          return TermedWriteOutcome.REFUSED;
        if (clock() > terms.deadlineMs) return TermedWriteOutcome.LATE;
        this.storeVersions(versions);
        this.storeRecord(record);
        return TermedWriteOutcome.CREATED;
      };
    }
  }

  time?: (options?: CallOptions) => Promise<number>;
  putVersionsAndRecordSwapping?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    swap: EntrySwap,
    options?: CallOptions,
  ) => Promise<SwappingWriteOutcome>;
  putVersionsAndRecordBy?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    terms: WriteTerms,
    options?: CallOptions,
  ) => Promise<TermedWriteOutcome>;

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    await settle(options);
    this.storeVersions(versions);
  }

  async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    await settle(options);
    return this.versions.get(ref.key)?.get(ref.versionId)?.slice();
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    await settle(options);
    assertVersionId(record.versionId);
    return this.storeRecord(record);
  }

  async putVersionsAndRecord(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: CallOptions,
  ): Promise<boolean> {
    await settle(options);
    assertWriteIds(versions, record);
    if (this.commits.has(record.versionId)) return false;
    // Both in one synchronous step: nothing sees the versions without the record.
    this.storeVersions(versions);
    return this.storeRecord(record);
  }

  private storeVersions(versions: readonly VersionWrite[]): void {
    for (const { key, versionId, value } of versions) {
      assertVersionId(versionId);
      let byVersion = this.versions.get(key);
      if (!byVersion) {
        byVersion = new Map();
        this.versions.set(key, byVersion);
      }
      byVersion.set(versionId, value.slice());
    }
  }

  private storeRecord(record: CommitRecord): boolean {
    if (this.commits.has(record.versionId)) return false;
    this.commits.set(record.versionId, copyRecord(record));
    insertSorted(this.commitOrder, record.versionId);
    return true;
  }

  async getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined> {
    await settle(options);
    const record = this.commits.get(versionId);
    return record && copyRecord(record);
  }

  async listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
    await settle(options);
    const start = after === undefined ? 0 : upperBound(this.commitOrder, after);
    const end = Math.min(this.commitOrder.length, start + (options?.limit ?? Number.POSITIVE_INFINITY));
    return this.commitOrder.slice(start, end).map((id) => copyRecord(this.commits.get(id)!));
  }

  async listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]> {
    await settle(options);
    const start = after === undefined ? 0 : upperBound(this.commitOrder, after);
    return this.commitOrder.slice(start, start + (options?.limit ?? Number.POSITIVE_INFINITY));
  }

  async deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void> {
    await settle(options);
    for (const { key, versionId } of refs) {
      const byVersion = this.versions.get(key);
      byVersion?.delete(versionId);
      if (byVersion?.size === 0) this.versions.delete(key);
    }
  }

  async deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void> {
    await settle(options);
    for (const versionId of versionIds) {
      if (this.commits.delete(versionId)) removeSorted(this.commitOrder, versionId);
    }
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void> {
    await settle(options);
    assertEntryName(namespace, id);
    this.entriesOf(namespace).set(id, value.slice());
  }

  async putEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    await settle(options);
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    const stored = this.entriesOf(namespace);
    for (const { id, value } of entries) stored.set(id, value.slice());
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    await settle(options);
    assertEntryName(namespace, id);
    const entries = this.entriesOf(namespace);
    if (entries.values.has(id)) return false;
    entries.set(id, value.slice());
    return true;
  }

  async swapEntry(
    namespace: string,
    id: string,
    expected: Uint8Array | undefined,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    await settle(options);
    assertEntryName(namespace, id);
    assertSwappable(expected, value);
    const entries = this.entriesOf(namespace);
    const current = entries.values.get(id);
    const matches =
      expected === undefined
        ? current === undefined
        : current !== undefined && Buffer.from(current).equals(expected);
    if (!matches) return false;
    entries.set(id, value.slice());
    return true;
  }

  async getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    await settle(options);
    assertEntryName(namespace, id);
    return this.entries.get(namespace)?.values.get(id)?.slice();
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    await settle(options);
    assertEntryName(namespace);
    return (
      this.entries.get(namespace)?.list(options?.after, options?.limit ?? Number.POSITIVE_INFINITY) ?? []
    );
  }

  async createEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    await settle(options);
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    const stored = this.entriesOf(namespace);
    for (const { id, value } of entries) if (!stored.values.has(id)) stored.set(id, value.slice());
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    await settle(options);
    const entries = this.entries.get(namespace);
    for (const id of ids) entries?.delete(id);
  }

  /** How many versions are stored (for tests of garbage collection). */
  get versionCount(): number {
    let count = 0;
    for (const byVersion of this.versions.values()) count += byVersion.size;
    return count;
  }

  /** Every stored version (for tests of garbage collection). */
  get storedVersions(): VersionRef[] {
    const refs: VersionRef[] = [];
    for (const [key, byVersion] of this.versions)
      for (const versionId of byVersion.keys()) refs.push({ key, versionId });
    return refs;
  }

  async close(): Promise<void> {}

  private entriesOf(namespace: string): EntryNamespace {
    let entries = this.entries.get(namespace);
    if (!entries) {
      entries = new EntryNamespace();
      this.entries.set(namespace, entries);
    }
    return entries;
  }
}

/** Yields once, as a real engine would, and honours the abort signal. */
async function settle(options: CallOptions | undefined): Promise<void> {
  options?.signal?.throwIfAborted();
  await Promise.resolve();
  options?.signal?.throwIfAborted();
}

/**
 * One namespace's entries, with their ids in order for listing: a page costs its own size and
 * a binary search, where sorting the whole namespace per page made listing it all quadratic
 * (the collector lists every entry of a namespace page by page, on every pass). New ids are
 * appended; the first listing after one came out of order (or after deleted ids grew to half
 * the order) sorts what was appended and merges it in, dropping deleted ids: a pass of the
 * collector writes thousands of ids in no order between two listings, and inserting each in
 * place cost a shift of the whole order.
 */
class EntryNamespace {
  readonly values = new Map<string, Uint8Array>();
  /**
   * The ids: those before `sortedUpTo` in order, each once; the rest appended since. Deleted
   * ids may linger until the next mending.
   */
  private order: string[] = [];
  private sortedUpTo = 0;
  private stale = 0;

  set(id: string, value: Uint8Array): void {
    if (!this.values.has(id)) {
      const last = this.order[this.order.length - 1];
      // Still in order: the sorted part grows with it. An id already in the order (deleted,
      // now back) is never past its last, so it lands in the part to mend.
      if (this.sortedUpTo === this.order.length && (last === undefined || id > last)) this.sortedUpTo += 1;
      this.order.push(id);
    }
    this.values.set(id, value);
  }

  delete(id: string): void {
    if (this.values.delete(id)) this.stale += 1;
  }

  list(after: string | undefined, limit: number): Entry[] {
    if (this.sortedUpTo < this.order.length || this.stale * 2 > this.order.length) this.mend();
    const page: Entry[] = [];
    for (let at = after === undefined ? 0 : upperBound(this.order, after); at < this.order.length; at += 1) {
      if (page.length >= limit) break;
      const id = this.order[at]!;
      const value = this.values.get(id);
      if (value !== undefined) page.push({ id, value: value.slice() });
    }
    return page;
  }

  /** Sorts the appended ids and merges them into the sorted ones: live ids only, each once. */
  private mend(): void {
    const sorted = this.order;
    const appended = sorted.slice(this.sortedUpTo).sort();
    const merged: string[] = [];
    const take = (id: string) => {
      if (this.values.has(id) && merged[merged.length - 1] !== id) merged.push(id);
    };
    let i = 0;
    let j = 0;
    while (i < this.sortedUpTo || j < appended.length) {
      if (j >= appended.length || (i < this.sortedUpTo && sorted[i]! <= appended[j]!)) take(sorted[i++]!);
      else take(appended[j++]!);
    }
    this.order = merged;
    this.sortedUpTo = merged.length;
    this.stale = 0;
  }
}
