/**
 * The embedded default: a directory on local disk, no server needed.
 *
 *   <root>/versions/<h[0:2]>/<h>/<versionId>      h = sha256 hex of the key's UTF-8 bytes
 *   <root>/commits/<versionId[0:8]>/<versionId>.json
 *   <root>/entries/<namespace>/<id>               node cooperation entries
 *   <root>/swapped/<namespace>/<id>/<generation>  entries swapEntry wrote (./file-swaps.ts)
 *   <root>/tmp/                                    files being written
 *
 * Keys are hashed so that any key of up to 1024 bytes (with `/`, `%`, NUL, ...) maps to a
 * short, safe file name. Commit records are grouped in buckets of the version id's first 8
 * characters (about 65 s of commits each), so listing past a watermark reads only the
 * buckets at or after it.
 *
 * Crash safety: every file is written whole to `tmp/`, fsynced, then moved into place, and
 * the directory that gained it is fsynced before the call resolves. A SIGKILL (or power loss,
 * with `fsync` on) at any instant leaves either no file or the complete file. Commit records
 * are moved into place with link(2), which fails with EEXIST when the target exists: an
 * atomic put-if-absent that holds across processes sharing the directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { appendAll } from './append-all.js';
import { commitBucketOf, firstBucketAfter } from './commit-buckets.js';
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
import { readdirIfExists, readIfExists, SwappedEntries, unlinkIfExists } from './file-swaps.js';
import { listRecordsByIds } from './listed-records.js';
import { mapLimit } from './map-limit.js';
import { decodeStoredRecord, encodeRecord } from './record-codec.js';

export interface FileAdapterOptions {
  /** The data directory; created when missing. */
  readonly directory: string;
  /**
   * fsync files and directories before acknowledging. Off survives a process crash but not
   * a power loss. @default true
   */
  readonly fsync?: boolean;
  /** How many files one batch works on at once. @default 32 */
  readonly concurrency?: number;
  /**
   * The file system calls the adapter makes, for tests that record them or inject a crash
   * between two of them. @default node:fs/promises
   */
  readonly fileSystem?: FileSystem;
}

/** The calls of node:fs/promises the file adapter uses. */
export type FileSystem = Pick<
  typeof nodeFs,
  'link' | 'mkdir' | 'open' | 'readdir' | 'readFile' | 'rename' | 'rmdir' | 'stat' | 'unlink'
>;

const STALE_TMP_MS = 60 * 60 * 1000;

export class FileAdapter implements StorageAdapter {
  readonly name = 'file';
  readonly directory: string;
  private readonly fsync: boolean;
  private readonly concurrency: number;
  private readonly knownDirectories = new Map<string, Promise<void>>();
  private tmpCounter = 0;
  private readonly tmpPrefix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private opened: Promise<void> | undefined;
  private readonly fs: FileSystem;
  private readonly swapped: SwappedEntries;

  constructor(options: FileAdapterOptions) {
    this.fs = options.fileSystem ?? nodeFs;
    this.directory = resolve(options.directory);
    this.fsync = options.fsync ?? true;
    this.concurrency = options.concurrency ?? 32;
    this.swapped = new SwappedEntries({
      fs: this.fs,
      root: this.directory,
      writeTemp: (bytes) => this.writeTemp(bytes),
      ensureDirectory: (directory) => this.ensureDirectory(directory),
      syncDirectory: (directory) => this.syncDirectory(directory),
    });
  }

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await this.open();
    const touched = new Set<string>();
    await mapLimit(versions, this.concurrency, async ({ key, versionId, value }) => {
      options?.signal?.throwIfAborted();
      assertVersionId(versionId);
      const directory = this.keyDirectory(key);
      await this.ensureDirectory(directory);
      const tmp = await this.writeTemp(value);
      await this.fs.rename(tmp, join(directory, versionId));
      touched.add(directory);
    });
    await mapLimit([...touched], this.concurrency, (directory) => this.syncDirectory(directory));
  }

  async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(ref.versionId);
    return readIfExists(this.fs, join(this.keyDirectory(ref.key), ref.versionId), options);
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    await this.open();
    options?.signal?.throwIfAborted();
    assertVersionId(record.versionId);
    const body = encodeRecord(record);
    const tmp = await this.writeTemp(body);
    const directory = this.commitBucket(record.versionId);
    const target = join(directory, `${record.versionId}.json`);
    try {
      for (let attempt = 0; ; attempt++) {
        await this.ensureDirectory(directory);
        try {
          await this.fs.link(tmp, target);
          break;
        } catch (error) {
          if (errorCode(error) === 'EEXIST') return false;
          // A concurrent deleteCommitRecords may have removed the empty bucket: make it again.
          if (errorCode(error) !== 'ENOENT' || attempt > 2) throw error;
          this.knownDirectories.delete(directory);
        }
      }
      await this.syncDirectory(directory);
      return true;
    } finally {
      await this.fs.unlink(tmp).catch(() => undefined);
    }
  }

  async getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined> {
    options?.signal?.throwIfAborted();
    assertVersionId(versionId);
    const bytes = await readIfExists(
      this.fs,
      join(this.commitBucket(versionId), `${versionId}.json`),
      options,
    );
    return bytes && decodeStoredRecord(bytes, versionId);
  }

  async listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
    return listRecordsByIds(this, after, options, this.concurrency);
  }

  async listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    const limit = options?.limit ?? Number.POSITIVE_INFINITY;
    const commitsRoot = join(this.directory, 'commits');
    const buckets = (await readdirIfExists(this.fs, commitsRoot)).sort();
    const firstBucket = firstBucketAfter(after);
    const ids: string[] = [];
    for (const bucket of buckets) {
      if (bucket < firstBucket) continue;
      options?.signal?.throwIfAborted();
      const names = await readdirIfExists(this.fs, join(commitsRoot, bucket));
      const bucketIds = names
        .filter((name) => name.endsWith('.json'))
        .map((name) => name.slice(0, -'.json'.length))
        .filter((id) => after === undefined || id > after)
        .sort();
      appendAll(ids, bucketIds);
      if (ids.length >= limit) break;
    }
    return ids.slice(0, limit);
  }

  async deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void> {
    await mapLimit(refs, this.concurrency, async ({ key, versionId }) => {
      options?.signal?.throwIfAborted();
      assertVersionId(versionId);
      await unlinkIfExists(this.fs, join(this.keyDirectory(key), versionId));
    });
  }

  async deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void> {
    const buckets = new Set<string>();
    await mapLimit(versionIds, this.concurrency, async (versionId) => {
      options?.signal?.throwIfAborted();
      assertVersionId(versionId);
      const directory = this.commitBucket(versionId);
      await unlinkIfExists(this.fs, join(directory, `${versionId}.json`));
      buckets.add(directory);
    });
    for (const directory of buckets) {
      // Empty buckets go, so listing does not walk a growing number of directories.
      await this.fs.rmdir(directory).then(
        () => this.knownDirectories.delete(directory),
        () => undefined,
      );
    }
  }

  async putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    await this.open();
    const directory = join(this.directory, 'entries', namespace);
    await this.ensureDirectory(directory);
    await this.fs.rename(await this.writeTemp(value), join(directory, id));
    await this.syncDirectory(directory);
  }

  /** Each as putEntry writes it, and the directory synced once for all of them. */
  async putEntries(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    assertEntryNames(entries.map(({ id }) => id));
    if (entries.length === 0) return;
    await this.open();
    const directory = join(this.directory, 'entries', namespace);
    await this.ensureDirectory(directory);
    // Of two entries with one id, the last is the one that stays, as two putEntry calls leave it.
    const last = new Map(entries.map(({ id, value }) => [id, value]));
    await mapLimit([...last], this.concurrency, async ([id, value]) => {
      options?.signal?.throwIfAborted();
      await this.fs.rename(await this.writeTemp(value), join(directory, id));
    });
    await this.syncDirectory(directory);
  }

  async createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    await this.open();
    const directory = join(this.directory, 'entries', namespace);
    await this.ensureDirectory(directory);
    const tmp = await this.writeTemp(value);
    try {
      await this.fs.link(tmp, join(directory, id));
      await this.syncDirectory(directory);
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    } finally {
      await this.fs.unlink(tmp).catch(() => undefined);
    }
  }

  /** On generations of the entry (./file-swaps.ts): link(2) decides each, across processes. */
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
    await this.open();
    return this.swapped.swap(
      namespace,
      id,
      expected,
      value,
      () => readIfExists(this.fs, join(this.directory, 'entries', namespace, id), options),
      options,
    );
  }

  async getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace, id);
    // Once swapped, its generations hold the value, deleted or not.
    const swapped = await this.swapped.newest(namespace, id, options);
    if (swapped) return swapped.value;
    return readIfExists(this.fs, join(this.directory, 'entries', namespace, id), options);
  }

  async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    options?.signal?.throwIfAborted();
    assertEntryName(namespace);
    const directory = join(this.directory, 'entries', namespace);
    const after = options?.after;
    const limit = options?.limit ?? Number.POSITIVE_INFINITY;
    const swappedIds = await this.swapped.swappedIds(namespace);
    const plainIds = (await readdirIfExists(this.fs, directory)).filter((id) => !swappedIds.has(id));
    const ids = [...plainIds, ...swappedIds]
      .filter((id) => after === undefined || id > after)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // Only the files of the page are read (every entry's were, once a page): the names, in
    // order, then as many values as the page still needs, skipping ids deleted meanwhile.
    const read = (id: string) =>
      swappedIds.has(id)
        ? this.swapped.newest(namespace, id, options).then((newest) => newest?.value)
        : readIfExists(this.fs, join(directory, id), options);
    const entries: Entry[] = [];
    for (let next = 0; next < ids.length && entries.length < limit; ) {
      const batch = ids.slice(next, next + (limit - entries.length));
      next += batch.length;
      const values = await mapLimit(batch, this.concurrency, read);
      batch.forEach((id, i) => {
        const value = values[i];
        if (value !== undefined) entries.push({ id, value });
      });
    }
    return entries;
  }

  async deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void> {
    assertEntryName(namespace);
    assertEntryNames(ids);
    await mapLimit(ids, this.concurrency, async (id) => {
      options?.signal?.throwIfAborted();
      await unlinkIfExists(this.fs, join(this.directory, 'entries', namespace, id));
      await this.swapped.delete(namespace, id);
    });
  }

  /** Creates the data directory and its layout. */
  async init(options?: CallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await this.open();
  }

  async close(): Promise<void> {
    this.knownDirectories.clear();
  }

  /** Creates the layout once and removes temp files that a crashed writer left behind. */
  private open(): Promise<void> {
    this.opened ??= (async () => {
      for (const sub of ['versions', 'commits', 'tmp']) await this.ensureDirectory(join(this.directory, sub));
      const tmpDirectory = join(this.directory, 'tmp');
      for (const name of await readdirIfExists(this.fs, tmpDirectory)) {
        const path = join(tmpDirectory, name);
        const info = await this.fs.stat(path).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs > STALE_TMP_MS) await unlinkIfExists(this.fs, path);
      }
    })().catch((error: unknown) => {
      this.opened = undefined;
      throw error;
    });
    return this.opened;
  }

  private keyDirectory(key: string): string {
    const hash = createHash('sha256').update(key, 'utf8').digest('hex');
    return join(this.directory, 'versions', hash.slice(0, 2), hash);
  }

  private commitBucket(versionId: string): string {
    return join(this.directory, 'commits', commitBucketOf(versionId));
  }

  /** Writes bytes to a new temp file and makes them durable; returns its path. */
  private async writeTemp(bytes: Uint8Array): Promise<string> {
    this.tmpCounter += 1;
    const path = join(this.directory, 'tmp', `${this.tmpPrefix}-${this.tmpCounter}`);
    const handle = await this.fs.open(
      path,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL,
      0o644,
    );
    try {
      if (bytes.byteLength > 0) await handle.writeFile(bytes);
      if (this.fsync) await handle.datasync();
    } catch (error) {
      // A write that failed (a full disk) must not keep the space it took.
      await handle.close().catch(() => undefined);
      await this.fs.unlink(path).catch(() => undefined);
      throw error;
    }
    await handle.close();
    return path;
  }

  /**
   * mkdir -p, then fsync each parent that gained an entry, so the new path survives a crash.
   * Memoized per directory, in flight included, so no caller writes into a directory whose
   * entry is not yet durable.
   */
  private ensureDirectory(directory: string): Promise<void> {
    let made = this.knownDirectories.get(directory);
    if (!made) {
      made = (async () => {
        const firstCreated = await this.fs.mkdir(directory, { recursive: true });
        if (firstCreated === undefined) return;
        for (let current = directory; current !== dirname(current); current = dirname(current)) {
          await this.syncDirectory(dirname(current));
          if (current === firstCreated) break;
        }
      })();
      made.catch(() => this.knownDirectories.delete(directory));
      this.knownDirectories.set(directory, made);
    }
    return made;
  }

  private async syncDirectory(directory: string): Promise<void> {
    if (!this.fsync) return;
    const handle = await this.fs.open(directory, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
