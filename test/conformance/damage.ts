/**
 * Damage at rest, for the conformance case of a record an adapter cannot read
 * (suite.ts, damagedRecordCase): each stores bytes where an adapter keeps the record of a
 * version id, past the adapter's own writes, through the engine's client or files. They reach
 * into the adapters' private layout on purpose: that layout is what gets damaged.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { commitBucketOf } from '../../adapters/commit-buckets.js';
import type { StorageAdapter } from '../../adapters/contract.js';
import { recordPartition } from '../../adapters/dynamodb/items.js';

type Damage = (adapter: StorageAdapter, versionId: string, bytes: Uint8Array) => Promise<void>;

export const damageFileRecord: Damage = async (adapter, versionId, bytes) => {
  const file = adapter as unknown as { commitBucket(versionId: string): string };
  await writeFile(join(file.commitBucket(versionId), `${versionId}.json`), bytes);
};

export const damageRedisRecord: Damage = async (adapter, versionId, bytes) => {
  const redis = adapter as unknown as { redis(): Promise<Redis>; recordsKey(bucket: string): string };
  await (await redis.redis()).hset(
    redis.recordsKey(commitBucketOf(versionId)),
    versionId,
    Buffer.from(bytes),
  );
};

export const damageS3Record: Damage = async (adapter, versionId, bytes) => {
  const s3 = adapter as unknown as {
    readonly bucket: string;
    s3(): Promise<S3Client>;
    recordKey(versionId: string): string;
  };
  await (await s3.s3()).send(
    new PutObjectCommand({ Bucket: s3.bucket, Key: s3.recordKey(versionId), Body: bytes }),
  );
};

export const damageDynamoDbRecord: Damage = async (adapter, versionId, bytes) => {
  const dynamo = adapter as unknown as { readonly commitsTable: string; db(): Promise<DynamoDBClient> };
  await (await dynamo.db()).send(
    new PutItemCommand({
      TableName: dynamo.commitsTable,
      Item: {
        b: { S: recordPartition(versionId) },
        v: { S: versionId },
        r: { S: new TextDecoder().decode(bytes) },
      },
    }),
  );
};

/** Anna's values are last-writer-wins lattices of marked bytes (adapters/anna.ts). */
export const damageAnnaRecord: Damage = async (adapter, versionId, bytes) => {
  const anna = adapter as unknown as {
    readonly prefix: string;
    clockStamp(): bigint;
    putLww(key: string, timestamp: bigint, value: Uint8Array, options: object): Promise<void>;
  };
  const live = new Uint8Array(bytes.byteLength + 1);
  live[0] = 0x01;
  live.set(bytes, 1);
  await anna.putLww(`${anna.prefix}r/${versionId}`, anna.clockStamp(), live, {});
};
