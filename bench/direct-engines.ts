/**
 * The baselines: the same 4 reads and 2 writes as one aft transaction, sent straight to the
 * engine with its own client, as a function without aft would: one request at a time, or
 * batched as the engine allows; on DynamoDB also TransactGetItems + TransactWriteItems, the
 * transactional alternative a user would pick. None of them is atomic across the two
 * phases, and only the last isolates anything: that is what aft adds.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  TransactGetItemsCommand,
  TransactWriteItemsCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Cluster, Redis } from 'ioredis';
import type { StorageAdapter } from '../adapters/contract.js';
import { createAdapterFromUrl } from '../adapters/url.js';
import { formatVersionId } from '../shim/ids.js';

export interface Workload {
  readonly label: string;
  /** One unit of work: 4 reads, then 2 writes, of random keys among `keys`. */
  run(): Promise<void>;
  /**
   * The baseline issue 16's goal 4 holds aft's transaction to: the bench also runs the two
   * taking turns, so that a drift of the machine between rows does not decide the ratio.
   */
  readonly sideBySide?: true;
}

export interface DirectEngine {
  readonly workloads: readonly Workload[];
  /** Writes every key once, so reads find values. */
  seed(): Promise<void>;
  close(): Promise<void>;
}

export interface WorkloadShape {
  readonly keys: number;
  readonly value: Uint8Array;
}

const pick = (keys: number) => `bench/${Math.floor(Math.random() * keys)}`;
const fourKeys = (keys: number) => [pick(keys), pick(keys), pick(keys), pick(keys)];

/** The embedded stores have no client of their own: the baseline is the adapter itself. */
export function adapterDirect(storageUrl: string, shape: WorkloadShape): DirectEngine {
  const store: StorageAdapter = createAdapterFromUrl(storageUrl);
  const seedVersion = formatVersionId({ physicalMs: 1, logical: 0 }, 'seed');
  let sequence = 0;
  const writes = () => {
    sequence += 1;
    const versionId = formatVersionId({ physicalMs: Date.now(), logical: sequence % 1000 }, `d-${sequence}`);
    return [
      { key: pick(shape.keys), versionId, value: shape.value },
      { key: pick(shape.keys), versionId, value: shape.value },
    ];
  };
  return {
    workloads: [
      {
        label: 'adapter, one call at a time',
        async run() {
          for (const key of fourKeys(shape.keys)) await store.getVersion({ key, versionId: seedVersion });
          for (const write of writes()) await store.putVersions([write]);
        },
      },
      {
        label: 'adapter, batched',
        async run() {
          await Promise.all(
            fourKeys(shape.keys).map((key) => store.getVersion({ key, versionId: seedVersion })),
          );
          await store.putVersions(writes());
        },
      },
    ],
    seed: () =>
      store.putVersions(
        Array.from({ length: shape.keys }, (_, i) => ({
          key: `bench/${i}`,
          versionId: seedVersion,
          value: shape.value,
        })),
      ),
    close: () => store.close(),
  };
}

export function redisDirect(redisUrl: string, shape: WorkloadShape): DirectEngine {
  const clusterNodes = redisUrl.startsWith('redis+cluster://')
    ? redisUrl
        .slice('redis+cluster://'.length)
        .split(',')
        .map((hostPort) => {
          const [host = '', port = ''] = hostPort.split(':');
          return { host, port: Number(port) };
        })
    : undefined;
  const redis = clusterNodes
    ? new Cluster(clusterNodes, { enableAutoPipelining: true })
    : new Redis(redisUrl, { enableAutoPipelining: false });
  const prefix = 'direct:';
  const value = Buffer.from(shape.value);
  return {
    workloads: [
      {
        label: 'GET ×4, SET ×2, one at a time',
        async run() {
          for (const key of fourKeys(shape.keys)) await redis.getBuffer(prefix + key);
          await redis.set(prefix + pick(shape.keys), value);
          await redis.set(prefix + pick(shape.keys), value);
        },
      },
      {
        label: clusterNodes ? 'GETs, SETs auto-pipelined per node' : 'MGET ×4, then MSET ×2',
        async run() {
          const keys = fourKeys(shape.keys).map((key) => prefix + key);
          if (clusterNodes) {
            await Promise.all(keys.map((key) => redis.getBuffer(key)));
            await Promise.all([
              redis.set(prefix + pick(shape.keys), value),
              redis.set(prefix + pick(shape.keys), value),
            ]);
          } else {
            await redis.mgetBuffer(...keys);
            await redis.mset(prefix + pick(shape.keys), value, prefix + pick(shape.keys), value);
          }
        },
      },
    ],
    async seed() {
      await Promise.all(
        Array.from({ length: shape.keys }, (_, i) => redis.set(`${prefix}bench/${i}`, value)),
      );
    },
    async close() {
      await redis.quit();
    },
  };
}

export interface AwsEndpoint {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
}

export function s3Direct(aws: AwsEndpoint, bucket: string, shape: WorkloadShape): DirectEngine {
  const s3 = new S3Client({
    ...aws,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const get = async (key: string) => {
    const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `direct/${key}` }));
    (answer.Body as { on?: (event: 'error', listener: () => void) => void } | undefined)?.on?.(
      'error',
      () => undefined,
    );
    await answer.Body?.transformToByteArray();
  };
  const put = (key: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `direct/${key}`, Body: shape.value }));
  // Writes go to new objects, as aft's versions do: s3rver rewrites an object's file in
  // place, so overwriting keys that are being read resets those reads (real S3 does not).
  let written = 0;
  const newKey = () => {
    written += 1;
    return `written/${written}`;
  };
  return {
    workloads: [
      {
        label: 'GetObject ×4, PutObject ×2, one at a time',
        async run() {
          for (const key of fourKeys(shape.keys)) await get(key);
          await put(newKey());
          await put(newKey());
        },
      },
      {
        label: 'GetObject ×4 in parallel, then PutObject ×2 in parallel',
        async run() {
          await Promise.all(fourKeys(shape.keys).map(get));
          await Promise.all([put(newKey()), put(newKey())]);
        },
      },
    ],
    async seed() {
      for (let i = 0; i < shape.keys; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, shape.keys - i) }, (_, j) => put(`bench/${i + j}`)),
        );
      }
    },
    async close() {
      s3.destroy();
    },
  };
}

export function dynamoDbDirect(aws: AwsEndpoint, table: string, shape: WorkloadShape): DirectEngine {
  const db = new DynamoDBClient(aws);
  const keyOf = (key: string) => ({ k: { S: key } });
  const itemOf = (key: string) => ({ k: { S: key }, d: { B: shape.value } });
  const distinctKeys = (count: number) => {
    // Batch and transaction requests refuse the same key twice.
    const keys = new Set<string>();
    while (keys.size < count) keys.add(pick(shape.keys));
    return [...keys];
  };
  return {
    workloads: [
      {
        label: 'GetItem ×4, PutItem ×2, one at a time (strongly consistent)',
        async run() {
          for (const key of fourKeys(shape.keys)) {
            await db.send(new GetItemCommand({ TableName: table, Key: keyOf(key), ConsistentRead: true }));
          }
          await db.send(new PutItemCommand({ TableName: table, Item: itemOf(pick(shape.keys)) }));
          await db.send(new PutItemCommand({ TableName: table, Item: itemOf(pick(shape.keys)) }));
        },
      },
      {
        label: 'BatchGetItem of 4, then BatchWriteItem of 2',
        async run() {
          await db.send(
            new BatchGetItemCommand({
              RequestItems: { [table]: { Keys: distinctKeys(4).map(keyOf), ConsistentRead: true } },
            }),
          );
          await db.send(
            new BatchWriteItemCommand({
              RequestItems: {
                [table]: distinctKeys(2).map((key) => ({ PutRequest: { Item: itemOf(key) } })),
              },
            }),
          );
        },
      },
      {
        label: 'TransactGetItems of 4, then TransactWriteItems of 2',
        sideBySide: true,
        async run() {
          await db.send(
            new TransactGetItemsCommand({
              TransactItems: distinctKeys(4).map((key) => ({ Get: { TableName: table, Key: keyOf(key) } })),
            }),
          );
          await db.send(
            new TransactWriteItemsCommand({
              TransactItems: distinctKeys(2).map((key) => ({ Put: { TableName: table, Item: itemOf(key) } })),
            }),
          );
        },
      },
    ],
    async seed() {
      try {
        await db.send(
          new CreateTableCommand({
            TableName: table,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
          }),
        );
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
      await waitUntilTableExists({ client: db, maxWaitTime: 60 }, { TableName: table });
      for (let i = 0; i < shape.keys; i += 25) {
        const items = Array.from({ length: Math.min(25, shape.keys - i) }, (_, j) =>
          itemOf(`bench/${i + j}`),
        );
        const answer = await db.send(
          new BatchWriteItemCommand({
            RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) },
          }),
        );
        if (answer.UnprocessedItems?.[table]?.length) throw new Error('DynamoDB left seed items unprocessed');
      }
    },
    async close() {
      db.destroy();
    },
  };
}
