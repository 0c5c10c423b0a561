/**
 * Careless and hostile clients: a JSON body that is not UTF-8 is refused, not mangled; a
 * client that pipelines requests and never reads the answers holds one answer in flight, not
 * all of them; slow clients are cut off by the timeouts in the settings.
 */
import { connect, type Socket } from 'node:net';
import type { CallOptions, VersionRef } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { type RunningShim, type StartShimOptions, startShim } from '../../server/start.js';
import { eventually } from '../helpers/eventually.js';
import { httpClient } from '../helpers/http.js';
import { expectError } from './rest-api-suite.js';

describe('a JSON body that is not valid UTF-8', () => {
  let shim: RunningShim;
  beforeAll(async () => {
    shim = await startShim({ port: 0, storage: 'memory:', env: {} });
    await shim.ready;
  });
  afterAll(() => shim.close());

  it('is a BAD_REQUEST, and nothing of it is buffered (it was decoded with U+FFFD and committed)', async () => {
    const call = httpClient(shim.url);
    const txid = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
    const body = Buffer.concat([
      Buffer.from('{"items":[{"key":"k'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","value":null}]}'),
    ]);
    const answer = await call('POST', `/v1/transactions/${txid}/write`, {
      raw: body,
      headers: { 'content-type': 'application/json' },
    });
    expectError(answer, 400, 'BAD_REQUEST');
    expect((answer.json as { error: { message: string } }).error.message).toMatch(/UTF-8/);
    const commit = await call('POST', `/v1/transactions/${txid}/commit`);
    expect(commit.json).toMatchObject({ status: 'committed', version: null });
  });

  it('a body that declares another charset is refused too', async () => {
    const call = httpClient(shim.url);
    const answer = await call('POST', '/v1/transactions', {
      raw: '{}',
      headers: { 'content-type': 'application/json; charset=latin1' },
    });
    expectError(answer, 400, 'BAD_REQUEST');
  });
});

/** Runs `body` against a shim started with `options`, and stops it after. */
async function withShim(
  options: Omit<StartShimOptions, 'port' | 'env'>,
  body: (shim: RunningShim) => Promise<void>,
): Promise<void> {
  const shim = await startShim({ port: 0, env: {}, ...options });
  try {
    await shim.ready;
    await body(shim);
  } finally {
    await shim.close();
  }
}

/** Commits `value` at key `big`, then begins a reader: the path of its read of `big`. */
async function committedBigValue(shim: RunningShim, value: Uint8Array): Promise<string> {
  const call = httpClient(shim.url);
  const writer = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
  await call('PUT', `/v1/transactions/${writer}/keys/big`, { raw: value });
  await call('POST', `/v1/transactions/${writer}/commit`);
  const reader = (
    (await call('POST', '/v1/transactions', { json: { timeoutMs: 60_000 } })).json as { txid: string }
  ).txid;
  return `/v1/transactions/${reader}/keys/big`;
}

/** Counts the values read from storage. */
class CountingAdapter extends MemoryAdapter {
  reads = 0;
  override getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    this.reads += 1;
    return super.getVersion(ref, options);
  }
}

/** Opens a connection that pipelines `count` GETs of `path` and never reads an answer. */
function pipelineWithoutReading(url: string, path: string, count: number): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      const request = `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`;
      socket.write(request.repeat(count));
      socket.pause();
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('clients that pipeline reads of a large value and never read the answers', () => {
  it('get one answer in flight per connection: the node reads no more values for them than that', async () => {
    const value = new Uint8Array(4 * 1024 * 1024).fill(7);
    const counting = new CountingAdapter();
    const shim = await startShim({ port: 0, adapter: counting, cacheBytes: 0, env: {} });
    const sockets: Socket[] = [];
    try {
      await shim.ready;
      const call = httpClient(shim.url);
      const bigPath = await committedBigValue(shim, value);
      counting.reads = 0;
      const connections = 10;
      const pipelined = 20;
      for (let index = 0; index < connections; index++) {
        sockets.push(await pipelineWithoutReading(shim.url, bigPath, pipelined));
      }
      // Give the node time to do all it will do: without backpressure it reads all 200 values.
      await eventually(
        () => counting.reads,
        (reads) => reads >= connections * pipelined,
        { timeoutMs: 1500 },
      );
      // One answer each is in flight, and perhaps one more whose bytes the kernel took.
      expect(counting.reads).toBeLessThanOrEqual(connections * 2);
      expect(counting.reads).toBeGreaterThanOrEqual(connections);
      // The node still serves others meanwhile.
      expect((await call('GET', '/healthz')).status).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
      await shim.close();
    }
  });

  it('past --max-unsent-bytes held for clients that do not read, no new request starts until some are read', async () => {
    const value = new Uint8Array(32 * 1024 * 1024).fill(7);
    const counting = new CountingAdapter();
    const shim = await startShim({
      port: 0,
      adapter: counting,
      cacheBytes: 0,
      maxValueBytes: value.byteLength,
      maxTransactionBytes: 2 * value.byteLength,
      maxUnsentBytes: 1024 * 1024,
      env: {},
    });
    const sockets: Socket[] = [];
    try {
      await shim.ready;
      const bigPath = await committedBigValue(shim, value);
      counting.reads = 0;
      sockets.push(await pipelineWithoutReading(shim.url, bigPath, 1));
      // The kernel takes a few MiB of the first answer; the rest waits in this process.
      await eventually(
        () => counting.reads,
        (reads) => reads === 1,
      );
      for (let index = 0; index < 3; index++) {
        sockets.push(await pipelineWithoutReading(shim.url, bigPath, 1));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(counting.reads).toBe(1);
      // The first client reads its answer: the others start.
      sockets[0]!.resume();
      expect(
        await eventually(
          () => counting.reads,
          (reads) => reads >= 2,
        ),
      ).toBeGreaterThanOrEqual(2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await shim.close();
    }
  });

  it('a connection that pipelines past the bound is closed', async () => {
    await withShim({ storage: 'memory:' }, async (shim) => {
      const socket = await pipelineWithoutReading(shim.url, '/healthz', 1000);
      socket.resume();
      await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    });
  });
});

describe('slow clients', () => {
  it('a client that sends headers too slowly is cut off after --http-headers-timeout-ms', async () => {
    await withShim(
      { storage: 'memory:', httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 600 },
      async (shim) => {
        const { hostname, port } = new URL(shim.url);
        const socket = connect({ host: hostname, port: Number(port) });
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
        const answer = await new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (chunk) => {
            text += chunk.toString();
          });
          socket.on('close', () => resolve(text));
        });
        expect(answer).toMatch(/^HTTP\/1\.1 408/);
      },
    );
  });
});

describe('a batch read whose values add up past --max-txn-bytes', () => {
  it('is TOO_LARGE: no answer of one request holds more than a transaction may write', async () => {
    await withShim({ storage: 'memory:', maxValueBytes: 1000, maxTransactionBytes: 2500 }, async (shim) => {
      const call = httpClient(shim.url);
      const value = Buffer.alloc(1000, 1).toString('base64');
      for (const key of ['a', 'b', 'c']) {
        const writer = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
        await call('POST', `/v1/transactions/${writer}/write`, { json: { items: [{ key, value }] } });
        await call('POST', `/v1/transactions/${writer}/commit`);
      }
      const reader = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
      const two = await call('POST', `/v1/transactions/${reader}/read`, { json: { keys: ['a', 'b'] } });
      expect(two.status).toBe(200);
      const three = await call('POST', `/v1/transactions/${reader}/read`, {
        json: { keys: ['a', 'b', 'c'] },
      });
      expectError(three, 413, 'TOO_LARGE');
    });
  });
});
