/** `aft storage init`: creates what each engine needs, idempotently (a second run changes nothing), and fails clearly. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createAdapterFromUrl } from '../../adapters/url.js';
import { AFT_BIN } from '../helpers/processes.js';
import { ENGINES, uniquePrefix } from '../servers/engines.js';

const run = promisify(execFile);
const aft = (...args: string[]) => run(process.execPath, [AFT_BIN, ...args], { env: process.env });

describe('aft storage init', () => {
  it('creates both DynamoDB tables with the right keys, and a second run changes nothing', async () => {
    const prefix = `${uniquePrefix()}-`;
    const url = process.env.AFT_TEST_DYNAMODB_URL!.replace('PREFIX', prefix);
    const first = await aft('storage', 'init', '--storage', url);
    expect(first.stdout).toMatch(/\(dynamodb\) is ready/);
    expect(first.stdout).not.toContain('local:local');
    const endpoint = decodeURIComponent(/endpoint=([^&]+)/.exec(url)![1]!);
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const created = async () =>
      Promise.all(
        ['versions', 'commits'].map(async (table) => {
          const { Table } = await client.send(new DescribeTableCommand({ TableName: `${prefix}${table}` }));
          return Table?.CreationDateTime?.getTime();
        }),
      );
    try {
      // Data written between the runs survives the second, which recreates nothing.
      const before = await created();
      const store = createAdapterFromUrl(url);
      await store.putEntry('ns', 'kept', new TextEncoder().encode('yes'));
      const second = await aft('storage', 'init', '--storage', url);
      expect(second.stdout).toMatch(/\(dynamodb\) is ready/);
      expect(await created()).toEqual(before);
      expect(new TextDecoder().decode(await store.getEntry('ns', 'kept'))).toBe('yes');
      await store.close();
      for (const [table, partition] of [
        ['versions', 'k'],
        ['commits', 'b'],
      ] as const) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: `${prefix}${table}` }));
        expect(Table?.TableStatus).toBe('ACTIVE');
        expect(Table?.KeySchema).toEqual([
          { AttributeName: partition, KeyType: 'HASH' },
          { AttributeName: 'v', KeyType: 'RANGE' },
        ]);
      }
    } finally {
      client.destroy();
    }
  });

  it('creates a missing S3 bucket, and accepts one that exists', async () => {
    const bucket = `b-${uniquePrefix().toLowerCase()}`;
    const url = process.env.AFT_TEST_S3_URL!.replace('aft-test/PREFIX', `${bucket}/app`);
    await aft('storage', 'init', '--storage', url);
    const store = createAdapterFromUrl(url);
    await store.putEntry('ns', 'kept', new TextEncoder().encode('yes'));
    const second = await aft('storage', 'init', '--storage', url);
    expect(second.stdout).toMatch(/\(s3\) is ready/);
    expect(new TextDecoder().decode(await store.getEntry('ns', 'kept'))).toBe('yes');
    await store.close();
    const endpoint = decodeURIComponent(/endpoint=([^&]+)/.exec(url)![1]!);
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    try {
      await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).resolves.toBeDefined();
    } finally {
      client.destroy();
    }
  });

  it('makes the file store layout, and checks that Redis answers', async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'aft-init-')), 'data');
    await aft('storage', 'init', '--storage', `file:${directory}`);
    expect(readdirSync(directory).sort()).toEqual(['commits', 'tmp', 'versions']);
    const store = createAdapterFromUrl(`file:${directory}`);
    await store.putEntry('ns', 'kept', new TextEncoder().encode('yes'));
    const second = await aft('storage', 'init', '--storage', `file:${directory}`);
    expect(second.stdout).toMatch(/\(file\) is ready/);
    expect(new TextDecoder().decode(await store.getEntry('ns', 'kept'))).toBe('yes');
    await store.close();
    const redis = await aft('storage', 'init', '--storage', await ENGINES.redisCluster.freshStorageUrl());
    expect(redis.stdout).toMatch(/\(redis-cluster\) is ready/);
  });

  it('fails with exit code 2 and a message that names the storage, without its password', async () => {
    const failure = await aft('storage', 'init', '--storage', 'redis://user:hunter2@127.0.0.1:1').catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 2 });
    const { stderr } = failure as { stderr: string };
    expect(stderr).toMatch(/^aft: storage init of redis:\/\/\*\*\*@127\.0\.0\.1:1 failed: /);
    expect(stderr).not.toContain('hunter2');
  });
});
