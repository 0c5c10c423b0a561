/**
 * Redis, standalone or Redis Cluster, on ioredis. The mapping (docs/adapters/redis.md):
 *
 *   <prefix>v:<versionId>:<key>     string: a version's bytes (keys are binary-safe in Redis)
 *   <prefix>{c:<bucket>}            hash:   versionId -> commit record JSON
 *   <prefix>{c:<bucket>}:ids        sorted set (all scores 0, so ordered by id): the bucket's ids
 *   <prefix>buckets                 sorted set of buckets that hold commit records
 *   <prefix>{e:<namespace>}         hash:   id -> entry bytes (membership, intents, GC lease)
 *
 * A bucket is the version id's first 8 characters (about 65 s of commits). Its hash and
 * index share a hash tag, so one Lua script writes both atomically even on a cluster:
 * HSETNX is the put-if-absent, and the record joins the index in the same step, so it is
 * listed exactly when it exists. Versions spread over every slot; batches go out through
 * ioredis auto-pipelining, which sends one pipeline per node per tick, grouped by the slots
 * that node serves.
 *
 * On a standalone server versions and record go in one Lua script (putVersionsAndRecord).
 *
 * Over 400 lines: one engine's whole mapping of the contract, each method a few Redis calls;
 * split, its key layout would be read in two places.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { appendAll } from './append-all.js';
import { backoffDelay, raceSignal } from './backoff.js';
import { commitBucketOf, firstBucketAfter, isSettledBucket } from './commit-buckets.js';
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
  type ListOptions,
  type StorageAdapter,
  TermedWriteOutcome,
  type VersionRef,
  type VersionWrite,
  type WriteTerms,
} from './contract.js';
import { missingEnginePackage } from './engine-packages.js';
import { ListingRests } from './listing-rests.js';
import { decodeStoredRecord, encodeRecord } from './record-codec.js';

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisAdapterOptions {
  /** A standalone server's URL, `redis://[user:password@]host:port/db` or `rediss://` for TLS. */
  readonly url?: string;
  /** Start-up nodes of a Redis Cluster; set this instead of `url` for a cluster. */
  readonly clusterNodes?: readonly RedisNodeAddress[];
  /** Your own client; aft uses it as it is and leaves it open on `close()`. */
  readonly client?: Redis | Cluster;
  /** Put before every key aft writes; must not contain `{` or `}`. @default 'aft:' */
  readonly prefix?: string;
  /** Extra ioredis options (password, tls, ...), for the standalone client or each cluster node. */
  readonly redisOptions?: RedisOptions;
  /** Extra ioredis Cluster options. */
  readonly clusterOptions?: ClusterOptions;
}

type Client = Redis | Cluster;

interface AftCommands {
  aftPutRecord(hash: string, ids: string, versionId: string, record: Buffer): Promise<number>;
  aftSwapEntry(
    hash: string,
    id: string,
    expects: '0' | '1',
    expected: Buffer,
    value: Buffer,
  ): Promise<number>;
  aftPutVersionsAndRecord(keyCount: number, ...keysThenArgs: Array<string | Buffer>): Promise<number>;
  aftPutVersionsAndRecordBy(keyCount: number, ...keysThenArgs: Array<string | Buffer>): Promise<number>;
  aftDeleteRecords(hash: string, ids: string, ...versionIds: string[]): Promise<number>;
}

/**
 * KEYS: the namespace's entry hash; ARGV: the id, whether an entry is expected ('1' or '0'),
 * the expected value, the new value. One key: it runs on Redis Cluster too.
 */
const SWAP_ENTRY_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if current == false or current ~= ARGV[3] then return 0 end
elseif current ~= false then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1`;

const PUT_RECORD_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
  return 1
end
return 0`;

/**
 * The end of both commit scripts: the versions (KEYS[first] on, each with its ARGV), then the
 * bucket, and the record last, so a script refused midway never leaves a record without them.
 */
const writeVersionsThenRecord = (first: number) => `
for i = ${first}, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i])
end
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1`;

/**
 * KEYS: the bucket's record hash and id index, the bucket index, then one key per version;
 * ARGV: the version id, the record, the bucket, then the versions' bytes. Checks first and
 * writes the record last: a write refused halfway (out of memory) leaves versions without a
 * record, which the commit's intent lets the collector find, never a record without them.
 */
const PUT_VERSIONS_AND_RECORD_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
${writeVersionsThenRecord(4)}`;

/**
 * putVersionsAndRecordBy: as above, with the refusals hash as KEYS[4] and the refused txid as
 * ARGV[4] (the versions from 5), and the deadline last. 0: the record id is taken; 2: the
 * txid is refused; 3: the server's clock is past the deadline; 1: written. A script that read
 * TIME may still write where Redis replicates a script's effects, not the script: always
 * since 7, by default since 5, and on 3.2-4 once it asks (replicate_commands, a no-op since).
 */
const PUT_VERSIONS_AND_RECORD_BY_SCRIPT = `
redis.replicate_commands()
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then
  return 2
end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[#KEYS + 1]) then
  return 3
end
${writeVersionsThenRecord(5)}`;

const TERMED_OUTCOMES: Readonly<Record<number, TermedWriteOutcome>> = {
  0: TermedWriteOutcome.TAKEN,
  1: TermedWriteOutcome.CREATED,
  2: TermedWriteOutcome.REFUSED,
  3: TermedWriteOutcome.LATE,
};

const DELETE_RECORDS_SCRIPT = `
for _, id in ipairs(ARGV) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return redis.call('ZCARD', KEYS[2])`;

const LIST_PAGE = 1000;
/** Fields of one HSET or HDEL: a command of bounded size, however large the batch. */
const ENTRIES_PER_COMMAND = 1000;

/** ioredis reconnects with this: exponential, full jitter, capped at 2 s. */
const reconnectDelay = (times: number) => Math.max(10, backoffDelay(times, 50, 2000));

export class RedisAdapter implements StorageAdapter {
  readonly name: string;
  readonly prefix: string;
  private readonly options: RedisAdapterOptions;
  private client: (Client & AftCommands) | undefined;
  private readonly ownsClient: boolean;
  private lastConnectionError: Error | undefined;
  private connecting: Promise<Client & AftCommands> | undefined;
  /** Buckets this adapter has put in the bucket index; adding one again is skipped. */
  private readonly listedBuckets = new Set<string>();
  /** The rest of entry listings in progress, for their next pages. */
  private readonly listings = new ListingRests<Entry>();

  constructor(options: RedisAdapterOptions) {
    const prefix = options.prefix ?? 'aft:';
    if (/[{}]/.test(prefix))
      throw new TypeError(`redis key prefix ${JSON.stringify(prefix)} contains { or }`);
    if (!options.client && !options.url && !options.clusterNodes?.length) {
      throw new TypeError('RedisAdapter needs url, clusterNodes or client');
    }
    this.options = options;
    this.prefix = prefix;
    this.ownsClient = options.client === undefined;
    this.name = options.clusterNodes || options.client?.isCluster ? 'redis-cluster' : 'redis';
    // One script may touch keys of one slot only on a cluster, and versions spread over all.
    if (this.name === 'redis') {
      this.putVersionsAndRecord = (versions, record, call) => this.putAtomically(versions, record, call);
      this.putVersionsAndRecordBy = (versions, record, terms, call) =>
        this.putAtomicallyBy(versions, record, terms, call);
    }
  }

  putVersionsAndRecordBy?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    terms: WriteTerms,
    options?: CallOptions,
  ) => Promise<TermedWriteOutcome>;

  /** Versions and record in one script that reads the server's clock (no intent needed). */
  private async putAtomicallyBy(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    terms: WriteTerms,
    options?: CallOptions,
  ): Promise<TermedWriteOutcome> {
    options?.signal?.throwIfAborted();
    assertWriteIds(versions, record);
    assertEntryName(terms.unless.namespace, terms.unless.id);
    const { keys, args } = this.commitScriptOperands(versions, record, {
      key: this.entriesKey(terms.unless.namespace),
      arg: terms.unless.id,
    });
    args.push(String(Math.floor(terms.deadlineMs)));
    const redis = await this.redis();
    const outcome = await raceSignal(
      redis.aftPutVersionsAndRecordBy(keys.length, ...keys, ...args),
      options?.signal,
    );
    const known = TERMED_OUTCOMES[outcome];
    if (known === undefined) throw new Error(`unexpected answer ${outcome} from the commit script`);
    return known;
  }

  putVersionsAndRecord?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: CallOptions,
  ) => Promise<boolean>;

  /** Versions and record in one script on a standalone server (atomic, and one round trip). */
  private async putAtomically(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertWriteIds(versions, record);
    const { keys, args } = this.commitScriptOperands(versions, record);
    const redis = await this.redis();
    const created = await raceSignal(
      redis.aftPutVersionsAndRecord(keys.length, ...keys, ...args),
      options?.signal,
    );
    return created === 1;
  }

  /**
   * KEYS and ARGV of the commit scripts: the record's hash, id index and bucket index with the
   * version id, the record and the bucket; then `extra`'s key and argument; then one key per
   * version with its bytes.
   */
  private commitScriptOperands(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    extra?: { readonly key: string; readonly arg: string },
  ): { keys: Array<string | Buffer>; args: Array<string | Buffer> } {
    const bucket = commitBucketOf(record.versionId);
    const keys: Array<string | Buffer> = [this.recordsKey(bucket), this.idsKey(bucket), this.bucketsKey()];
    const args: Array<string | Buffer> = [record.versionId, Buffer.from(encodeRecord(record)), bucket];
    if (extra) {
      keys.push(extra.key);
      args.push(extra.arg);
    }
    for (const { key, versionId, value } of versions) {
      keys.push(this.versionKey(key, versionId));
      args.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
    return { keys, args };
  }

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    for (const { versionId } of versions) assertVersionId(versionId);
    const redis = await this.redis();
    // All commands start in this tick, so auto-pipelining sends them as one pipeline per node.
    await raceSignal(
      Promise.all(
        versions.map(({ key, versionId, value }) =>
          redis.set(
            this.versionKey(key, versionId),
            Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          ),
        ),
      ),
      options?.signal,
    );
  }

  async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(ref.versionId);
    const value = await raceSignal(
      (await this.redis()).getBuffer(this.versionKey(ref.key, ref.versionId)),
      options?.signal,
    );
    return value === null ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertVersionId(record.versionId);
    const redis = await this.redis();
    const bucket = commitBucketOf(record.versionId);
    // The bucket is indexed before its first record, so a listing never misses a record.
    if (!this.listedBuckets.has(bucket)) {
      await raceSignal(redis.zadd(this.bucketsKey(), 0, bucket), options?.signal);
      if (this.listedBuckets.size > 10_000) this.listedBuckets.clear();
      this.listedBuckets.add(bucket);
    }
    const created = await raceSignal(
      redis.aftPutRecord(
        this.recordsKey(bucket),
        this.idsKey(bucket),
        record.versionId,
        Buffer.from(encodeRecord(record)),
      ),
      options?.signal,
    );
    return created === 1;
  }

  async getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(versionId);
    const bucket = commitBucketOf(versionId);
    const bytes = await raceSignal(
      (await this.redis()).hgetBuffer(this.recordsKey(bucket), versionId),
      options?.signal,
    );
    return bytes === null ? undefined : decodeStoredRecord(bytes, versionId);
  }

  async listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
    const limit = options?.limit ?? Number.POSITIVE_INFINITY;
    const redis = await this.redis();
    const records: CommitRecord[] = [];
    await this.walkCommitIds(after, options?.signal, limit, records, async (bucket, ids) => {
      const values = await raceSignal(redis.hmgetBuffer(this.recordsKey(bucket), ...ids), options?.signal);
      // A record deleted between the two calls is simply no longer there.
      for (const [i, value] of values.entries()) if (value) records.push(decodeStoredRecord(value, ids[i]!));
    });
    return records;
  }

  async listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]> {
    const listed: string[] = [];
    await this.walkCommitIds(
      after,
      options?.signal,
      options?.limit ?? Number.POSITIVE_INFINITY,
      listed,
      async (_, ids) => {
        appendAll(listed, ids);
      },
    );
    return listed;
  }

  /**
   * Walks the commit ids after `after` in order, a page of one bucket at a time, handing each
   * page to `visit`, which adds to `into`, until `into` holds `limit` items or the ids end.
   */
  private async walkCommitIds(
    after: string | undefined,
    signal: AbortSignal | undefined,
    limit: number,
    into: readonly unknown[],
    visit: (bucket: string, ids: string[]) => Promise<void>,
  ): Promise<void> {
    signal?.throwIfAborted();
    const redis = await this.redis();
    const firstBucket = firstBucketAfter(after);
    let bucketFrom = firstBucket === '' ? '-' : `[${firstBucket}`;
    while (into.length < limit) {
      const buckets = await raceSignal(
        redis.zrangebylex(this.bucketsKey(), bucketFrom, '+', 'LIMIT', 0, 100),
        signal,
      );
      for (const bucket of buckets) {
        let idFrom = after === undefined ? '-' : `(${after}`;
        while (into.length < limit) {
          const want = Math.min(LIST_PAGE, limit - into.length);
          const ids = await raceSignal(
            redis.zrangebylex(this.idsKey(bucket), idFrom, '+', 'LIMIT', 0, want),
            signal,
          );
          if (ids.length === 0) break;
          await visit(bucket, ids);
          if (ids.length < want) break;
          idFrom = `(${ids[ids.length - 1]}`;
        }
        if (into.length >= limit) break;
      }
      if (buckets.length < 100) break;
      bucketFrom = `(${buckets[buckets.length - 1]}`;
    }
  }

  async deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    for (const { versionId } of refs) assertVersionId(versionId);
    const redis = await this.redis();
    // UNLINK frees memory off the main thread; one key per command keeps each in its own slot.
    await raceSignal(
      Promise.all(refs.map(({ key, versionId }) => redis.unlink(this.versionKey(key, versionId)))),
      options?.signal,
    );
  }

  async deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const byBucket = new Map<string, string[]>();
    for (const versionId of versionIds) {
      assertVersionId(versionId);
      const bucket = commitBucketOf(versionId);
      const ids = byBucket.get(bucket) ?? [];
      ids.push(versionId);
      byBucket.set(bucket, ids);
    }
    const redis = await this.redis();
    await raceSignal(
      Promise.all(
        [...byBucket].map(async ([bucket, ids]) => {
          const remaining = await redis.aftDeleteRecords(
            this.recordsKey(bucket),
            this.idsKey(bucket),
            ...ids,
          );
          // An empty bucket leaves the index only when no commit can land in it any more.
          if (remaining === 0 && isSettledBucket(bucket)) {
            await redis.zrem(this.bucketsKey(), bucket);
            this.listedBuckets.delete(bucket);
          }
        }),
      ),
      options?.signal,
    );
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    await raceSignal(
      (await this.redis()).hset(this.entriesKey(namespace), id, Buffer.from(value)),
      options?.signal,
    );
  }

  /** HSETs of the namespace's hash, ENTRIES_PER_COMMAND fields each, sent in one pipeline. */
  async putEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    const redis = await this.redis();
    const key = this.entriesKey(namespace);
    // Commands of bounded size, however many: one HSET holds Redis's single thread throughout.
    const writes: Promise<number>[] = [];
    for (let i = 0; i < entries.length; i += ENTRIES_PER_COMMAND) {
      const fields = new Map<string, Buffer>();
      for (const { id, value } of entries.slice(i, i + ENTRIES_PER_COMMAND))
        fields.set(id, Buffer.from(value));
      writes.push(redis.hset(key, fields));
    }
    await raceSignal(Promise.all(writes), options?.signal);
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    const created = await raceSignal(
      (await this.redis()).hsetnx(this.entriesKey(namespace), id, Buffer.from(value)),
      options?.signal,
    );
    return created === 1;
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
    const swapped = await raceSignal(
      (await this.redis()).aftSwapEntry(
        this.entriesKey(namespace),
        id,
        expected === undefined ? '0' : '1',
        Buffer.from(expected ?? new Uint8Array(0)),
        Buffer.from(value),
      ),
      options?.signal,
    );
    return swapped === 1;
  }

  async time(options?: CallOptions): Promise<number> {
    options?.signal?.throwIfAborted();
    const [seconds, micros] = await raceSignal((await this.redis()).time(), options?.signal);
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  async getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    const value = await raceSignal(
      (await this.redis()).hgetBuffer(this.entriesKey(namespace), id),
      options?.signal,
    );
    return value === null ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    const after = options?.after;
    const limit = options?.limit ?? Number.POSITIVE_INFINITY;
    // A namespace is one hash, which only HGETALL reads in id order: the next pages of a
    // listing come from what its first page read (each page read all of it once: n²/page).
    let rest = after === undefined ? undefined : this.listings.take(namespace, after);
    if (!rest) {
      const all = await raceSignal(
        (await this.redis()).hgetallBuffer(this.entriesKey(namespace)),
        options?.signal,
      );
      const items = Object.keys(all)
        .filter((id) => after === undefined || id > after)
        .sort()
        .map((id) => {
          const value = all[id]!;
          return { id, value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
        });
      rest = { items, from: 0 };
    }
    const page = rest.items.slice(rest.from, rest.from + limit);
    if (page.length > 0)
      this.listings.keep(namespace, page[page.length - 1]!.id, {
        items: rest.items,
        from: rest.from + page.length,
      });
    return page;
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(ids);
    const redis = await this.redis();
    const key = this.entriesKey(namespace);
    const deletes: Promise<number>[] = [];
    for (let i = 0; i < ids.length; i += ENTRIES_PER_COMMAND)
      deletes.push(redis.hdel(key, ...ids.slice(i, i + ENTRIES_PER_COMMAND)));
    await raceSignal(Promise.all(deletes), options?.signal);
  }

  /** Redis needs nothing created: this checks that the server answers. */
  async init(options?: CallOptions): Promise<void> {
    await raceSignal((await this.redis()).ping(), options?.signal);
  }

  connectionError(): Error | undefined {
    return this.client?.status === 'ready' ? undefined : this.lastConnectionError;
  }

  async durabilityWarnings(options: CallOptions = {}): Promise<string[]> {
    const client = await this.redis();
    const servers = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
    const warnings = new Set<string>();
    for (const server of servers) {
      const where = `redis at ${server.options.host ?? '?'}:${server.options.port ?? '?'}`;
      let config: string[];
      try {
        config = (await raceSignal(
          server.config('GET', 'appendonly', 'appendfsync', 'maxmemory-policy'),
          options.signal,
        )) as string[];
      } catch (error) {
        warnings.add(
          `${where}: could not read its configuration (${(error as Error).message}): make sure appendonly is yes and maxmemory-policy is noeviction, or a restart or eviction loses acknowledged commits`,
        );
        continue;
      }
      const settings = new Map<string, string>();
      for (let index = 0; index + 1 < config.length; index += 2)
        settings.set(config[index]!, config[index + 1]!);
      if (settings.get('appendonly') === 'no') {
        warnings.add(
          `${where}: appendonly is off: a restart loses acknowledged commits (set appendonly yes, with appendfsync everysec or always)`,
        );
      } else if (settings.get('appendfsync') === 'no') {
        warnings.add(
          `${where}: appendfsync is no: a crash of its machine may lose acknowledged commits (use everysec or always)`,
        );
      }
      // aft sets no expiry on its keys, so only the allkeys-* policies can evict them.
      const policy = settings.get('maxmemory-policy') ?? '';
      if (policy.startsWith('allkeys-')) {
        warnings.add(
          `${where}: maxmemory-policy is ${policy}: Redis may evict commit records and versions under memory pressure (use noeviction)`,
        );
      }
    }
    return [...warnings];
  }

  async close(options?: CallOptions): Promise<void> {
    // A client still being created is closed once it is there.
    const connecting = this.connecting;
    this.connecting = undefined;
    let client = this.client;
    if (!client && connecting) {
      client = await raceSignal(connecting, options?.signal).catch(() => {
        // Given up on: cut whenever it comes.
        connecting.then(
          (late) => late.disconnect(),
          () => undefined,
        );
        return undefined;
      });
    }
    this.client = undefined;
    if (!client || !this.ownsClient) return;
    // QUIT lets replies in flight arrive; with no connection it would wait for a reconnect, and
    // a stalled server never answers it: past the signal the connection is cut.
    if (client.status === 'ready') await raceSignal(client.quit(), options?.signal).catch(() => undefined);
    client.disconnect();
  }

  /** The client, created on first use (ioredis is loaded then, not when aft is imported). */
  private redis(): Promise<Client & AftCommands> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect();
    return this.connecting;
  }

  private async connect(): Promise<Client & AftCommands> {
    const { Cluster, Redis } = await import('ioredis').catch(missingEnginePackage('ioredis', 'redis'));
    if (this.client) return this.client;
    const common: RedisOptions = {
      enableAutoPipelining: true,
      // Fail a command after a few reconnects, so the shim answers 503 instead of hanging.
      maxRetriesPerRequest: 3,
      // No command waits forever. A command that timed out may still be delivered later: abort
      // markers make a late commit record safe (shim/commit-outcome.ts).
      commandTimeout: 20_000,
      retryStrategy: reconnectDelay,
      ...this.options.redisOptions,
    };
    const client: Client =
      this.options.client ??
      (this.options.clusterNodes
        ? new Cluster(
            this.options.clusterNodes.map(({ host, port }) => ({ host, port })),
            {
              enableAutoPipelining: true,
              clusterRetryStrategy: reconnectDelay,
              scaleReads: 'master',
              ...this.options.clusterOptions,
              redisOptions: common,
            },
          )
        : new Redis(this.options.url!, common));
    // Errors reach the caller through the failed command; without a listener ioredis would
    // print every reconnect attempt. A client the user passed keeps the user's own handling.
    if (this.ownsClient) {
      client.on('error', (error: Error) => {
        this.lastConnectionError = error;
      });
      client.on('ready', () => {
        this.lastConnectionError = undefined;
      });
    }
    client.defineCommand('aftPutRecord', { numberOfKeys: 2, lua: PUT_RECORD_SCRIPT });
    client.defineCommand('aftSwapEntry', { numberOfKeys: 1, lua: SWAP_ENTRY_SCRIPT });
    client.defineCommand('aftDeleteRecords', { numberOfKeys: 2, lua: DELETE_RECORDS_SCRIPT });
    client.defineCommand('aftPutVersionsAndRecord', { lua: PUT_VERSIONS_AND_RECORD_SCRIPT });
    client.defineCommand('aftPutVersionsAndRecordBy', { lua: PUT_VERSIONS_AND_RECORD_BY_SCRIPT });
    this.client = client as Client & AftCommands;
    return this.client;
  }

  private versionKey(key: string, versionId: string): Buffer {
    return Buffer.from(`${this.prefix}v:${versionId}:${key}`, 'utf8');
  }

  private recordsKey(bucket: string): string {
    return `${this.prefix}{c:${bucket}}`;
  }

  private idsKey(bucket: string): string {
    return `${this.prefix}{c:${bucket}}:ids`;
  }

  private entriesKey(namespace: string): string {
    return `${this.prefix}{e:${namespace}}`;
  }

  private bucketsKey(): string {
    return `${this.prefix}buckets`;
  }
}
