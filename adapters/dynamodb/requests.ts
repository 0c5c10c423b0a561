/**
 * DynamoDB requests as the adapter needs them: a conditional put, queries followed to their
 * end, and batches of writes and gets split to the service's limits, several in flight, each
 * retrying its unprocessed part until done.
 */
import { randomUUID } from 'node:crypto';
import type {
  DynamoDBClient,
  QueryCommandInput,
  TransactWriteItemsCommandInput,
  WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { appendAll } from '../append-all.js';
import { retryUntilDone } from '../backoff.js';
import type { CallOptions } from '../contract.js';
import { mapLimit } from '../map-limit.js';
import type { DirectTransactWrites } from './direct-transact.js';
import type { Item } from './items.js';
import { dynamoSdk } from './sdk.js';

const BATCH_WRITE = 25;
/** Keys one BatchGetItem takes. */
const BATCH_GET = 100;

export class DynamoRequests {
  constructor(
    private readonly db: () => Promise<DynamoDBClient>,
    /** Requests one batch keeps in flight. */
    private readonly concurrency: number,
    /** A commit's transaction sent past the SDK's middleware first, where the client allows. */
    private readonly direct: () => DirectTransactWrites | undefined = () => undefined,
  ) {}

  /** PutItem into `table` unless an item with its key exists; true when it was written. */
  async putIfAbsent(table: string, item: Item, options?: CallOptions): Promise<boolean> {
    try {
      await (await this.db()).send(
        new (await dynamoSdk()).PutItemCommand({
          TableName: table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(v)',
        }),
        { abortSignal: options?.signal },
      );
      return true;
    } catch (error) {
      if ((error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  /**
   * One TransactWriteItems: `items` into `table`, then `last` into `lastTable` unless an item
   * with its key exists; with `swap`, also `swap.item` into `lastTable` in place of one whose
   * `d` is `swap.expected` (only then). 'created' when it was all written; 'taken' when
   * `last`'s condition failed, 'refused' when the swap's did, and then nothing was. The SDK
   * gives the request a token and keeps it across its retries, so a retry of a transaction
   * that landed succeeds again rather than failing its condition.
   */
  async transactPutsThenPutIfAbsent(
    table: string,
    items: readonly Item[],
    lastTable: string,
    last: Item,
    swap?: { readonly item: Item; readonly expected: Uint8Array },
    options?: CallOptions,
  ): Promise<'created' | 'taken' | 'refused'> {
    const db = await this.db();
    // Set here rather than by the SDK, so the direct attempt and the SDK's repeat of it are
    // one idempotent transaction.
    const input: TransactWriteItemsCommandInput = {
      ClientRequestToken: randomUUID(),
      TransactItems: [
        ...items.map((Item) => ({ Put: { TableName: table, Item } })),
        { Put: { TableName: lastTable, Item: last, ConditionExpression: 'attribute_not_exists(v)' } },
        ...(swap
          ? [
              {
                Put: {
                  TableName: lastTable,
                  Item: swap.item,
                  ConditionExpression: 'd = :expected',
                  ExpressionAttributeValues: { ':expected': { B: swap.expected } },
                },
              },
            ]
          : []),
      ],
    };
    try {
      if ((await this.direct()?.attempt(input, options?.signal)) !== 'written') {
        await db.send(new (await dynamoSdk()).TransactWriteItemsCommand(input), {
          abortSignal: options?.signal,
        });
      }
      return 'created';
    } catch (error) {
      const { name, CancellationReasons: reasons } = error as {
        name?: string;
        CancellationReasons?: Array<{ Code?: string }>;
      };
      if (name !== 'TransactionCanceledException' || !reasons) throw error;
      // The reasons are in item order: the conditional put's follows the versions, the swap's
      // comes last.
      if (reasons[items.length]?.Code === 'ConditionalCheckFailed') return 'taken';
      if (swap && reasons[items.length + 1]?.Code === 'ConditionalCheckFailed') return 'refused';
      throw error;
    }
  }

  /**
   * One TransactWriteItems putting every item only if no item with its key exists; false when
   * one existed (then none was written).
   */
  async transactPutsIfAbsent(table: string, items: readonly Item[], options?: CallOptions): Promise<boolean> {
    try {
      await (await this.db()).send(
        new (await dynamoSdk()).TransactWriteItemsCommand({
          TransactItems: items.map((Item) => ({
            Put: { TableName: table, Item, ConditionExpression: 'attribute_not_exists(v)' },
          })),
        }),
        { abortSignal: options?.signal },
      );
      return true;
    } catch (error) {
      const { name, CancellationReasons: reasons } = error as {
        name?: string;
        CancellationReasons?: Array<{ Code?: string }>;
      };
      if (
        name === 'TransactionCanceledException' &&
        reasons?.some((r) => r?.Code === 'ConditionalCheckFailed')
      )
        return false;
      throw error;
    }
  }

  /** Every item of a query (or the first `limit`), following LastEvaluatedKey. */
  async queryAll(input: QueryCommandInput, options?: CallOptions, limit?: number): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const answer = await (await this.db()).send(
        new (await dynamoSdk()).QueryCommand({
          ...input,
          ...(start && { ExclusiveStartKey: start }),
          ...(limit !== undefined && { Limit: limit - items.length }),
        }),
        { abortSignal: options?.signal },
      );
      items.push(...(answer.Items ?? []));
      start = answer.LastEvaluatedKey;
    } while (start && (limit === undefined || items.length < limit));
    return items;
  }

  /** BatchWriteItem in 25s, several in flight, each retrying its UnprocessedItems until done. */
  async batchWrite(table: string, requests: readonly WriteRequest[], options?: CallOptions): Promise<void> {
    const batches: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH_WRITE) batches.push(requests.slice(i, i + BATCH_WRITE));
    await mapLimit(batches, this.concurrency, async (batch) => {
      let pending = batch;
      await retryUntilDone(
        `BatchWriteItem on ${table}`,
        async () => {
          const answer = await (await this.db()).send(
            new (await dynamoSdk()).BatchWriteItemCommand({ RequestItems: { [table]: pending } }),
            {
              abortSignal: options?.signal,
            },
          );
          pending = answer.UnprocessedItems?.[table] ?? [];
          return pending.length === 0;
        },
        { attempts: 12, signal: options?.signal },
      );
    });
  }

  /**
   * BatchGetItem of `keys` (any number: 100 a request, one request at a time), strongly
   * consistent, each request retrying its UnprocessedKeys until done; the items found.
   */
  async batchGet(
    table: string,
    keys: readonly Item[],
    projection: string,
    options?: CallOptions,
  ): Promise<Item[]> {
    const found: Item[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET) {
      let pending = keys.slice(i, i + BATCH_GET);
      await retryUntilDone(
        `BatchGetItem on ${table}`,
        async () => {
          if (pending.length === 0) return true;
          const answer = await (await this.db()).send(
            new (await dynamoSdk()).BatchGetItemCommand({
              RequestItems: {
                [table]: { Keys: pending, ProjectionExpression: projection, ConsistentRead: true },
              },
            }),
            { abortSignal: options?.signal },
          );
          appendAll(found, answer.Responses?.[table] ?? []);
          pending = answer.UnprocessedKeys?.[table]?.Keys ?? [];
          return pending.length === 0;
        },
        { attempts: 12, signal: options?.signal },
      );
    }
    return found;
  }
}
