/** Storage URLs: every scheme maps to the adapter and settings it names; bad ones fail clearly. */

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { AnnaAdapter } from '../../adapters/anna.js';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { FileAdapter } from '../../adapters/file.js';
import type { RedisAdapter } from '../../adapters/redis.js';
import { S3Adapter } from '../../adapters/s3.js';
import { createAdapterFromUrl, describeStorageUrl, StorageUrlError } from '../../adapters/url.js';
import { writesWithoutIntents } from '../../shim/intents.js';
import { ROOT } from '../helpers/processes.js';

/**
 * Runs a first storage call on the adapter a URL names, in the built package, with the given
 * modules made unloadable; answers what the call printed.
 */
async function firstCallWithout(refused: readonly string[], storage: string, call: string): Promise<string> {
  const hook = `data:text/javascript,export async function resolve(specifier, context, next) {
    if (${JSON.stringify(refused)}.includes(specifier)) throw new Error(specifier + ' was loaded');
    return next(specifier, context);
  }`;
  const url = pathToFileURL(join(ROOT, 'dist', 'adapters', 'url.js')).href;
  const script = `
    import { register } from 'node:module';
    register(${JSON.stringify(hook)});
    const { createAdapterFromUrl } = await import(${JSON.stringify(url)});
    const adapter = createAdapterFromUrl(${JSON.stringify(storage)});
    try {
      await adapter.${call};
      console.log('answered');
    } catch (error) {
      console.log(String(error.message));
    } finally {
      await adapter.close().catch(() => undefined);
    }`;
  return (await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script])).stdout.trim();
}

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

  it('dynamodb: commits go in one transaction unless transactWrites=false', () => {
    expect(createAdapterFromUrl('dynamodb://p-?region=us-east-1').putVersionsAndRecord).toBeDefined();
    const batched = createAdapterFromUrl('dynamodb://p-?region=us-east-1&transactWrites=false');
    expect(batched.putVersionsAndRecord).toBeUndefined();
    expect(batched.fitsVersionsAndRecord).toBeUndefined();
  });

  it('dynamodb: commits go past the SDK middleware first unless directCommits=false', () => {
    const optionsOf = (url: string) =>
      (createAdapterFromUrl(url) as unknown as { options: { directCommits: boolean } }).options;
    expect(optionsOf('dynamodb://p-?region=us-east-1').directCommits).toBe(true);
    expect(optionsOf('dynamodb://p-?region=us-east-1&directCommits=false').directCommits).toBe(false);
  });

  it('dynamodb: small values ride in their record unless valuesInRecord=false', () => {
    const optionsOf = (url: string) =>
      (createAdapterFromUrl(url) as unknown as { options: { valuesInRecord: boolean } }).options;
    expect(optionsOf('dynamodb://p-?region=us-east-1').valuesInRecord).toBe(true);
    expect(optionsOf('dynamodb://p-?region=us-east-1&valuesInRecord=false').valuesInRecord).toBe(false);
  });

  it('redis: versions and record go in one script on a standalone server, not on a cluster', () => {
    expect(createAdapterFromUrl('redis://127.0.0.1:6379').putVersionsAndRecord).toBeDefined();
    expect(createAdapterFromUrl('redis+cluster://127.0.0.1:7000').putVersionsAndRecord).toBeUndefined();
  });

  it('memory: the store tells the process clock, so commits go with no intent', async () => {
    const memory = createAdapterFromUrl('memory:');
    expect(writesWithoutIntents(memory)).toBe(true);
    const before = Date.now();
    const told = await memory.time!();
    expect(told).toBeGreaterThanOrEqual(before);
    expect(told).toBeLessThanOrEqual(Date.now());
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

  it('anna: routing nodes, prefix, the address Anna answers to and the reply ports', () => {
    const adapter = createAdapterFromUrl(
      'anna://10.0.0.5:6450,10.0.0.5:6451?prefix=shop/&response-host=10.0.0.7&address-port=6760&key-port=6460&timeout-ms=500',
    ) as AnnaAdapter;
    expect(adapter).toBeInstanceOf(AnnaAdapter);
    expect((adapter as unknown as { options: object }).options).toEqual({
      routing: ['10.0.0.5:6450', '10.0.0.5:6451'],
      prefix: 'shop/',
      responseHost: '10.0.0.7',
      addressPort: 6760,
      keyPort: 6460,
      timeoutMs: 500,
    });
    expect(() => createAdapterFromUrl('anna://')).toThrow(/names no routing node/);
    expect(() => createAdapterFromUrl('anna://host')).toThrow(/not host:port/);
    expect(() => createAdapterFromUrl('anna://h:6450?key-port=x')).toThrow(/not a port/);
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

  it('loads the ZeroMQ native addon only for anna:// (the built package, zeromq made unloadable)', async () => {
    const putEntry = "putEntry('ns', 'id', new Uint8Array([1]))";
    expect(await firstCallWithout(['zeromq'], 'memory:', putEntry)).toBe('answered');
    // The hook works: the Anna adapter's first call needs the addon and fails without it.
    expect(await firstCallWithout(['zeromq'], 'anna://127.0.0.1:1?timeout-ms=100', putEntry)).toMatch(
      /zeromq was loaded/,
    );
  });

  it("loads each engine's SDK only when its scheme is used (the built package, the SDKs made unloadable)", async () => {
    const refused = ['@aws-sdk/client-s3', '@aws-sdk/client-dynamodb', 'ioredis', 'zeromq'];
    const getEntry = "getEntry('ns', 'id', { signal: AbortSignal.timeout(2000) })";
    const directory = mkdtempSync(join(tmpdir(), 'aft-url-'));
    expect(await firstCallWithout(refused, `file:${directory}`, getEntry)).toBe('answered');
    // The hook works: each engine's first call needs its SDK and fails without it.
    const endpoint = 'region=us-east-1&endpoint=http%3A%2F%2F127.0.0.1%3A1';
    expect(await firstCallWithout(refused, `s3://bucket?${endpoint}`, getEntry)).toMatch(
      /client-s3 was loaded/,
    );
    expect(await firstCallWithout(refused, `dynamodb://p-?${endpoint}`, getEntry)).toMatch(
      /client-dynamodb was loaded/,
    );
    expect(await firstCallWithout(refused, 'redis://127.0.0.1:1', getEntry)).toMatch(/ioredis was loaded/);
  });
});
