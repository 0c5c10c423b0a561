/**
 * The S3 requests behind put-if-absent, checked on the wire, with a plain HTTP server that
 * answers as S3 documents it (the conformance suite runs put-if-absent on s3rver, whose
 * launcher adds S3's conditional writes):
 * 412 Precondition Failed when the key exists, 409 ConditionalRequestConflict while another
 * conditional write of that key is in flight.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Adapter } from '../../adapters/s3.js';

interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly ifNoneMatch: string | undefined;
  readonly body: string;
}

const s3Error = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

describe('S3 put-if-absent requests', () => {
  let server: Server;
  let seen: SeenRequest[];
  let answers: { status: number; body: string }[];
  let adapter: S3Adapter;

  beforeAll(async () => {
    server = createServer(async (request: IncomingMessage, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      seen.push({
        method: request.method ?? '',
        path: decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname),
        ifNoneMatch: request.headers['if-none-match'] as string | undefined,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = answers.shift() ?? { status: 200, body: '' };
      response.writeHead(answer.status, { 'content-type': 'application/xml', etag: '"e"' });
      response.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    adapter = new S3Adapter({
      bucket: 'bucket',
      prefix: 'app',
      clientConfig: {
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        maxAttempts: 1,
      },
    });
  });
  beforeEach(() => {
    seen = [];
    answers = [];
  });
  afterAll(async () => {
    await adapter.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const record = {
    versionId: '0190a1b2c3d4000000.node-1-0000beef',
    txid: 'node-1-0000beef',
    writeSet: ['k', 'l'],
    deleted: ['l'],
  };

  it('writes the record with If-None-Match: * under <prefix>/c/<versionId>, and 200 means created', async () => {
    expect(await adapter.putCommitRecord(record)).toBe(true);
    expect(seen).toEqual([
      {
        method: 'PUT',
        path: `/bucket/app/c/${record.versionId}`,
        ifNoneMatch: '*',
        body: JSON.stringify(record),
      },
    ]);
  });

  it('412 Precondition Failed means the record existed: false, and nothing else is sent', async () => {
    answers.push({
      status: 412,
      body: s3Error('PreconditionFailed', 'At least one of the pre-conditions failed'),
    });
    expect(await adapter.putCommitRecord(record)).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('409 ConditionalRequestConflict is retried until S3 decides', async () => {
    answers.push({ status: 409, body: s3Error('ConditionalRequestConflict', 'conflict') });
    answers.push({ status: 409, body: s3Error('ConditionalRequestConflict', 'conflict') });
    answers.push({ status: 412, body: s3Error('PreconditionFailed', 'exists') });
    expect(await adapter.putCommitRecord(record)).toBe(false);
    expect(seen.map((request) => request.ifNoneMatch)).toEqual(['*', '*', '*']);
  });

  it('any other failure is thrown to the caller', async () => {
    answers.push({ status: 403, body: s3Error('AccessDenied', 'no') });
    await expect(adapter.putCommitRecord(record)).rejects.toThrow(/no|AccessDenied/);
  });

  it('versions are plain PUTs with no condition, under <prefix>/v/<sha256 of key>/<versionId>', async () => {
    await adapter.putVersions([
      { key: 'ümlaut/key', versionId: record.versionId, value: new Uint8Array([1, 2]) },
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.ifNoneMatch).toBeUndefined();
    expect(seen[0]!.path).toMatch(
      new RegExp(`^/bucket/app/v/[0-9a-f]{64}/${record.versionId.replace('.', '\\.')}$`),
    );
  });
});
