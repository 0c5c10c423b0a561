/**
 * A torn object is never read as a value: the S3 adapter stores a digest with every object it
 * writes (`x-amz-meta-aft-md5`) and checks it on every read, asking again when the bytes do
 * not match and failing past that. s3rver once served a 5 MiB version as its first 4 MiB,
 * with headers that agreed (the conformance suite caught it); a store that does so again must
 * not hand a committed key the wrong bytes. Checked against a plain HTTP server that keeps
 * objects and can be told to serve the next reads short.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Adapter } from '../../adapters/s3.js';

const VERSION = '0190a1b2c3d4000000.node-1-0000beef';

describe('S3 object digests', () => {
  let server: Server;
  let adapter: S3Adapter;
  const objects = new Map<string, { body: Buffer; meta: Record<string, string> }>();
  let shortReads = 0;
  let reads = 0;

  beforeAll(async () => {
    server = createServer(async (request, response) => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      if (request.method === 'PUT') {
        const meta = Object.fromEntries(
          Object.entries(request.headers).filter(([name]) => name.startsWith('x-amz-meta-')),
        ) as Record<string, string>;
        objects.set(path, { body: Buffer.concat(chunks), meta });
        response.writeHead(200, { etag: '"e"' });
        response.end();
        return;
      }
      const object = objects.get(path);
      if (!object) {
        response.writeHead(404, { 'content-type': 'application/xml' });
        response.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
        return;
      }
      reads += 1;
      // A short object whose headers agree with it: nothing on the wire says it is torn.
      const body = shortReads > 0 ? object.body.subarray(0, object.body.length / 2) : object.body;
      if (shortReads > 0) shortReads -= 1;
      response.writeHead(200, { ...object.meta, 'content-length': body.length, etag: '"e"' });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    adapter = new S3Adapter({
      bucket: 'bucket',
      clientConfig: {
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        maxAttempts: 1,
      },
    });
  });
  afterAll(async () => {
    await adapter.close();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    objects.clear();
    shortReads = 0;
    reads = 0;
  });

  const value = new Uint8Array(1000).map((_, i) => i % 251);
  const ref = { key: 'k', versionId: VERSION };

  it('writes a digest with each object, and reads a whole one back', async () => {
    await adapter.putVersions([{ ...ref, value }]);
    expect(Object.keys([...objects.values()][0]!.meta)).toEqual(['x-amz-meta-aft-md5']);
    expect(await adapter.getVersion(ref)).toEqual(value);
  });

  it('asks again when the bytes do not match the digest', async () => {
    await adapter.putVersions([{ ...ref, value }]);
    shortReads = 1;
    expect(await adapter.getVersion(ref)).toEqual(value);
    expect(reads).toBe(2);
  });

  it('fails, and never answers the torn bytes, when they keep not matching', async () => {
    await adapter.putVersions([{ ...ref, value }]);
    shortReads = 10;
    await expect(adapter.getVersion(ref)).rejects.toThrow(/500 bytes that do not match/);
    expect(reads).toBe(3);
  });

  it('reads an object written without a digest (by an older aft) as it is', async () => {
    await adapter.putVersions([{ ...ref, value }]);
    for (const object of objects.values()) object.meta = {};
    expect(await adapter.getVersion(ref)).toEqual(value);
  });
});
