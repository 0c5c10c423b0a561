/**
 * DynamoDB batches on DynamoDB Local, with fault injection where the real engine cannot
 * misbehave on demand: a client middleware lets DynamoDB see only part of each
 * BatchWriteItem and answers the rest as UnprocessedItems, as a throttled table would. Then
 * a record over one item whose body is gone: damage, unless the collector deleted it meanwhile.
 */
import {
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { chunkSortKey, overflowPartition, recordPartition } from '../../adapters/dynamodb/items.js';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { damagedRecord } from '../../adapters/record-codec.js';
import { versionAt } from '../conformance/suite.js';
import { localDynamoClient } from '../helpers/dynamodb-local.js';
import { uniquePrefix } from '../servers/engines.js';

describe('DynamoDB batch writes', () => {
  it('sends at most 25 items a request and retries UnprocessedItems until every version is written', async () => {
    const client = localDynamoClient();
    const batchSizes: number[] = [];
    let throttle = true;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchWriteItemCommand' || !throttle) return next(args);
        const input = args.input as BatchWriteItemCommandInput;
        const [table, requests] = Object.entries(input.RequestItems ?? {})[0]!;
        batchSizes.push(requests.length);
        // DynamoDB takes the first third; the rest comes back unprocessed.
        const taken = Math.ceil(requests.length / 3);
        const result = await next({
          ...args,
          input: { ...input, RequestItems: { [table]: requests.slice(0, taken) } },
        });
        const output = result.output as BatchWriteItemCommandOutput;
        const left = requests.slice(taken);
        return { ...result, output: { ...output, UnprocessedItems: left.length ? { [table]: left } : {} } };
      },
      { step: 'initialize', name: 'partialBatches' },
    );
    const adapter = new DynamoDbAdapter({ client, tablePrefix: `${uniquePrefix()}-` });
    try {
      throttle = false;
      await adapter.init();
      throttle = true;
      const versions = Array.from({ length: 60 }, (_, i) => ({
        key: `key-${i}`,
        versionId: versionAt(50_000 + i),
        value: new Uint8Array([i]),
      }));
      await adapter.putVersions(versions);
      expect(Math.max(...batchSizes)).toBe(25);
      // 3 batches, each needing several rounds as its remainder shrinks.
      expect(batchSizes.length).toBeGreaterThan(3);
      for (const { key, versionId, value } of versions) {
        expect(await adapter.getVersion({ key, versionId })).toEqual(value);
      }
    } finally {
      await adapter.close();
      client.destroy();
    }
  });

  it('gives up with an error when a batch stays unprocessed, and an abort stops the retries', async () => {
    const client = localDynamoClient();
    let stuck = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchWriteItemCommand' || !stuck) return next(args);
        const input = args.input as BatchWriteItemCommandInput;
        return { response: {}, output: { UnprocessedItems: input.RequestItems, $metadata: {} } };
      },
      { step: 'initialize', name: 'stuckBatches' },
    );
    const adapter = new DynamoDbAdapter({ client, tablePrefix: `${uniquePrefix()}-` });
    try {
      await adapter.init();
      stuck = true;
      const write = [{ key: 'k', versionId: versionAt(60_000), value: new Uint8Array([1]) }];
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('caller gave up')), 100);
      await expect(adapter.putVersions(write, { signal: controller.signal })).rejects.toThrow(
        'caller gave up',
      );
      await expect(adapter.putVersions(write)).rejects.toThrow(/still unfinished after 12 attempts/);
    } finally {
      await adapter.close();
      client.destroy();
    }
  }, 60_000);

  it('deletes versions without a query each: one look-up of their first items per 50, chunked and partial ones whole', async () => {
    const client = localDynamoClient();
    const requests: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        requests.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'countRequests' },
    );
    const adapter = new DynamoDbAdapter({ client, tablePrefix: `${uniquePrefix()}-` });
    const itemsOf = async (key: string) =>
      (
        await client.send(
          new QueryCommand({
            TableName: adapter.versionsTable,
            KeyConditionExpression: 'k = :k',
            ExpressionAttributeValues: { ':k': { S: key } },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];
    try {
      await adapter.init();
      const small = Array.from({ length: 60 }, (_, i) => ({
        key: `small-${i}`,
        versionId: versionAt(70_000 + i),
        value: new Uint8Array([i]),
      }));
      // Over one item's size: written as chunks, the count on the first.
      const large = { key: 'large', versionId: versionAt(71_000), value: new Uint8Array(400 * 1024).fill(7) };
      await adapter.putVersions([...small, large]);
      // A version whose first chunk never landed (its writer died mid-batch): only the second is there.
      const partial = { key: 'partial', versionId: versionAt(72_000) };
      await client.send(
        new PutItemCommand({
          TableName: adapter.versionsTable,
          Item: {
            k: { S: partial.key },
            v: { S: chunkSortKey(partial.versionId, 1) },
            d: { B: new Uint8Array([1]) },
          },
        }),
      );
      const gone = { key: 'never-written', versionId: versionAt(73_000) };
      const refs = [...small, large, partial, gone].map(({ key, versionId }) => ({ key, versionId }));

      requests.length = 0;
      await adapter.deleteVersions(refs);
      const count = (name: string) => requests.filter((request) => request === name).length;
      // Before: a Query for each of the 63 versions. Now two look-ups of their first items,
      // and one of the records of the two found in neither.
      expect(count('BatchGetItemCommand')).toBe(3);
      // Only those of which no first item was found: the partial one and the one never written.
      expect(count('QueryCommand')).toBe(2);
      for (const { key, versionId } of refs)
        expect(await adapter.getVersion({ key, versionId })).toBeUndefined();
      expect(await itemsOf('large')).toEqual([]);
      expect(await itemsOf('partial')).toEqual([]);
      // Deleting again finds nothing and fails nothing.
      await adapter.deleteVersions(refs);
    } finally {
      await adapter.close();
      client.destroy();
    }
  }, 60_000);
});

describe('DynamoDB records over one item', () => {
  it('a record whose body is gone reads as damaged while its item stays, and is skipped when the collector deletes it meanwhile', async () => {
    const client = localDynamoClient();
    const adapter = new DynamoDbAdapter({ client, tablePrefix: `${uniquePrefix()}-` });
    try {
      await adapter.init();
      // Over 350 KB of JSON: its body goes in items of its overflow partition, written first.
      const large = versionAt(1000);
      const writeSet = Array.from({ length: 4000 }, (_, i) => `${'k'.repeat(90)}${i}`);
      const small = versionAt(2000);
      expect(await adapter.putCommitRecord({ versionId: large, txid: 't1', writeSet, deleted: [] })).toBe(
        true,
      );
      expect(
        await adapter.putCommitRecord({ versionId: small, txid: 't2', writeSet: ['a'], deleted: [] }),
      ).toBe(true);
      expect((await adapter.getCommitRecord(large))?.writeSet).toHaveLength(4000);
      const body = await client.send(
        new QueryCommand({
          TableName: adapter.commitsTable,
          KeyConditionExpression: 'b = :b',
          ExpressionAttributeValues: { ':b': { S: overflowPartition(large) } },
        }),
      );
      expect(body.Items?.length).toBeGreaterThan(0);
      for (const item of body.Items ?? []) {
        await client.send(
          new DeleteItemCommand({ TableName: adapter.commitsTable, Key: { b: item.b!, v: item.v! } }),
        );
      }
      expect(await adapter.getCommitRecord(large)).toEqual(damagedRecord(large));
      expect((await adapter.listCommitRecords(undefined)).map((record) => record.damaged ?? false)).toEqual([
        true,
        false,
      ]);
      // The collector deletes the record item (after its body) between the listing and the
      // look-up of its body: nothing damaged, only a record gone.
      let deleteFirst = true;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { ExpressionAttributeValues?: Record<string, { S?: string }> };
          if (
            deleteFirst &&
            context.commandName === 'QueryCommand' &&
            input.ExpressionAttributeValues?.[':b']?.S === overflowPartition(large)
          ) {
            deleteFirst = false;
            await client.send(
              new DeleteItemCommand({
                TableName: adapter.commitsTable,
                Key: { b: { S: recordPartition(large) }, v: { S: large } },
              }),
            );
          }
          return next(args);
        },
        { step: 'initialize', name: 'collectMeanwhile' },
      );
      expect((await adapter.listCommitRecords(undefined)).map((record) => record.versionId)).toEqual([small]);
      expect(deleteFirst).toBe(false);
      expect(await adapter.getCommitRecord(large)).toBeUndefined();
    } finally {
      await adapter.close();
      client.destroy();
    }
  }, 60_000);
});
