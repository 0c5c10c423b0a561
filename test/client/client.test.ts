import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AftClient,
  ConnectionError,
  DuplicateCommittedError,
  KeyNotFoundError,
  StorageUnavailableError,
  TransactionLostError,
  TransactionNotRunningError,
} from '../../lambda-layer/client.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/processes.js';

describe('AftClient against a real shim', () => {
  let shim: RunningShim;
  let client: AftClient;
  beforeAll(async () => {
    shim = await startShim({ port: 0, storage: 'memory:', env: { AFT_TOKENS: 'tok' } });
    await shim.ready;
    client = new AftClient({ url: shim.url, token: 'tok' });
  });
  afterAll(() => shim.close());

  it('a read-modify-write in two requests: beginAndRead, then commit with its writes', async () => {
    const setup = await client.begin();
    await setup.put('two-requests/stock', '10');
    await setup.commit();
    const requests: string[] = [];
    const counting = new AftClient({
      url: shim.url,
      token: 'tok',
      fetch: (input, init) => {
        requests.push(`${init?.method} ${String(input).replace(shim.url, '')}`);
        return fetch(input, init);
      },
    });
    const { tx, items } = await counting.beginAndRead(['two-requests/stock']);
    const stock = Number(new TextDecoder().decode(items[0]!.value));
    await tx.commit({ writes: [{ key: 'two-requests/stock', value: String(stock - 1) }] });
    expect(requests).toEqual(['POST /v1/transactions', `POST /v1/transactions/${tx.txid}/commit`]);
    const check = await client.begin();
    expect(await check.getText('two-requests/stock')).toBe('9');
  });

  it('an idempotent begin replays the recorded result of a committed key, with typed duplicate errors', async () => {
    const first = await client.beginIdempotent('order-17');
    const second = await client.beginIdempotent('order-17');
    if (first.replayed || second.replayed) throw new Error('expected two new transactions');
    await first.put('order-17', 'placed');
    await second.put('order-17', 'placed again');
    const commit = await first.commit({ result: '{"orderId":17}' });
    await expect(second.commit({ result: 'other' })).rejects.toBeInstanceOf(DuplicateCommittedError);
    const replay = await client.beginIdempotent('order-17');
    expect(replay).toEqual({
      replayed: true,
      txid: first.txid,
      version: commit.version,
      result: new TextEncoder().encode('{"orderId":17}'),
    });
  });

  it('runs a transaction with text, JSON, bytes, batches and deletes', async () => {
    const { commit } = await client.run(async (tx) => {
      await tx.put('text', 'hello');
      await tx.putJson('json', { n: 1 });
      await tx.put('bytes', new Uint8Array([0, 255]));
      await tx.putMany([
        { key: 'a', value: 'A' },
        { key: 'b', value: 'B' },
      ]);
      await tx.put('gone', 'x');
      await tx.delete('gone');
    });
    expect(commit.version).toMatch(/^[0-9a-f]{18}\./);
    const tx = await client.begin();
    expect(await tx.getText('text')).toBe('hello');
    expect(await tx.getJson('json')).toEqual({ n: 1 });
    expect(await tx.get('bytes')).toEqual(new Uint8Array([0, 255]));
    expect(await tx.get('gone')).toBeUndefined();
    const items = await tx.getMany(['a', 'b', 'missing']);
    expect(items.map((item) => item.value && Buffer.from(item.value).toString())).toEqual([
      'A',
      'B',
      undefined,
    ]);
    expect((await tx.getWithVersion('a')).version).toBe(commit.version);
    await tx.deleteMany(['a', 'b']);
    await tx.commit();
    expect(await (await client.begin()).get('a')).toBeUndefined();
  });

  it('handles the keys "." and ".." that a URL path cannot carry', async () => {
    await client.run(async (tx) => {
      await tx.put('.', 'dot');
      await tx.put('..', 'dotdot');
    });
    const tx = await client.begin();
    expect(await tx.getText('.')).toBe('dot');
    expect(await tx.getText('..')).toBe('dotdot');
  });

  it('aborts when the body throws, and nothing is visible', async () => {
    await expect(
      client.run(async (tx) => {
        await tx.put('never', 'x');
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await (await client.begin()).get('never')).toBeUndefined();
  });

  it('raises typed errors, and a repeated commit and abort are safe', async () => {
    const tx = await client.begin();
    await tx.put('k', 'v');
    const first = await tx.commit();
    expect(await tx.commit()).toEqual(first);
    await expect(tx.put('k', 'w')).rejects.toBeInstanceOf(TransactionNotRunningError);
    expect(await tx.status()).toBe('committed');
    const aborted = await client.begin();
    await aborted.abort();
    await aborted.abort();
    await expect(
      client.transaction(`aaaaaaaaaa-${Date.now().toString(36)}-1-${'0'.repeat(32)}`).get('k'),
    ).rejects.toBeInstanceOf(TransactionLostError);
    const unauthenticated = new AftClient({ url: shim.url });
    await expect(unauthenticated.begin()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('runs the body again when its transaction is lost', async () => {
    let attempts = 0;
    const { result } = await client.run(async (tx) => {
      attempts += 1;
      if (attempts === 1) throw new TransactionLostError(tx.txid);
      await tx.put('retried', String(attempts));
      return attempts;
    });
    expect(result).toBe(2);
  });
});

describe('AftClient retries', () => {
  let server: Server;
  let url: string;
  let calls: string[];
  let script:
    | ((
        path: string,
        method: string,
      ) => { status: number; body?: unknown; destroy?: boolean; hang?: boolean })
    | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      const answer = script?.(req.url ?? '', req.method ?? '') ?? { status: 500 };
      if (answer.destroy) {
        req.socket.destroy();
        return;
      }
      if (answer.hang) return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    calls = [];
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const unavailable = {
    status: 503,
    body: { error: { code: 'STORAGE_UNAVAILABLE', message: 'down', retryable: true } },
  };
  const fast = { attempts: 3, baseDelayMs: 1 };

  it('retries an idempotent request on a retryable answer, then succeeds', async () => {
    let n = 0;
    script = () =>
      ++n < 3 ? unavailable : { status: 200, body: { txid: 't', status: 'committed', version: 'v' } };
    const outcome = await new AftClient({ url, retry: fast }).transaction('t').commit();
    expect(outcome.version).toBe('v');
    expect(calls).toHaveLength(3);
  });

  it('gives up after the attempts, with the typed error', async () => {
    script = () => unavailable;
    await expect(new AftClient({ url, retry: fast }).transaction('t').commit()).rejects.toBeInstanceOf(
      StorageUnavailableError,
    );
    expect(calls).toHaveLength(3);
  });

  it('retries an idempotent request when the connection drops, but never a begin', async () => {
    script = () => ({ status: 0, destroy: true });
    await expect(new AftClient({ url, retry: fast }).transaction('t').get('k')).rejects.toBeInstanceOf(
      ConnectionError,
    );
    expect(calls).toHaveLength(3);
    calls = [];
    await expect(new AftClient({ url, retry: fast }).begin()).rejects.toBeInstanceOf(ConnectionError);
    expect(calls).toHaveLength(1);
  });

  it('a connection error names the shim it could not reach', async () => {
    const nowhere = 'http://127.0.0.1:9';
    const error = await new AftClient({ url: nowhere, retry: fast })
      .begin()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain(`POST ${nowhere}/v1/transactions`);
  });

  it('retries a begin that the shim answered with a retryable error', async () => {
    let n = 0;
    script = () => (++n < 2 ? unavailable : { status: 201, body: { txid: 'new' } });
    expect((await new AftClient({ url, retry: fast }).begin()).txid).toBe('new');
  });

  it('does not retry what cannot succeed, and maps KEY_NOT_FOUND to undefined', async () => {
    script = () => ({
      status: 409,
      body: { error: { code: 'TXN_NOT_RUNNING', message: 'done', retryable: false } },
    });
    await expect(new AftClient({ url, retry: fast }).transaction('t').put('k', 'v')).rejects.toBeInstanceOf(
      TransactionNotRunningError,
    );
    expect(calls).toHaveLength(1);
    script = () => ({
      status: 404,
      body: { error: { code: 'KEY_NOT_FOUND', message: 'none', retryable: false } },
    });
    expect(await new AftClient({ url }).transaction('t').get('k')).toBeUndefined();
    expect(new KeyNotFoundError('k').code).toBe('KEY_NOT_FOUND');
  });

  it('retries a begin when the connection is refused (nothing was sent)', async () => {
    const port = await freePort();
    const client = new AftClient({ url: `http://127.0.0.1:${port}`, retry: { attempts: 2, baseDelayMs: 1 } });
    await expect(client.begin()).rejects.toMatchObject({ code: 'CONNECTION_FAILED', retryable: true });
  });

  it('a repeated abort is done when the shim says the transaction is aborted, by its details not its message', async () => {
    const notRunning = (status: string) => () => ({
      status: 409,
      body: {
        error: {
          code: 'TXN_NOT_RUNNING',
          message: 'no longer',
          retryable: false,
          details: { txid: 't', status },
        },
      },
    });
    script = notRunning('aborted');
    await expect(new AftClient({ url, retry: fast }).transaction('t').abort()).resolves.toBeUndefined();
    script = notRunning('committed');
    await expect(new AftClient({ url, retry: fast }).transaction('t').abort()).rejects.toBeInstanceOf(
      TransactionNotRunningError,
    );
  });

  it('gives up on a request past requestTimeoutMs: repeats what is safe, not a begin', async () => {
    script = () => ({ status: 200, hang: true });
    const client = new AftClient({ url, retry: { attempts: 2, baseDelayMs: 1 }, requestTimeoutMs: 100 });
    await expect(client.status('t')).rejects.toMatchObject({ code: 'CONNECTION_FAILED', retryable: true });
    expect(calls).toEqual(['GET /v1/transactions/t', 'GET /v1/transactions/t']);
    calls = [];
    await expect(client.begin()).rejects.toBeInstanceOf(ConnectionError);
    expect(calls).toEqual(['POST /v1/transactions']);
  });

  it('honours an abort signal', async () => {
    script = () => unavailable;
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      new AftClient({ url, retry: fast }).transaction('t').get('k', { signal: controller.signal }),
    ).rejects.toThrow('stop');
  });

  it('an abort during a retry pause ends it with the signal’s reason', async () => {
    script = () => unavailable;
    const controller = new AbortController();
    const slow = { attempts: 3, baseDelayMs: 600_000, maxDelayMs: 600_000 };
    const read = new AftClient({ url, retry: slow }).transaction('t').get('k', { signal: controller.signal });
    read.catch(() => undefined);
    await eventually(
      () => calls.length,
      (count) => count > 0,
    );
    const reason = new Error('stop while waiting');
    controller.abort(reason);
    await expect(read).rejects.toBe(reason);
    expect(calls).toHaveLength(1);
  });
});
