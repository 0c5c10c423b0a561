/**
 * DynamoDB batches on DynamoDB Local, with fault injection where the real engine cannot
 * misbehave on demand: a client middleware lets DynamoDB see only part of each
 * BatchWriteItem and answers the rest as UnprocessedItems, as a throttled table would.
 */
import {
  type BatchWriteItemCommandInput,
  type BatchWriteItemCommandOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { versionAt } from '../conformance/suite.js';
import { uniquePrefix } from '../servers/engines.js';

function localClient(): DynamoDBClient {
  const url = process.env.AFT_TEST_DYNAMODB_URL!;
  return new DynamoDBClient({
    endpoint: decodeURIComponent(/endpoint=([^&]+)/.exec(url)![1]!),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

describe('DynamoDB batch writes', () => {
  it('sends at most 25 items a request and retries UnprocessedItems until every version is written', async () => {
    const client = localClient();
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
    const client = localClient();
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
});
