/** Storage URLs: every scheme maps to the adapter and settings it names; bad ones fail clearly. */
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { FileAdapter } from '../../adapters/file.js';
import type { RedisAdapter } from '../../adapters/redis.js';
import { S3Adapter } from '../../adapters/s3.js';
import { createAdapterFromUrl, describeStorageUrl, StorageUrlError } from '../../adapters/url.js';

describe('storage URLs', () => {
  it('s3: bucket, prefix, region, endpoint, path style and credentials', async () => {
    const adapter = createAdapterFromUrl(
      's3://AKID:se%2Fcret@my-bucket/app/aft?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A4569',
    );
    expect(adapter).toBeInstanceOf(S3Adapter);
    const s3 = adapter as S3Adapter;
    expect([s3.bucket, s3.prefix]).toEqual(['my-bucket', 'app/aft/']);
    const config = (s3 as unknown as { options: { clientConfig: Record<string, unknown> } }).options
      .clientConfig;
    expect(config).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:4569',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'se/cret' },
      forcePathStyle: true,
    });
    const plain = createAdapterFromUrl('s3://bucket') as S3Adapter;
    expect(plain.prefix).toBe('');
    expect((plain as unknown as { options: { clientConfig: object } }).options.clientConfig).toEqual({
      forcePathStyle: false,
    });
  });

  it('dynamodb: the table prefix keeps its case', () => {
    const adapter = createAdapterFromUrl('dynamodb://MyApp-?region=us-east-1') as unknown as DynamoDbAdapter;
    expect(adapter).toBeInstanceOf(DynamoDbAdapter);
    expect([adapter.versionsTable, adapter.commitsTable]).toEqual(['MyApp-versions', 'MyApp-commits']);
    expect(() => createAdapterFromUrl('dynamodb://bad%20name')).toThrow(/table prefix/);
  });

  it('redis and redis+cluster: server, prefix, cluster nodes and password', () => {
    const standalone = createAdapterFromUrl('redis://:pw@127.0.0.1:6380/2?prefix=app:') as RedisAdapter;
    expect([standalone.name, standalone.prefix]).toEqual(['redis', 'app:']);
    expect((standalone as unknown as { options: { url: string } }).options.url).toBe(
      'redis://:pw@127.0.0.1:6380/2',
    );
    const cluster = createAdapterFromUrl('redis+cluster://u:p%40ss@h1:7000,h2:7001') as RedisAdapter;
    expect([cluster.name, cluster.prefix]).toEqual(['redis-cluster', 'aft:']);
    expect((cluster as unknown as { options: object }).options).toMatchObject({
      clusterNodes: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
      ],
      redisOptions: { username: 'u', password: 'p@ss' },
    });
    expect(() => createAdapterFromUrl('redis+cluster://h1')).toThrow(StorageUrlError);
    expect(() => createAdapterFromUrl('redis+cluster://')).toThrow(/names no cluster node/);
    expect(() => createAdapterFromUrl('redis://h/0?prefix=%7Bx%7D')).toThrow(/contains \{ or \}/);
  });

  it('file and unknown schemes', () => {
    expect(createAdapterFromUrl('file:./data')).toBeInstanceOf(FileAdapter);
    expect(() => createAdapterFromUrl('ftp://x')).toThrow(StorageUrlError);
  });

  it('masks credentials of every scheme', () => {
    expect(describeStorageUrl('s3://AKID:secret@bucket/p')).toBe('s3://***@bucket/p');
    expect(describeStorageUrl('dynamodb://k:s@prefix-?region=x')).toBe('dynamodb://***@prefix-?region=x');
    expect(describeStorageUrl('redis://:pw@host:1/0')).toBe('redis://***@host:1/0');
    expect(describeStorageUrl('redis+cluster://u:p@h1:1,h2:2')).toBe('redis+cluster://***@h1:1,h2:2');
  });
});
