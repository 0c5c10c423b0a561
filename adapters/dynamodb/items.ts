/**
 * How aft's data maps onto DynamoDB items (docs/adapters/dynamodb.md): partitions and sort
 * keys of versions, records and entries, shards, and values split over items of 350 KB.
 */
import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { commitBucketOf } from '../commit-buckets.js';

/** Bytes of a value per item; the rest of the 400 KB item limit is left for the key. */
export const DYNAMODB_CHUNK_BYTES = 350 * 1024;
/** Partitions a bucket's commit records are spread over. Fixed: listings query each. */
export const COMMIT_SHARDS = 8;
/** The partition holding one item per commit bucket. */
export const BUCKETS_PARTITION = 'buckets';
const CHUNK_DIGITS = 4;

export type Item = Record<string, AttributeValue>;

export function recordPartition(versionId: string): string {
  return `${commitBucketOf(versionId)}#${shardOf(versionId)}`;
}

export function entryKey(namespace: string, id: string): Item {
  return { b: { S: `e#${namespace}#${shardOf(id)}` }, v: { S: id } };
}

export function overflowPartition(versionId: string): string {
  return `x#${versionId}`;
}

export function shardOf(versionId: string): number {
  return createHash('sha1').update(versionId).digest().readUInt32BE(0) % COMMIT_SHARDS;
}

export function chunkSortKey(versionId: string, index: number): string {
  return `${versionId}#${String(index).padStart(CHUNK_DIGITS, '0')}`;
}

/**
 * The items holding `value`: one item with sort key `versionId` when it fits (always, unless
 * `alwaysChunk`), else chunks `versionId#0000`... with the count on the first.
 */
export function chunkItems(
  partition: Item,
  versionId: string,
  value: Uint8Array,
  alwaysChunk = false,
): Item[] {
  if (value.byteLength <= DYNAMODB_CHUNK_BYTES && !alwaysChunk) {
    return [{ ...partition, v: { S: versionId }, d: { B: value } }];
  }
  const count = Math.max(1, Math.ceil(value.byteLength / DYNAMODB_CHUNK_BYTES));
  if (count >= 10 ** CHUNK_DIGITS)
    throw new RangeError(`value of ${value.byteLength} bytes is too large for DynamoDB`);
  return Array.from({ length: count }, (_, index) => ({
    ...partition,
    v: { S: chunkSortKey(versionId, index) },
    d: { B: value.subarray(index * DYNAMODB_CHUNK_BYTES, (index + 1) * DYNAMODB_CHUNK_BYTES) },
    ...(index === 0 && { n: { N: String(count) } }),
  }));
}

/** The value the items of one version (or overflow body) hold, or undefined when there are none. */
export function joinChunks(items: readonly Item[], versionId: string): Uint8Array | undefined {
  if (items.length === 0) return undefined;
  const single = items.find((item) => item.v?.S === versionId);
  if (single) return single.d?.B ?? new Uint8Array(0);
  const chunks = [...items].sort((a, b) => compare(a.v!.S!, b.v!.S!));
  const expected = Number(chunks[0]?.n?.N ?? Number.NaN);
  // Chunks are written before the commit record; a version read through committed metadata is whole.
  if (chunks.length !== expected) {
    throw new Error(`version ${versionId} has ${chunks.length} of ${expected} chunks in DynamoDB`);
  }
  const joined = Buffer.concat(chunks.map((item) => item.d?.B ?? new Uint8Array(0)));
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** TransactWriteItems limits: items per transaction, and bytes (less a margin for the request). */
const TRANSACTION_ITEMS = 100;
const TRANSACTION_BYTES = 4 * 1024 * 1024 - 64 * 1024;
/** Bytes counted per item for its sort key, attribute names and table name. */
const TRANSACTION_ITEM_OVERHEAD = 256;

/** Items a commit's swap adds to its transaction: the ticket it spends (putVersionsAndRecordSwapping). */
export const SWAP_ITEMS = 1;

/**
 * Whether these versions (chunked) and a record of `recordBytes` fit one TransactWriteItems,
 * with room for a swap: the answer is the same with or without one, so a repeated commit
 * chooses as its first attempt did.
 */
export function fitsOneTransaction(
  versions: readonly { readonly key: string; readonly value: Uint8Array }[],
  recordBytes: number,
): boolean {
  if (recordBytes > DYNAMODB_CHUNK_BYTES) return false;
  let items = 1 + SWAP_ITEMS;
  let bytes = recordBytes + (1 + SWAP_ITEMS) * TRANSACTION_ITEM_OVERHEAD;
  for (const { key, value } of versions) {
    const chunks = Math.max(1, Math.ceil(value.byteLength / DYNAMODB_CHUNK_BYTES));
    items += chunks;
    bytes += value.byteLength + chunks * (Buffer.byteLength(key) + TRANSACTION_ITEM_OVERHEAD);
  }
  return items <= TRANSACTION_ITEMS && bytes <= TRANSACTION_BYTES;
}

/**
 * Bytes a commit record's item may reach with its commit's values in it: one read unit of a
 * strongly consistent read (4 KB), so reading a value there costs what reading its own item
 * would, and a listing page pays no more than a few hundred bytes a record for them.
 */
export const VALUES_IN_RECORD_BYTES = 4 * 1024;
/** Bytes counted for the item's keys and attribute names, and per value for its map entry. */
const RECORD_ITEM_OVERHEAD = 96;
const MAP_ENTRY_OVERHEAD = 4;

/** The name of `key`'s value in a record item's map `i` (a map key is never empty). */
export function valueName(key: string): string {
  return `k${key}`;
}

/**
 * Whether a commit's versions go in its record's item (attribute `i`, a map of `valueName(key)`
 * to bytes) rather than one item each: all of the record's version id, distinct keys, and
 * the item within VALUES_IN_RECORD_BYTES. A commit of two small keys is then a transaction of
 * the record and its ticket, two items where it was four.
 */
export function fitsValuesInRecord(
  versions: readonly { readonly key: string; readonly versionId: string; readonly value: Uint8Array }[],
  versionId: string,
  recordBytes: number,
): boolean {
  if (versions.length === 0) return false;
  let bytes = recordBytes + RECORD_ITEM_OVERHEAD;
  const keys = new Set<string>();
  for (const version of versions) {
    if (version.versionId !== versionId || keys.has(version.key)) return false;
    keys.add(version.key);
    bytes += Buffer.byteLength(version.key) + 1 + version.value.byteLength + MAP_ENTRY_OVERHEAD;
  }
  return bytes <= VALUES_IN_RECORD_BYTES;
}

/** The map `i` of a record item holding `versions`' values. */
export function valuesInRecord(
  versions: readonly { readonly key: string; readonly value: Uint8Array }[],
): AttributeValue {
  return { M: Object.fromEntries(versions.map(({ key, value }) => [valueName(key), { B: value }])) };
}
