/**
 * The test S3 (s3rver behind test/servers/s3rver-main.cjs) answers conditional writes as S3
 * does, atomically: the conformance suite's put-if-absent cases on S3 rest on this.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ENGINES, uniquePrefix } from '../servers/engines.js';

async function s3(): Promise<{ client: S3Client; bucket: string; key: () => string }> {
  const url = new URL((await ENGINES.s3.freshStorageUrl()).replace(/^s3:/, 'http:'));
  const client = new S3Client({
    endpoint: url.searchParams.get('endpoint')!,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return { client, bucket: url.hostname, key: () => `${uniquePrefix()}/a key/é` };
}

const statusOf = (error: unknown) =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

describe('the test S3 answers conditional writes as S3 does', () => {
  it('If-None-Match: * creates once, then answers 412', async () => {
    const { client, bucket, key } = await s3();
    const Key = key();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'first', IfNoneMatch: '*' }));
    const error = await client
      .send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'second', IfNoneMatch: '*' }))
      .catch((e: unknown) => e);
    expect(statusOf(error)).toBe(412);
    client.destroy();
  });

  it('If-Match: 404 on a missing key, 412 on another ETag, and writes on its own ETag', async () => {
    const { client, bucket, key } = await s3();
    const Key = key();
    const missing = await client
      .send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x', IfMatch: '"0123"' }))
      .catch((e: unknown) => e);
    expect(statusOf(missing)).toBe(404);
    const { ETag } = await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'v1' }));
    const stale = await client
      .send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'v2', IfMatch: '"0123"' }))
      .catch((e: unknown) => e);
    expect(statusOf(stale)).toBe(412);
    await expect(
      client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'v2', IfMatch: ETag! })),
    ).resolves.toBeDefined();
    client.destroy();
  });

  it('of many concurrent If-None-Match writers exactly one wins', async () => {
    const { client, bucket, key } = await s3();
    const Key = key();
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        client
          .send(new PutObjectCommand({ Bucket: bucket, Key, Body: `writer ${i}`, IfNoneMatch: '*' }))
          .then(
            () => 200,
            (error: unknown) => statusOf(error),
          ),
      ),
    );
    expect(outcomes.filter((status) => status === 200)).toHaveLength(1);
    expect(outcomes.filter((status) => status === 412)).toHaveLength(15);
    client.destroy();
  });
});
