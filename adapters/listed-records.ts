/**
 * Commit records past a watermark, for engines that list ids and read records in separate
 * calls (the file store, S3). A record deleted between the two calls (the collector at work)
 * is skipped, and the listing goes on past it: a page may come back short, but it is empty
 * only at the end, as the contract says, however many of the ids it listed vanished.
 */
import type { CommitRecord, ListOptions, StorageAdapter } from './contract.js';
import { mapLimit } from './map-limit.js';

export async function readListedRecords(
  after: string | undefined,
  listIds: (after: string | undefined) => Promise<string[]>,
  read: (ids: readonly string[]) => Promise<readonly (CommitRecord | undefined)[]>,
): Promise<CommitRecord[]> {
  for (;;) {
    const ids = await listIds(after);
    if (ids.length === 0) return [];
    const records = (await read(ids)).filter((record): record is CommitRecord => record !== undefined);
    if (records.length > 0) return records;
    after = ids[ids.length - 1];
  }
}

/** listCommitRecords of an adapter that lists ids, then reads `concurrency` records at a time. */
export function listRecordsByIds(
  adapter: Pick<StorageAdapter, 'listCommitRecordIds' | 'getCommitRecord'>,
  after: string | undefined,
  options: ListOptions | undefined,
  concurrency: number,
): Promise<CommitRecord[]> {
  return readListedRecords(
    after,
    (from) => adapter.listCommitRecordIds(from, options),
    (ids) => mapLimit(ids, concurrency, (id) => adapter.getCommitRecord(id, options)),
  );
}
