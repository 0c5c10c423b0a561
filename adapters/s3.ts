/**
 * Amazon S3 (or an S3-compatible store) on @aws-sdk/client-s3. The mapping
 * (docs/adapters/s3.md):
 *
 *   <prefix>v/<sha256(key)>/<versionId>     a version's bytes
 *   <prefix>c/<versionId>                   a commit record (JSON), written with If-None-Match: *
 *   <prefix>e/<namespace>/<id>              an entry (membership, intents, GC lease)
 *
 * Keys are hashed because an S3 object key holds at most 1024 bytes and a user's key may be
 * that long already; the hash also spreads versions evenly over S3's partitions. Commit
 * records sit under one prefix in version order, so ListObjectsV2 with StartAfter lists
 * exactly the records past a watermark. S3 is strongly consistent for every read after a write.
 */
import { createHash } from 'node:crypto';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { AWS_REQUEST_TIMEOUTS, withoutDiscardedLogging } from './aws-clients.js';
import { retryUntilDone } from './backoff.js';
import type {
  CallOptions,
  CommitRecord,
  Entry,
  EntryListOptions,
  ListOptions,
  StorageAdapter,
  VersionRef,
  VersionWrite,
} from './contract.js';
import { assertEntryName, assertEntryNames, assertSwappable, assertVersionId } from './contract.js';
import { missingEnginePackage } from './engine-packages.js';
import { listRecordsByIds } from './listed-records.js';
import { mapLimit } from './map-limit.js';
import { decodeStoredRecord, encodeRecord } from './record-codec.js';

export interface S3AdapterOptions {
  readonly bucket: string;
  /** Put before every object key, e.g. `prod/aft`; a `/` is added when missing. @default '' */
  readonly prefix?: string;
  /** Your own client; aft uses it as it is and leaves it open on `close()`. */
  readonly client?: S3Client;
  /** Configuration of the client aft creates (region, endpoint, credentials, ...). */
  readonly clientConfig?: S3ClientConfig;
  /** Requests one batch (a commit's versions, a listing's records) keeps in flight. @default 32 */
  readonly concurrency?: number;
}

const DELETE_BATCH = 1000;

const LIST_PAGE = 1000;

export class S3Adapter implements StorageAdapter {
  readonly name = 's3';
  readonly bucket: string;
  readonly prefix: string;
  private readonly options: S3AdapterOptions;
  private readonly concurrency: number;
  private client: S3Client | undefined;

  constructor(options: S3AdapterOptions) {
    if (!options.bucket) throw new TypeError('S3Adapter needs a bucket');
    const prefix = options.prefix ?? '';
    this.options = options;
    this.bucket = options.bucket;
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.concurrency = options.concurrency ?? 32;
  }

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    for (const { versionId } of versions) assertVersionId(versionId);
    await mapLimit(versions, this.concurrency, async ({ key, versionId, value }) => {
      await (await this.s3()).send(
        new (await s3Sdk()).PutObjectCommand({
          Bucket: this.bucket,
          Key: this.versionKey(key, versionId),
          Body: value,
          Metadata: digestMetadata(value),
        }),
        { abortSignal: options?.signal },
      );
    });
  }

  async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(ref.versionId);
    return this.getObject(this.versionKey(ref.key, ref.versionId), options);
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertVersionId(record.versionId);
    return this.putIfAbsent(
      this.recordKey(record.versionId),
      encodeRecord(record),
      'application/json',
      options,
    );
  }

  async getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(versionId);
    const bytes = await this.getObject(this.recordKey(versionId), options);
    return bytes && decodeStoredRecord(bytes, versionId);
  }

  async listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
    return listRecordsByIds(this, after, options, this.concurrency);
  }

  async listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    return this.listIds(
      `${this.prefix}c/`,
      after === undefined ? undefined : this.recordKey(after),
      options?.limit ?? Number.POSITIVE_INFINITY,
      options,
    );
  }

  async deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void> {
    for (const { versionId } of refs) assertVersionId(versionId);
    await this.deleteKeys(
      refs.map(({ key, versionId }) => this.versionKey(key, versionId)),
      options,
    );
  }

  async deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void> {
    for (const versionId of versionIds) assertVersionId(versionId);
    await this.deleteKeys(
      versionIds.map((versionId) => this.recordKey(versionId)),
      options,
    );
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    await (await this.s3()).send(
      new (await s3Sdk()).PutObjectCommand({
        Bucket: this.bucket,
        Key: this.entryKey(namespace, id),
        Body: value,
        Metadata: digestMetadata(value),
      }),
      {
        abortSignal: options?.signal,
      },
    );
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    return this.putIfAbsent(this.entryKey(namespace, id), value, 'application/octet-stream', options);
  }

  /**
   * Reads the entry with its ETag, compares, then writes with `If-Match` on that ETag: S3
   * answers 412 when another write came between (false), or 404 when the entry is gone.
   */
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
    const key = this.entryKey(namespace, id);
    if (expected === undefined) return this.putIfAbsent(key, value, 'application/octet-stream', options);
    const current = await this.readObject(key, options);
    if (current === undefined || current.etag === undefined) return false;
    const digest = current.metadata?.[DIGEST_METADATA];
    // A torn read is not the value: the swap is refused, and the caller reads again.
    if (digest !== undefined && digestOf(current.bytes) !== digest) return false;
    if (!Buffer.from(current.bytes).equals(expected)) return false;
    try {
      await (await this.s3()).send(
        new (await s3Sdk()).PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: value,
          Metadata: digestMetadata(value),
          IfMatch: current.etag,
        }),
        { abortSignal: options?.signal },
      );
      return true;
    } catch (error) {
      const status = httpStatusOf(error);
      // 412: another write since the read; 404: deleted since; 409: a conditional write racing.
      if (status === 412 || status === 404 || status === 409) return false;
      throw error;
    }
  }

  async getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    return this.getObject(this.entryKey(namespace, id), options);
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    const ids = await this.listIds(
      `${this.prefix}e/${namespace}/`,
      options?.after === undefined ? undefined : this.entryKey(namespace, options.after),
      options?.limit ?? Number.POSITIVE_INFINITY,
      options,
    );
    const entries = await mapLimit(ids, this.concurrency, async (id) => {
      const value = await this.getObject(this.entryKey(namespace, id), options);
      return value && { id, value };
    });
    return entries.filter((entry): entry is Entry => entry !== undefined);
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    assertEntryName(namespace);
    assertEntryNames(ids);
    await this.deleteKeys(
      ids.map((id) => this.entryKey(namespace, id)),
      options,
    );
  }

  /** Creates the bucket unless it exists already. */
  async init(options?: CallOptions): Promise<void> {
    try {
      await (await this.s3()).send(new (await s3Sdk()).HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: options?.signal,
      });
      return;
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
    }
    try {
      await (await this.s3()).send(new (await s3Sdk()).CreateBucketCommand({ Bucket: this.bucket }), {
        abortSignal: options?.signal,
      });
    } catch (error) {
      if ((error as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw error;
    }
  }

  async close(): Promise<void> {
    if (this.client && !this.options.client) this.client.destroy();
    this.client = undefined;
  }

  /** The client, created on first use (the SDK is loaded then, not when aft is imported). */
  private async s3(): Promise<S3Client> {
    if (this.client) return this.client;
    const { S3Client } = await s3Sdk();
    this.client ??=
      this.options.client ??
      withoutDiscardedLogging(
        new S3Client({
          // Checksums of every body cost CPU on the hot path and some S3-compatible stores
          // reject them; S3 still gets them where an operation requires one.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          // The SDK's standard retry: exponential backoff with jitter on throttling and 5xx.
          maxAttempts: 5,
          requestHandler: AWS_REQUEST_TIMEOUTS,
          ...this.options.clientConfig,
        }),
        this.options.clientConfig,
      );
    return this.client;
  }

  /**
   * An object's bytes, checked against the digest aft wrote with it (objects written before
   * aft wrote digests are taken as they are). Bytes that do not match are asked for again, a
   * few times, then the call fails: a torn object is never answered as a value.
   */
  private async getObject(key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      const read = await this.readObject(key, options);
      if (read === undefined) return undefined;
      const expected = read.metadata?.[DIGEST_METADATA];
      if (expected === undefined || digestOf(read.bytes) === expected) return read.bytes;
      if (attempt >= DIGEST_ATTEMPTS) {
        throw new Error(
          `S3 answered ${key} with ${read.bytes.byteLength} bytes that do not match the digest aft wrote with it`,
        );
      }
    }
  }

  private async readObject(
    key: string,
    options?: CallOptions,
  ): Promise<
    { bytes: Uint8Array; metadata: Record<string, string> | undefined; etag: string | undefined } | undefined
  > {
    try {
      const answer = await (await this.s3()).send(
        new (await s3Sdk()).GetObjectCommand({ Bucket: this.bucket, Key: key }),
        {
          abortSignal: options?.signal,
        },
      );
      const body = answer.Body as (NonNullable<typeof answer.Body> & Partial<NodeStreamState>) | undefined;
      // A connection reset while the body streams in must fail this call, and neither hang
      // it (a stream destroyed before anyone listens never ends) nor crash the process.
      body?.on?.('error', () => undefined);
      if (body?.destroyed) throw new Error(`S3 connection was reset while reading ${key}`);
      const bytes = (await body?.transformToByteArray()) ?? new Uint8Array(0);
      return { bytes, metadata: answer.Metadata, etag: answer.ETag };
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async deleteKeys(keys: readonly string[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += DELETE_BATCH) batches.push(keys.slice(i, i + DELETE_BATCH));
    await mapLimit(batches, 4, async (batch) => {
      const answer = await (await this.s3()).send(
        new (await s3Sdk()).DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
        { abortSignal: options?.signal },
      );
      const failed = answer.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new Error(
          `S3 could not delete ${failed.length} objects, first ${first.Key}: ${first.Code} ${first.Message}`,
        );
      }
    });
  }

  /** The names under `prefix` after the key `startAfter`, in order, at most `limit`. */
  private async listIds(
    prefix: string,
    startAfter: string | undefined,
    limit: number,
    options?: CallOptions,
  ): Promise<string[]> {
    const ids: string[] = [];
    let from = startAfter;
    while (ids.length < limit) {
      const page = await (await this.s3()).send(
        new (await s3Sdk()).ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(from !== undefined && { StartAfter: from }),
          MaxKeys: Math.min(LIST_PAGE, limit - ids.length),
        }),
        { abortSignal: options?.signal },
      );
      const keys = (page.Contents ?? []).map((object) => object.Key ?? '').filter(Boolean);
      ids.push(...keys.map((key) => key.slice(prefix.length)));
      if (!page.IsTruncated || keys.length === 0) break;
      from = keys[keys.length - 1];
    }
    return ids.slice(0, limit);
  }

  /**
   * PutObject with If-None-Match: *. S3 answers 412 when the key exists (false) and 409
   * while another conditional write of the key is in flight (retried with backoff).
   */
  private async putIfAbsent(
    key: string,
    body: Uint8Array,
    contentType: string,
    options?: CallOptions,
  ): Promise<boolean> {
    let created = false;
    const metadata = digestMetadata(body);
    await retryUntilDone(
      `put-if-absent of ${key}`,
      async () => {
        try {
          await (await this.s3()).send(
            new (await s3Sdk()).PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: body,
              ContentType: contentType,
              Metadata: metadata,
              IfNoneMatch: '*',
            }),
            { abortSignal: options?.signal },
          );
          created = true;
          return true;
        } catch (error) {
          if (httpStatusOf(error) === 412) return true;
          if (httpStatusOf(error) === 409) return false;
          throw error;
        }
      },
      { signal: options?.signal },
    );
    return created;
  }

  private entryKey(namespace: string, id: string): string {
    return `${this.prefix}e/${namespace}/${id}`;
  }

  private versionKey(key: string, versionId: string): string {
    const hash = createHash('sha256').update(key, 'utf8').digest('hex');
    return `${this.prefix}v/${hash}/${versionId}`;
  }

  private recordKey(versionId: string): string {
    return `${this.prefix}c/${versionId}`;
  }
}

/** What a Node response stream has beyond the SDK's body type. */
interface NodeStreamState {
  readonly destroyed: boolean;
  on(event: 'error', listener: () => void): unknown;
}

function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

type S3Sdk = typeof import('@aws-sdk/client-s3');
let loadingS3Sdk: Promise<S3Sdk> | undefined;

/** @aws-sdk/client-s3, loaded once, on first use. */
function s3Sdk(): Promise<S3Sdk> {
  loadingS3Sdk ??= import('@aws-sdk/client-s3').catch(missingEnginePackage('@aws-sdk/client-s3', 's3'));
  return loadingS3Sdk;
}

/** The user metadata (`x-amz-meta-aft-md5`) that carries an object's digest. */
const DIGEST_METADATA = 'aft-md5';
/** Reads of an object whose bytes do not match its digest before the call fails. */
const DIGEST_ATTEMPTS = 3;

function digestOf(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

function digestMetadata(bytes: Uint8Array): Record<string, string> {
  return { [DIGEST_METADATA]: digestOf(bytes) };
}
