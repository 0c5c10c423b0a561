/**
 * An in-process adapter for tests and benchmarks. Nothing survives the process. Values are
 * copied in and out, so callers can never mutate a stored version.
 */
import {
  assertEntryName,
  assertSwappable,
  assertVersionId,
  assertWriteIds,
  type CallOptions,
  type CommitRecord,
  type Entry,
  type EntryListOptions,
  type ListOptions,
  type StorageAdapter,
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
}

export class MemoryAdapter implements StorageAdapter {
  readonly name = 'memory';
  private readonly versions = new Map<string, Map<string, Uint8Array>>();
  private readonly commits = new Map<string, CommitRecord>();
  /** Commit record ids in ascending order, for listing past a watermark. */
  private readonly commitOrder: string[] = [];
  private readonly entries = new Map<string, Map<string, Uint8Array>>();

  constructor(options: MemoryAdapterOptions = {}) {
    const { clock } = options;
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
        if (this.entries.get(terms.unless.namespace)?.has(terms.unless.id)) return TermedWriteOutcome.REFUSED;
        if (clock() > terms.deadlineMs) return TermedWriteOutcome.LATE;
        this.storeVersions(versions);
        this.storeRecord(record);
        return TermedWriteOutcome.CREATED;
      };
    }
  }

  time?: (options?: CallOptions) => Promise<number>;
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

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    await settle(options);
    assertEntryName(namespace, id);
    const entries = this.entriesOf(namespace);
    if (entries.has(id)) return false;
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
    const current = entries.get(id);
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
    return this.entries.get(namespace)?.get(id)?.slice();
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    await settle(options);
    assertEntryName(namespace);
    const after = options?.after;
    return [...(this.entries.get(namespace) ?? new Map<string, Uint8Array>())]
      .filter(([id]) => after === undefined || id > after)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, options?.limit ?? Number.POSITIVE_INFINITY)
      .map(([id, value]) => ({ id, value: value.slice() }));
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    await settle(options);
    for (const id of ids) this.entries.get(namespace)?.delete(id);
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

  private entriesOf(namespace: string): Map<string, Uint8Array> {
    let entries = this.entries.get(namespace);
    if (!entries) {
      entries = new Map();
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
