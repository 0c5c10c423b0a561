/**
 * Amazon DynamoDB on @aws-sdk/client-dynamodb. Two tables (docs/adapters/dynamodb.md):
 *
 *   <prefix>versions   k (S, partition: the user's key)  v (S, sort: versionId)   d (B: bytes)
 *   <prefix>commits    b (S, partition: bucket#shard)     v (S, sort: versionId)   r (S: record JSON)
 *
 * A value over 350 KB (an item holds at most 400 KB) is split over items `<versionId>#0000`,
 * `#0001`, ...; the first carries the count. A read is one strongly consistent Query for
 * `v BETWEEN <versionId> AND <versionId>#~`, which returns the single item or every chunk
 * (`#` sorts before every version id character, so no other version falls in the range).
 *
 * Commit records are listed past a watermark without a scan: a record lives in partition
 * `<bucket>#<shard>`, bucket = the version id's first 8 characters (about 65 s), shard = a
 * hash of the id modulo 8, so a busy bucket's writes spread over 8 partitions. Partition
 * `buckets` holds one item per bucket, written before the bucket's first record. A listing
 * queries the buckets at or after the watermark's and merges the 8 shards of each in order.
 * Put-if-absent is a PutItem conditioned on attribute_not_exists(v). A record whose JSON
 * is over 350 KB keeps its body in items of partition `x#<versionId>`, written first.
 * A commit whose versions and record fit one TransactWriteItems (100 items, 4 MB) writes them
 * in it, the record conditioned as above (putVersionsAndRecord); with a swap
 * (putVersionsAndRecordSwapping) the same transaction also puts an entry item conditioned on
 * its value: the commit ticket it spends, only while unspent and not refused.
 * Entries (membership, commit intents, the GC lease) live in the commits table too, in
 * partitions `e#<namespace>#<shard>`, 8 shards, so intents written at the commit rate
 * spread over 8 partitions.
 *
 * This file maps the contract's calls; dynamodb/ holds the item mapping, the batched
 * requests, the listing and table creation. Over 400 lines: one method per call of the
 * contract, each a request or two; what they share already lives in dynamodb/.
 */
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { AWS_REQUEST_TIMEOUTS, withoutDiscardedLogging } from './aws-clients.js';
import { commitBucketOf, isSettledBucket } from './commit-buckets.js';
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
} from './contract.js';
import { DirectTransactWrites } from './dynamodb/direct-transact.js';
import {
  BUCKETS_PARTITION,
  COMMIT_SHARDS,
  chunkItems,
  chunkSortKey,
  compare,
  DYNAMODB_CHUNK_BYTES,
  entryKey,
  fitsOneTransaction,
  fitsValuesInRecord,
  type Item,
  joinChunks,
  overflowPartition,
  recordPartition,
  valueName,
  valuesInRecord,
} from './dynamodb/items.js';
import { walkCommitItems } from './dynamodb/listing.js';
import { DynamoRequests } from './dynamodb/requests.js';
import { dynamoSdk } from './dynamodb/sdk.js';
import { createTables } from './dynamodb/tables.js';
import { mapLimit } from './map-limit.js';
import { damagedRecord, decodeStoredRecord, encodeRecord } from './record-codec.js';

export interface DynamoDbAdapterOptions {
  /** Put before both table names: `<prefix>versions` and `<prefix>commits`. @default 'aft-' */
  readonly tablePrefix?: string;
  /** Your own client; aft uses it as it is and leaves it open on `close()`. */
  readonly client?: DynamoDBClient;
  /** Configuration of the client aft creates (region, endpoint, credentials, ...). */
  readonly clientConfig?: DynamoDBClientConfig;
  /** Requests one batch keeps in flight. @default 8 */
  readonly concurrency?: number;
  /**
   * Whether a commit that fits one TransactWriteItems writes versions and record in it: one
   * round trip instead of two, at twice the write units (DynamoDB's price of a transactional
   * write). @default true
   */
  readonly transactWrites?: boolean;
  /**
   * Whether a commit's TransactWriteItems is first sent past the SDK's middleware, with the
   * client's own signer, HTTP handler and endpoint (adapters/dynamodb/direct-transact.ts):
   * about 180 µs less CPU a commit (`node dist/bench/dynamodb-items.js`). Only on a client
   * aft creates with no `logger`; whatever that attempt cannot tell, the SDK sends again, as
   * one idempotent transaction. @default true
   */
  readonly directCommits?: boolean;
  /**
   * Whether a commit whose record and values fit 4 KB keeps the values in the record's item
   * (docs/adapters/dynamodb.md). aft 0.1.0 reads a value only from an item of its
   * own: a tier upgraded node by node from 0.1.0 sets this false until every node reads both.
   * @default true
   */
  readonly valuesInRecord?: boolean;
}

export { COMMIT_SHARDS, DYNAMODB_CHUNK_BYTES } from './dynamodb/items.js';

/** One TransactWriteItems of createEntries: at most 100 items, and well under its 4 MB. */
const TRANSACTION_ENTRIES = 100;
const TRANSACTION_ENTRY_BYTES = 3 * 1024 * 1024;
/** Ids recordsHoldingValues keeps, the newest (about 4 MB). */
const RECORDS_HOLDING_VALUES_KEPT = 50_000;

export class DynamoDbAdapter implements StorageAdapter {
  readonly name = 'dynamodb';
  readonly versionsTable: string;
  readonly commitsTable: string;
  private readonly options: DynamoDbAdapterOptions;
  private readonly concurrency: number;
  private readonly requests: DynamoRequests;
  private client: DynamoDBClient | undefined;
  private direct: DirectTransactWrites | undefined;
  private readonly listedBuckets = new Set<string>();
  /**
   * Ids of records this adapter wrote or listed with their commit's values in their item: a
   * hint of where to read a version first, never needed for a right answer (a version found
   * in neither place is looked for in the other).
   */
  private readonly recordsHoldingValues = new Set<string>();
  /** Of this adapter's recent commits, the share whose values went in their record (decaying). */
  private ownCommitsInRecord = 0;

  constructor(options: DynamoDbAdapterOptions = {}) {
    const prefix = options.tablePrefix ?? 'aft-';
    if (!/^[A-Za-z0-9_.-]*$/.test(prefix)) {
      throw new TypeError(`DynamoDB table prefix ${JSON.stringify(prefix)} may hold only A-Z a-z 0-9 _ . -`);
    }
    this.options = options;
    this.versionsTable = `${prefix}versions`;
    this.commitsTable = `${prefix}commits`;
    this.concurrency = options.concurrency ?? 8;
    this.requests = new DynamoRequests(
      () => this.db(),
      this.concurrency,
      () => this.direct,
    );
    if (options.transactWrites !== false) {
      this.putVersionsAndRecord = async (versions, record, call) =>
        (await this.putAtomically(versions, record, undefined, call)) === TermedWriteOutcome.CREATED;
      this.putVersionsAndRecordSwapping = (versions, record, swap, call) =>
        this.putAtomically(versions, record, swap, call);
      // One transaction holds at most 100 items and 4 MB; a record body must fit its item.
      this.fitsVersionsAndRecord = (versions, record) =>
        fitsOneTransaction(versions, encodeRecord(record).byteLength);
    }
  }

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const items: Item[] = [];
    for (const { key, versionId, value } of versions) {
      assertVersionId(versionId);
      items.push(...chunkItems({ k: { S: key } }, versionId, value));
    }
    await this.requests.batchWrite(
      this.versionsTable,
      items.map((Item) => ({ PutRequest: { Item } })),
      options,
    );
  }

  async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(ref.versionId);
    if (this.recordsHoldingValues.has(ref.versionId)) return this.valueInRecord(ref, options);
    // A version of a record this adapter has not seen (a peer's, learned by a push): looked
    // for first where this adapter's own commits mostly put their values, then in the other
    // place, so a tier whose commits are alike reads it in one round trip.
    if (this.ownCommitsInRecord >= 0.5) {
      return (await this.valueInRecord(ref, options)) ?? (await this.valueInItems(ref, options));
    }
    return (await this.valueInItems(ref, options)) ?? (await this.valueInRecord(ref, options));
  }

  /** A version's value from its own items (one, or chunks), or undefined. */
  private async valueInItems(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    return joinChunks(await this.itemsOf(ref, options), ref.versionId);
  }

  /**
   * A version's items, its one or its chunks: one strongly consistent Query of the range
   * `<versionId>` to `<versionId>#~` (`#` sorts before every character of a version id).
   */
  private itemsOf(ref: VersionRef, options?: CallOptions, projection?: string): Promise<Item[]> {
    return this.requests.queryAll(
      {
        TableName: this.versionsTable,
        KeyConditionExpression: 'k = :k AND v BETWEEN :first AND :last',
        ExpressionAttributeValues: {
          ':k': { S: ref.key },
          ':first': { S: ref.versionId },
          ':last': { S: `${ref.versionId}#~` },
        },
        ...(projection && { ProjectionExpression: projection }),
        ConsistentRead: true,
      },
      options,
    );
  }

  /** Which of `refs` (as `versionId\0key`) have their value in their record's item. */
  private async valuesHeldByRecords(
    refs: readonly VersionRef[],
    options?: CallOptions,
  ): Promise<Set<string>> {
    const held = new Set<string>();
    if (refs.length === 0) return held;
    const ids = [...new Set(refs.map(({ versionId }) => versionId))];
    const records = await this.requests.batchGet(
      this.commitsTable,
      ids.map((id) => ({ b: { S: recordPartition(id) }, v: { S: id } })),
      'v, i',
      options,
    );
    const names = new Map(records.map((item) => [item.v!.S!, item.i?.M ?? {}]));
    for (const { key, versionId } of refs) {
      if (names.get(versionId)?.[valueName(key)] !== undefined) held.add(`${versionId}\u0000${key}`);
    }
    return held;
  }

  /** A version's value from its record's item (fitsValuesInRecord), or undefined. */
  private async valueInRecord(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    const answer = await (await this.db()).send(
      new (await dynamoSdk()).GetItemCommand({
        TableName: this.commitsTable,
        Key: { b: { S: recordPartition(ref.versionId) }, v: { S: ref.versionId } },
        ProjectionExpression: 'i.#value',
        ExpressionAttributeNames: { '#value': valueName(ref.key) },
        ConsistentRead: true,
      }),
      { abortSignal: options?.signal },
    );
    return answer.Item?.i?.M?.[valueName(ref.key)]?.B;
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertVersionId(record.versionId);
    await this.listBucketOf(record.versionId, options);
    const body = encodeRecord(record);
    const item: Item = { b: { S: recordPartition(record.versionId) }, v: { S: record.versionId } };
    if (body.byteLength <= DYNAMODB_CHUNK_BYTES) {
      item.r = { S: Buffer.from(body).toString('utf8') };
    } else {
      // Too big for one item: the body goes first, in immutable chunks, then the record names them.
      const chunks = chunkItems({ b: { S: overflowPartition(record.versionId) } }, '', body, true);
      await this.requests.batchWrite(
        this.commitsTable,
        chunks.map((Item) => ({ PutRequest: { Item } })),
        options,
      );
      item.x = { N: String(chunks.length) };
    }
    return this.requests.putIfAbsent(this.commitsTable, item, options);
  }

  putVersionsAndRecord?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: CallOptions,
  ) => Promise<boolean>;
  putVersionsAndRecordSwapping?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    swap: EntrySwap,
    options?: CallOptions,
  ) => Promise<SwappingWriteOutcome>;
  fitsVersionsAndRecord?: (versions: readonly VersionWrite[], record: CommitRecord) => boolean;
  /** An entry is one item (its value is never split, unlike a version's). */
  readonly maxEntryBytes = DYNAMODB_CHUNK_BYTES;

  /**
   * One TransactWriteItems: every version item, then the record conditioned on its absence;
   * with a swap, the entry's new value conditioned on its old one.
   */
  private async putAtomically(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    swap: EntrySwap | undefined,
    options?: CallOptions,
  ): Promise<SwappingWriteOutcome> {
    options?.signal?.throwIfAborted();
    assertWriteIds(versions, record);
    if (swap) {
      assertEntryName(swap.namespace, swap.id);
      assertSwappable(swap.expected, swap.value);
    }
    const body = encodeRecord(record);
    if (!fitsOneTransaction(versions, body.byteLength)) {
      throw new RangeError('versions and record are over one DynamoDB transaction (fitsVersionsAndRecord)');
    }
    await this.listBucketOf(record.versionId, options);
    const recordItem: Item = {
      b: { S: recordPartition(record.versionId) },
      v: { S: record.versionId },
      r: { S: Buffer.from(body).toString('utf8') },
    };
    // Small values ride in the record's item: DynamoDB's work for a transaction grows with
    // its items, and the versions were most of them (docs/adapters/dynamodb.md).
    const inRecord =
      this.options.valuesInRecord !== false &&
      fitsValuesInRecord(versions, record.versionId, body.byteLength);
    if (inRecord) recordItem.i = valuesInRecord(versions);
    const versionItems = inRecord
      ? []
      : versions.flatMap(({ key, versionId, value }) => chunkItems({ k: { S: key } }, versionId, value));
    const outcome = await this.requests.transactPutsThenPutIfAbsent(
      this.versionsTable,
      versionItems,
      this.commitsTable,
      recordItem,
      swap && {
        item: { ...entryKey(swap.namespace, swap.id), d: { B: swap.value } },
        expected: swap.expected,
      },
      options,
    );
    if (outcome === TermedWriteOutcome.CREATED) {
      if (inRecord) this.noteValuesInRecord(record.versionId);
      this.ownCommitsInRecord = this.ownCommitsInRecord * 0.9 + (inRecord ? 0.1 : 0);
    }
    return outcome;
  }

  /** Remembers that a record's item holds its commit's values: a read of one goes there first. */
  private noteValuesInRecord(versionId: string): void {
    if (this.recordsHoldingValues.has(versionId)) return;
    // Full: the longest-known id goes (a Set iterates in insertion order).
    if (this.recordsHoldingValues.size >= RECORDS_HOLDING_VALUES_KEPT) {
      this.recordsHoldingValues.delete(this.recordsHoldingValues.values().next().value!);
    }
    this.recordsHoldingValues.add(versionId);
  }

  /** The bucket is listed before its first record, so a listing never misses a record. */
  private async listBucketOf(versionId: string, options?: CallOptions): Promise<void> {
    const bucket = commitBucketOf(versionId);
    if (this.listedBuckets.has(bucket)) return;
    await (await this.db()).send(
      new (await dynamoSdk()).PutItemCommand({
        TableName: this.commitsTable,
        Item: { b: { S: BUCKETS_PARTITION }, v: { S: bucket } },
      }),
      { abortSignal: options?.signal },
    );
    if (this.listedBuckets.size > 10_000) this.listedBuckets.clear();
    this.listedBuckets.add(bucket);
  }

  async getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(versionId);
    const answer = await (await this.db()).send(
      new (await dynamoSdk()).GetItemCommand({
        TableName: this.commitsTable,
        Key: { b: { S: recordPartition(versionId) }, v: { S: versionId } },
        ConsistentRead: true,
      }),
      { abortSignal: options?.signal },
    );
    return answer.Item && this.recordOf(answer.Item, options);
  }

  async listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
    const records: CommitRecord[] = [];
    await walkCommitItems(this.requests, this.commitsTable, after, options, records, {}, async (page) => {
      const read = await mapLimit(page, this.concurrency, (item) => this.recordOf(item, options));
      for (const record of read) if (record) records.push(record);
    });
    return records;
  }

  async listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]> {
    const ids: string[] = [];
    // Only the sort key comes back: no record bodies are read.
    await walkCommitItems(
      this.requests,
      this.commitsTable,
      after,
      options,
      ids,
      { ProjectionExpression: 'v' },
      async (page) => {
        ids.push(...page.map((item) => item.v!.S!));
      },
    );
    return ids;
  }

  async deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    for (const { versionId } of refs) assertVersionId(versionId);
    // A value in its record's item goes with the record (docs/adapters/dynamodb.md): no
    // request for one the adapter knows there. Others are items to find.
    const unique = [
      ...new Map(
        refs
          .filter(({ versionId }) => !this.recordsHoldingValues.has(versionId))
          .map((ref) => [`${ref.versionId}\u0000${ref.key}`, ref]),
      ).values(),
    ];
    // A version is one item, or chunks with their count on the first: one BatchGetItem of
    // both first keys per 50 versions says which (a Query each made GC on DynamoDB send
    // one request per version it collected, two per commit of two keys).
    const firstKeys = unique.flatMap(({ key, versionId }) => [
      { k: { S: key }, v: { S: versionId } },
      { k: { S: key }, v: { S: chunkSortKey(versionId, 0) } },
    ]);
    const found = new Map<string, Item>();
    for (const item of await this.requests.batchGet(this.versionsTable, firstKeys, 'k, v, n', options))
      found.set(`${item.v!.S!}\u0000${item.k!.S!}`, item);
    const toDelete: Item[] = [];
    // Neither first item found: a version deleted already, or chunks whose first never landed
    // (a writer died mid-batch); a query finds whatever is there.
    const unknown: VersionRef[] = [];
    for (const { key, versionId } of unique) {
      const single = found.get(`${versionId}\u0000${key}`);
      const first = found.get(`${chunkSortKey(versionId, 0)}\u0000${key}`);
      if (single) toDelete.push({ k: { S: key }, v: { S: versionId } });
      if (first) {
        const count = Number(first.n?.N ?? 1);
        for (let index = 0; index < count; index += 1)
          toDelete.push({ k: { S: key }, v: { S: chunkSortKey(versionId, index) } });
      }
      if (!single && !first) unknown.push({ key, versionId });
    }
    // Neither is there for a value in a record this adapter has not seen (its hint forgot it,
    // or another process wrote it): one look-up of their records per 100 tells those apart
    // from the rest, so only a version found nowhere costs a query.
    const inRecords = await this.valuesHeldByRecords(unknown, options);
    const unplaced = unknown.filter(({ key, versionId }) => !inRecords.has(`${versionId}\u0000${key}`));
    const queried = await mapLimit(unplaced, this.concurrency, (ref) => this.itemsOf(ref, options, 'k, v'));
    await this.requests.batchWrite(
      this.versionsTable,
      [...toDelete, ...queried.flat()].map((Key) => ({ DeleteRequest: { Key } })),
      options,
    );
  }

  async deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    for (const versionId of versionIds) assertVersionId(versionId);
    const ids = [...new Set(versionIds)];
    const keys = ids.map((versionId) => ({ b: { S: recordPartition(versionId) }, v: { S: versionId } }));
    // Records with an overflow body: its chunks go too (after the record, so none dangles).
    const overflow: Item[] = [];
    for (const item of await this.requests.batchGet(this.commitsTable, keys, 'v, x', options)) {
      const count = Number(item.x?.N ?? 0);
      for (let chunk = 0; chunk < count; chunk += 1) {
        overflow.push({ b: { S: overflowPartition(item.v!.S!) }, v: { S: chunkSortKey('', chunk) } });
      }
    }
    await this.requests.batchWrite(
      this.commitsTable,
      keys.map((Key) => ({ DeleteRequest: { Key } })),
      options,
    );
    await this.requests.batchWrite(
      this.commitsTable,
      overflow.map((Key) => ({ DeleteRequest: { Key } })),
      options,
    );
    // An empty bucket leaves the listing only when no commit can land in it any more.
    for (const bucket of new Set(ids.map(commitBucketOf))) {
      if (!isSettledBucket(bucket)) continue;
      const left = await Promise.all(
        Array.from({ length: COMMIT_SHARDS }, (_, shard) =>
          this.requests.queryAll(
            {
              TableName: this.commitsTable,
              KeyConditionExpression: 'b = :b',
              ExpressionAttributeValues: { ':b': { S: `${bucket}#${shard}` } },
              ConsistentRead: true,
            },
            options,
            1,
          ),
        ),
      );
      if (left.every((items) => items.length === 0)) {
        await this.requests.batchWrite(
          this.commitsTable,
          [{ DeleteRequest: { Key: { b: { S: BUCKETS_PARTITION }, v: { S: bucket } } } }],
          options,
        );
        this.listedBuckets.delete(bucket);
      }
    }
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    await (await this.db()).send(
      new (await dynamoSdk()).PutItemCommand({
        TableName: this.commitsTable,
        Item: { ...entryKey(namespace, id), d: { B: value } },
      }),
      { abortSignal: options?.signal },
    );
  }

  /** BatchWriteItem, 25 at a time; of two entries with one id (a batch refuses both), the last. */
  async putEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    const last = new Map(entries.map(({ id, value }) => [id, value]));
    await this.requests.batchWrite(
      this.commitsTable,
      [...last].map(([id, value]) => ({
        PutRequest: { Item: { ...entryKey(namespace, id), d: { B: value } } },
      })),
      options,
    );
  }

  /**
   * TransactWriteItems of up to 100 puts, each conditioned on its item's absence. One that
   * finds an entry there fails whole: its entries are then created one by one, each as
   * createEntry does (an existing one stays).
   */
  async createEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    // Of two entries with one id, the first (the second's create would find it there).
    const chunks: [string, Uint8Array][][] = [];
    let chunk: [string, Uint8Array][] = [];
    let bytes = 0;
    const seen = new Set<string>();
    for (const { id, value } of entries) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (chunk.length === TRANSACTION_ENTRIES || bytes + value.byteLength > TRANSACTION_ENTRY_BYTES) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push([id, value]);
      bytes += value.byteLength;
    }
    if (chunk.length > 0) chunks.push(chunk);
    await mapLimit(chunks, this.concurrency, async (chunk) => {
      const items = chunk.map(([id, value]) => ({ ...entryKey(namespace, id), d: { B: value } }));
      if (await this.requests.transactPutsIfAbsent(this.commitsTable, items, options)) return;
      await mapLimit(chunk, this.concurrency, ([id, value]) =>
        this.createEntry(namespace, id, value, options),
      );
    });
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    return this.requests.putIfAbsent(
      this.commitsTable,
      { ...entryKey(namespace, id), d: { B: value } },
      options,
    );
  }

  async swapEntry(
    namespace: string,
    id: string,
    expected: Uint8Array | undefined,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    assertSwappable(expected, value);
    const item = { ...entryKey(namespace, id), d: { B: value } };
    if (expected === undefined) return this.requests.putIfAbsent(this.commitsTable, item, options);
    try {
      await (await this.db()).send(
        new (await dynamoSdk()).PutItemCommand({
          TableName: this.commitsTable,
          Item: item,
          ConditionExpression: 'd = :expected',
          ExpressionAttributeValues: { ':expected': { B: expected } },
        }),
        { abortSignal: options?.signal },
      );
      return true;
    } catch (error) {
      if ((error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    const answer = await (await this.db()).send(
      new (await dynamoSdk()).GetItemCommand({
        TableName: this.commitsTable,
        Key: entryKey(namespace, id),
        ConsistentRead: true,
      }),
      { abortSignal: options?.signal },
    );
    const value = answer.Item?.d?.B;
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    const limit = options?.limit;
    const after = options?.after;
    const shards = await Promise.all(
      Array.from({ length: COMMIT_SHARDS }, (_, shard) =>
        this.requests.queryAll(
          {
            TableName: this.commitsTable,
            KeyConditionExpression: after === undefined ? 'b = :b' : 'b = :b AND v > :after',
            ExpressionAttributeValues: {
              ':b': { S: `e#${namespace}#${shard}` },
              ...(after !== undefined && { ':after': { S: after } }),
            },
            ConsistentRead: true,
          },
          options,
          limit,
        ),
      ),
    );
    return shards
      .flat()
      .sort((a, b) => compare(a.v!.S!, b.v!.S!))
      .slice(0, limit ?? Number.POSITIVE_INFINITY)
      .map((item) => ({ id: item.v!.S!, value: item.d?.B ?? new Uint8Array(0) }));
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(ids);
    await this.requests.batchWrite(
      this.commitsTable,
      [...new Set(ids)].map((id) => ({ DeleteRequest: { Key: entryKey(namespace, id) } })),
      options,
    );
  }

  /** Creates both tables (on-demand capacity) unless they exist, and waits until they are active. */
  async init(options?: CallOptions): Promise<void> {
    return createTables(await this.db(), this, options);
  }

  async close(): Promise<void> {
    if (this.client && !this.options.client) this.client.destroy();
    this.client = undefined;
  }

  /** The client, created on first use (the SDK is loaded then, not when aft is imported). */
  private async db(): Promise<DynamoDBClient> {
    if (this.client) return this.client;
    const { DynamoDBClient } = await dynamoSdk();
    // Another call may have made it while this one loaded the SDK.
    if (this.client) return this.client;
    if (this.options.client) {
      this.client = this.options.client;
    } else {
      const created = withoutDiscardedLogging(
        // The SDK's standard retry: exponential backoff with jitter on throttling and 5xx.
        new DynamoDBClient({
          maxAttempts: 8,
          requestHandler: AWS_REQUEST_TIMEOUTS,
          ...this.options.clientConfig,
        }),
        this.options.clientConfig,
      );
      // A client of the user's, or one with a logger to see every request, keeps every
      // request in the SDK's middleware.
      if (this.options.clientConfig?.logger === undefined && this.options.directCommits !== false) {
        this.direct = new DirectTransactWrites(created);
      }
      this.client = created;
    }
    return this.client;
  }

  /** The record an item of the commits table holds; undefined when it was deleted meanwhile. */
  private async recordOf(item: Item, options?: CallOptions): Promise<CommitRecord | undefined> {
    const versionId = item.v!.S!;
    if (item.i) this.noteValuesInRecord(versionId);
    if (item.r?.S !== undefined) return decodeStoredRecord(item.r.S, versionId);
    const chunks = await this.requests.queryAll(
      {
        TableName: this.commitsTable,
        KeyConditionExpression: 'b = :b',
        ExpressionAttributeValues: { ':b': { S: overflowPartition(versionId) } },
        ConsistentRead: true,
      },
      options,
    );
    const body = joinChunks(chunks, '');
    if (body) return decodeStoredRecord(body, versionId);
    // Its body is written before it and deleted after it: gone while the record item stays
    // is damage; gone with it, the collector deleted both since the listing.
    const still = await (await this.db()).send(
      new (await dynamoSdk()).GetItemCommand({
        TableName: this.commitsTable,
        Key: { b: item.b!, v: item.v! },
        ProjectionExpression: 'v',
        ConsistentRead: true,
      }),
      { abortSignal: options?.signal },
    );
    return still.Item ? damagedRecord(versionId) : undefined;
  }
}
