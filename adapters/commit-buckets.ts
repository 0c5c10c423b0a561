/**
 * Time buckets of commit records, for engines with no ordered listing of their own
 * (DynamoDB, Redis Cluster, Anna) and for the file store's directories.
 *
 * A version id starts with 12 hex digits of milliseconds, so its first 8 characters name a
 * bucket of 2^16 ms (about 65 s). Listing past a watermark reads only the buckets at or
 * after the watermark's own.
 */
export const COMMIT_BUCKET_CHARS = 8;
const BUCKET_MS = 2 ** 16;

export function commitBucketOf(versionId: string): string {
  return versionId.slice(0, COMMIT_BUCKET_CHARS);
}

/** The first bucket a listing after `after` must read ('' for a listing from the start). */
export function firstBucketAfter(after: string | undefined): string {
  return after === undefined ? '' : after.slice(0, COMMIT_BUCKET_CHARS);
}

/**
 * Whether no new commit record can still land in `bucket`: its time is over an hour past.
 * Version ids come from clocks at least as late as the wall clock of the node that takes
 * them, so only a clock skew over an hour could add to such a bucket. Adapters forget an
 * empty bucket (to keep listings short) only when it is settled; forgetting a live one could
 * hide a record written into it a moment later.
 */
export function isSettledBucket(bucket: string, nowMs = Date.now()): boolean {
  const startMs = Number.parseInt(bucket, 16) * BUCKET_MS;
  return Number.isFinite(startMs) && startMs + BUCKET_MS + 3_600_000 < nowMs;
}
