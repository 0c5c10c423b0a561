/**
 * Listing commit records past a watermark without a scan (docs/adapters/dynamodb.md): the
 * buckets at or after the watermark's, each bucket's shards queried and merged in order.
 */
import type { QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { firstBucketAfter } from '../commit-buckets.js';
import type { ListOptions } from '../contract.js';
import { BUCKETS_PARTITION, COMMIT_SHARDS, compare, type Item } from './items.js';
import type { DynamoRequests } from './requests.js';

/**
 * Walks the commit items after `after` in id order, a page at a time (each bucket's shards
 * merged), handing each page to `visit`, which adds to `into`, until `into` holds `limit`
 * items or the items end.
 */
export async function walkCommitItems(
  requests: DynamoRequests,
  commitsTable: string,
  after: string | undefined,
  options: ListOptions | undefined,
  into: readonly unknown[],
  projection: Pick<QueryCommandInput, 'ProjectionExpression'>,
  visit: (page: Item[]) => Promise<void>,
): Promise<void> {
  options?.signal?.throwIfAborted();
  const limit = options?.limit ?? Number.POSITIVE_INFINITY;
  const firstBucket = firstBucketAfter(after);
  const buckets = await requests.queryAll(
    {
      TableName: commitsTable,
      KeyConditionExpression: firstBucket === '' ? 'b = :b' : 'b = :b AND v >= :first',
      ExpressionAttributeValues: {
        ':b': { S: BUCKETS_PARTITION },
        ...(firstBucket !== '' && { ':first': { S: firstBucket } }),
      },
      ConsistentRead: true,
    },
    options,
  );
  for (const bucketItem of buckets) {
    const bucket = bucketItem.v!.S!;
    let cursor = after;
    while (into.length < limit) {
      const want = Math.min(1000, limit - into.length);
      // Each shard's first `want` ids past the cursor hold the bucket's first `want`.
      const shards = await Promise.all(
        Array.from({ length: COMMIT_SHARDS }, (_, shard) =>
          requests.queryAll(
            {
              TableName: commitsTable,
              KeyConditionExpression: cursor === undefined ? 'b = :b' : 'b = :b AND v > :after',
              ExpressionAttributeValues: {
                ':b': { S: `${bucket}#${shard}` },
                ...(cursor !== undefined && { ':after': { S: cursor } }),
              },
              ConsistentRead: true,
              ...projection,
            },
            options,
            want,
          ),
        ),
      );
      const page = shards
        .flat()
        .sort((a, b) => compare(a.v!.S!, b.v!.S!))
        .slice(0, want);
      await visit(page);
      if (page.length < want) break;
      cursor = page[page.length - 1]!.v!.S!;
    }
    if (into.length >= limit) break;
  }
}
