/**
 * Anna, the Hydro project's key-value store (docs/adapters/anna.md), over its own wire
 * protocol (adapters/anna/client.ts). Anna has lattices instead of conditional writes, no
 * delete and no listing, so the contract maps onto it like this (keys under a prefix):
 *
 *   <p>v/<versionId>/<key>   LWW: 0x01 + the value                  (a version)
 *   <p>r/<versionId>         LWW: 0x01 + record JSON                (a commit record)
 *   <p>rb/<bucket>           SET of version ids                      (records of a time bucket)
 *   <p>rbuckets              SET of buckets                          (every bucket with records)
 *   <p>rlow                  LWW: the lowest bucket that may hold a live record
 *   <p>e/<ns>/<id>           LWW: 0x01 + the value                  (an entry)
 *   <p>en/<ns>               SET of entry ids                        (a namespace's entries)
 *
 * - Values carry a marker byte: Anna answers KEY_DNE for LWW values with empty bytes, so an
 *   empty value is stored as 0x01 alone, and 0x00 marks a deleted one.
 * - LWW timestamps come from the clock, as Anna's own clients make them, so a later write
 *   wins. Deleting writes the tombstone (0x00) with a later timestamp; the key itself stays:
 *   Anna has no DELETE. GC thus shrinks a deleted version to a few bytes but cannot drop its
 *   key. (A deleting node whose clock is behind the writer's by more than the time since the
 *   write loses to it: the version is then left in place, never read, never wrong.)
 * - Listing: a record is first added to its bucket's set (and the bucket to `rbuckets`),
 *   then written; a listing skips ids whose record is not there (yet, or any more). Sets only
 *   grow, so a listing that finds the oldest buckets settled (no record can land there any
 *   more) and empty (GC deleted every record) raises `rlow` past them: later listings from the
 *   start, such as a node's bootstrap, skip them.
 * - Put-if-absent is read-then-write, serialized per name within this process. Commit
 *   records are only ever written by their own transaction's retries (the version id embeds
 *   the txid), so that is enough for them. For entries, across processes, Anna offers no
 *   atomic create (docs/adapters/anna.md says what that means for aft).
 */

import { LRUCache } from 'lru-cache';
import { AnnaClient, type AnnaClientOptions } from './anna/client.js';
import { AnnaError, decodeLww, decodeSet, encodeLww, encodeSet, LatticeType } from './anna/messages.js';
import { appendAll } from './append-all.js';
import { commitBucketOf, firstBucketAfter, isSettledBucket } from './commit-buckets.js';
import {
  assertEntryName,
  assertEntryNames,
  assertVersionId,
  type CallOptions,
  type CommitRecord,
  type Entry,
  type EntryListOptions,
  type ListOptions,
  type StorageAdapter,
  type VersionRef,
  type VersionWrite,
} from './contract.js';
import { mapLimit } from './map-limit.js';
import { decodeStoredRecord, encodeRecord } from './record-codec.js';

export interface AnnaAdapterOptions extends Omit<AnnaClientOptions, 'routing'> {
  /** Routing endpoints: host:port (tcp:// optional), e.g. 127.0.0.1:6450. */
  readonly routing: readonly string[];
  /** Put before every key, so several stores can share one Anna. @default 'aft/' */
  readonly prefix?: string;
  /** Requests a listing or a batch makes at once. @default 32 */
  readonly concurrency?: number;
}

const LIVE = 0x01;
const GONE = 0x00;
const PAGE = 1000;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export class AnnaAdapter implements StorageAdapter {
  readonly name = 'anna';
  private client: Promise<AnnaClient> | undefined;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly creating = new Map<string, Promise<unknown>>();
  /**
   * Index members this process has added (buckets to `rbuckets`, ids to `en/<ns>`). Sets only
   * grow, so adding one again is a round trip that changes nothing: a heartbeat or a commit
   * into a known bucket skips it.
   */
  private readonly indexed = new LRUCache<string, true>({ max: 10_000 });
  private lastStamp = 0n;

  constructor(private readonly options: AnnaAdapterOptions) {
    this.prefix = options.prefix ?? 'aft/';
    this.concurrency = options.concurrency ?? 32;
  }

  async putVersions(versions: readonly VersionWrite[], options: CallOptions = {}): Promise<void> {
    for (const { versionId } of versions) assertVersionId(versionId);
    await mapLimit(versions, this.concurrency, ({ key, versionId, value }) =>
      this.putLww(this.versionKey(key, versionId), this.clockStamp(), marked(value), options),
    );
  }

  async getVersion(ref: VersionRef, options: CallOptions = {}): Promise<Uint8Array | undefined> {
    assertVersionId(ref.versionId);
    return this.getLww(this.versionKey(ref.key, ref.versionId), options);
  }

  async putCommitRecord(record: CommitRecord, options: CallOptions = {}): Promise<boolean> {
    assertVersionId(record.versionId);
    const key = `${this.prefix}r/${record.versionId}`;
    return this.ifAbsent(key, options, async () => {
      // Listed before it exists: a listing skips it until it lands, never misses it after.
      const bucket = commitBucketOf(record.versionId);
      await this.addToIndex(`${this.prefix}rbuckets`, bucket, options);
      await this.addToSet(`${this.prefix}rb/${bucket}`, record.versionId, options);
      await this.putLww(key, this.clockStamp(), marked(encodeRecord(record)), options);
    });
  }

  async getCommitRecord(versionId: string, options: CallOptions = {}): Promise<CommitRecord | undefined> {
    assertVersionId(versionId);
    const bytes = await this.getLww(`${this.prefix}r/${versionId}`, options);
    return bytes === undefined ? undefined : decodeStoredRecord(bytes, versionId);
  }

  async listCommitRecords(after: string | undefined, options: ListOptions = {}): Promise<CommitRecord[]> {
    const limit = options.limit ?? PAGE;
    // Buckets below the low mark are settled and hold no live record (GC deleted them all).
    const lowKey = `${this.prefix}rlow`;
    const low = textDecoder.decode((await this.getLww(lowKey, options)) ?? new Uint8Array());
    const first = firstBucketAfter(after);
    const buckets = (await this.setMembers(`${this.prefix}rbuckets`, options))
      .filter((bucket) => bucket >= first && bucket >= low)
      .sort();
    const records: CommitRecord[] = [];
    // While the listing starts at the low mark, count the leading settled, empty buckets.
    let emptyPrefix: string | undefined;
    let counting = after === undefined || first <= low;
    for (const bucket of buckets) {
      const ids = (await this.setMembers(`${this.prefix}rb/${bucket}`, options))
        .filter((id) => after === undefined || id > after)
        .sort();
      let live = 0;
      let complete = true;
      for (let i = 0; i < ids.length; i += this.concurrency) {
        if (records.length >= limit) {
          complete = false;
          break;
        }
        const batch = ids.slice(i, i + this.concurrency);
        const found = await mapLimit(batch, this.concurrency, (id) => this.getCommitRecord(id, options));
        for (const record of found) {
          if (!record) continue;
          live += 1;
          if (records.length < limit) records.push(record);
        }
      }
      if (counting && complete && live === 0 && isSettledBucket(bucket)) emptyPrefix = bucket;
      else counting = false;
      if (records.length >= limit) break;
    }
    if (emptyPrefix !== undefined) {
      // The next bucket up: listings from the start need not read the empty ones again.
      await this.putLww(lowKey, this.clockStamp(), marked(textEncoder.encode(`${emptyPrefix}~`)), options);
    }
    return records;
  }

  async listCommitRecordIds(after: string | undefined, options: ListOptions = {}): Promise<string[]> {
    const limit = options.limit ?? PAGE;
    const low = textDecoder.decode((await this.getLww(`${this.prefix}rlow`, options)) ?? new Uint8Array());
    const first = firstBucketAfter(after);
    const buckets = (await this.setMembers(`${this.prefix}rbuckets`, options))
      .filter((bucket) => bucket >= first && bucket >= low)
      .sort();
    // The index sets also hold ids of records deleted since or not written yet (a record is
    // indexed before it is written): the caller reads the records and skips the absent.
    const ids: string[] = [];
    for (const bucket of buckets) {
      const members = await this.setMembers(`${this.prefix}rb/${bucket}`, options);
      appendAll(ids, members.filter((id) => after === undefined || id > after).sort());
      if (ids.length >= limit) break;
    }
    return ids.slice(0, limit);
  }

  async deleteVersions(refs: readonly VersionRef[], options: CallOptions = {}): Promise<void> {
    for (const { versionId } of refs) assertVersionId(versionId);
    await mapLimit(refs, this.concurrency, ({ key, versionId }) =>
      this.putLww(this.versionKey(key, versionId), this.clockStamp(), TOMBSTONE, options),
    );
  }

  async deleteCommitRecords(versionIds: readonly string[], options: CallOptions = {}): Promise<void> {
    for (const versionId of versionIds) assertVersionId(versionId);
    await mapLimit(versionIds, this.concurrency, (versionId) =>
      this.putLww(`${this.prefix}r/${versionId}`, this.clockStamp(), TOMBSTONE, options),
    );
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options: CallOptions = {}): Promise<void> {
    assertEntryName(namespace, id);
    await this.addToIndex(`${this.prefix}en/${namespace}`, id, options);
    await this.putLww(this.entryKey(namespace, id), this.clockStamp(), marked(value), options);
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options: CallOptions = {},
  ): Promise<boolean> {
    assertEntryName(namespace, id);
    return this.ifAbsent(this.entryKey(namespace, id), options, () =>
      this.putEntry(namespace, id, value, options),
    );
  }

  async getEntry(namespace: string, id: string, options: CallOptions = {}): Promise<Uint8Array | undefined> {
    assertEntryName(namespace, id);
    return this.getLww(this.entryKey(namespace, id), options);
  }

  async listEntries(namespace: string, options: EntryListOptions = {}): Promise<Entry[]> {
    assertEntryName(namespace);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const ids = (await this.setMembers(`${this.prefix}en/${namespace}`, options))
      .filter((id) => options.after === undefined || id > options.after)
      .sort();
    const entries: Entry[] = [];
    for (let i = 0; i < ids.length && entries.length < limit; i += this.concurrency) {
      const batch = ids.slice(i, i + this.concurrency);
      const values = await mapLimit(batch, this.concurrency, (id) =>
        this.getLww(this.entryKey(namespace, id), options),
      );
      values.forEach((value, index) => {
        if (value !== undefined && entries.length < limit) entries.push({ id: batch[index]!, value });
      });
    }
    return entries;
  }

  async deleteEntries(namespace: string, ids: readonly string[], options: CallOptions = {}): Promise<void> {
    assertEntryName(namespace);
    assertEntryNames(ids);
    await mapLimit(ids, this.concurrency, (id) =>
      this.putLww(this.entryKey(namespace, id), this.clockStamp(), TOMBSTONE, options),
    );
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await (await client).close();
  }

  /** The client, connected on first use. */
  private anna(): Promise<AnnaClient> {
    this.client ??= AnnaClient.open({
      ...this.options,
      routing: this.options.routing.map((endpoint) =>
        endpoint.startsWith('tcp://') ? endpoint : `tcp://${endpoint}`,
      ),
    });
    return this.client;
  }

  private versionKey(key: string, versionId: string): string {
    return `${this.prefix}v/${versionId}/${key}`;
  }

  private entryKey(namespace: string, id: string): string {
    return `${this.prefix}e/${namespace}/${id}`;
  }

  /**
   * Put-if-absent: `write` runs when `key` holds no live value; true when it ran. One at a
   * time per key in this process (Anna has no atomic create).
   */
  private async ifAbsent(key: string, options: CallOptions, write: () => Promise<void>): Promise<boolean> {
    const previous = this.creating.get(key) ?? Promise.resolve();
    const attempt = previous.then(async () => {
      if ((await this.getLww(key, options)) !== undefined) return false;
      await write();
      return true;
    });
    const settled = attempt.catch(() => undefined);
    this.creating.set(key, settled);
    try {
      return await attempt;
    } finally {
      if (this.creating.get(key) === settled) this.creating.delete(key);
    }
  }

  /** Timestamps as Anna's clients make them (milliseconds, scaled), strictly increasing in this process. */
  private clockStamp(): bigint {
    const now = BigInt(Date.now()) * 1000n;
    this.lastStamp = now > this.lastStamp ? now : this.lastStamp + 1n;
    return this.lastStamp;
  }

  private async putLww(
    key: string,
    timestamp: bigint,
    value: Uint8Array,
    options: CallOptions,
  ): Promise<void> {
    await (await this.anna()).put(key, LatticeType.LWW, encodeLww({ timestamp, value }), options.signal);
  }

  /** A marked LWW value: its bytes, or undefined when absent or deleted. */
  private async getLww(key: string, options: CallOptions): Promise<Uint8Array | undefined> {
    const tuple = await (await this.anna()).get(key, options.signal);
    if (tuple.error === AnnaError.KEY_DNE || !tuple.payload) return undefined;
    const { value } = decodeLww(tuple.payload);
    // A copy: callers may keep or change it without touching anything else.
    return value[0] === LIVE ? new Uint8Array(value.subarray(1)) : undefined;
  }

  private async addToIndex(key: string, member: string, options: CallOptions): Promise<void> {
    const name = `${key}\0${member}`;
    if (this.indexed.has(name)) return;
    await this.addToSet(key, member, options);
    this.indexed.set(name, true);
  }

  private async addToSet(key: string, member: string, options: CallOptions): Promise<void> {
    await (await this.anna()).put(
      key,
      LatticeType.SET,
      encodeSet({ values: [textEncoder.encode(member)] }),
      options.signal,
    );
  }

  private async setMembers(key: string, options: CallOptions): Promise<string[]> {
    const tuple = await (await this.anna()).get(key, options.signal);
    if (tuple.error === AnnaError.KEY_DNE || !tuple.payload) return [];
    return decodeSet(tuple.payload).values.map((value) => textDecoder.decode(value));
  }
}

const TOMBSTONE = new Uint8Array([GONE]);

function marked(value: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(value.byteLength + 1);
  bytes[0] = LIVE;
  bytes.set(value, 1);
  return bytes;
}
