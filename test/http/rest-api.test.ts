/**
 * The REST API (wire/api.ts, server/http/openapi.ts) on the in-memory engine, plus what does not depend on the
 * engine: auth, readiness and shutdown. The other engines run the same suite from
 * rest-api.<engine>.test.ts.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import { httpClient } from '../helpers/http.js';
import { ENGINES } from '../servers/engines.js';
import { expectError, registerRestApiSuite } from './rest-api-suite.js';

const keyPath = (txid: string, key: string) => `/v1/transactions/${txid}/keys/${encodeURIComponent(key)}`;

registerRestApiSuite(ENGINES.memory);
// The same routes as a user who mounts the express app gets them.
registerRestApiSuite(ENGINES.memory, { httpFront: 'express' });

describe('REST API with auth on', () => {
  let shim: RunningShim;
  beforeAll(async () => {
    shim = await startShim({ port: 0, storage: 'memory:', env: { AFT_TOKENS: 'secret-one, secret-two' } });
    await shim.ready;
  });
  afterAll(() => shim.close());

  it('UNAUTHORIZED without a bearer token, FORBIDDEN with a wrong one, through with a right one', async () => {
    const anonymous = httpClient(shim.url);
    const missing = await anonymous('POST', '/v1/transactions');
    expectError(missing, 401, 'UNAUTHORIZED');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expectError(
      await anonymous('POST', '/v1/transactions', { headers: { authorization: 'Basic abc' } }),
      401,
      'UNAUTHORIZED',
    );
    expectError(await anonymous('GET', '/metrics'), 401, 'UNAUTHORIZED');
    const wrong = httpClient(shim.url, { authorization: 'Bearer secret-three' });
    expectError(await wrong('POST', '/v1/transactions'), 403, 'FORBIDDEN');
    expectError(await wrong('GET', '/v1/transactions/x'), 403, 'FORBIDDEN');
    for (const token of ['secret-one', 'secret-two']) {
      const right = httpClient(shim.url, { authorization: `Bearer ${token}` });
      expect((await right('POST', '/v1/transactions')).status).toBe(201);
      expect((await right('GET', '/metrics')).status).toBe(200);
    }
  });

  it('leaves health, readiness and the OpenAPI document open', async () => {
    const anonymous = httpClient(shim.url);
    expect((await anonymous('GET', '/healthz')).status).toBe(200);
    expect((await anonymous('GET', '/readyz')).status).toBe(200);
    expect((await anonymous('GET', '/v1/openapi.json')).status).toBe(200);
  });
});

describe('REST API with auth on and --metrics-auth off', () => {
  it('lets a scraper read /metrics without a token, and nothing else', async () => {
    const shim = await startShim({
      port: 0,
      storage: 'memory:',
      env: { AFT_TOKENS: 'secret', AFT_METRICS_AUTH: 'off' },
    });
    await shim.ready;
    const anonymous = httpClient(shim.url);
    expect((await anonymous('GET', '/metrics')).status).toBe(200);
    expectError(await anonymous('POST', '/v1/transactions'), 401, 'UNAUTHORIZED');
    await shim.close();
  });
});

describe('REST API readiness and shutdown', () => {
  it('is alive but not ready while metadata cannot be loaded, and ready once it can', async () => {
    const storage = new FaultyAdapter(new MemoryAdapter());
    storage.arm({ operation: 'listCommitRecords', phase: 'before', effect: 'throw' });
    // Each listing waits until the test lets it go, so "not ready yet" is certain, not likely.
    const holding = new HoldingAdapter(storage);
    holding.hold('listCommitRecords');
    const shim = await startShim({ port: 0, adapter: holding.adapter, env: {} });
    const call = httpClient(shim.url);
    expect((await call('GET', '/healthz')).status).toBe(200);
    await holding.waitForHeld();
    expect((await call('GET', '/readyz')).status).toBe(503);
    expectError(await call('POST', '/v1/transactions'), 503, 'NOT_READY', true);
    // The first attempt fails; the retry (after 100 ms) succeeds.
    await expect(holding.land('listCommitRecords')).rejects.toThrow();
    await holding.waitForHeld();
    expectError(await call('POST', '/v1/transactions'), 503, 'NOT_READY', true);
    holding.stopHolding();
    await holding.land('listCommitRecords');
    await shim.ready;
    expect((await call('GET', '/readyz')).status).toBe(200);
    expect((await call('POST', '/v1/transactions')).status).toBe(201);
    await shim.close();
  });

  it('on close: stops accepting, lets an in-flight commit finish, aborts the rest', async () => {
    const inner = new MemoryAdapter();
    const storage = new FaultyAdapter(inner);
    const shim = await startShim({ port: 0, adapter: storage, env: {} });
    await shim.ready;
    const call = httpClient(shim.url);
    const committing = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
    const running = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
    await call('PUT', keyPath(committing, 'k'), { raw: 'v' });
    // Slow storage: the commit is in flight when shutdown starts.
    const slowPut = inner.putVersions.bind(inner);
    let putting = false;
    inner.putVersions = async (...args) => {
      putting = true;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return slowPut(...args);
    };
    const commit = call('POST', `/v1/transactions/${committing}/commit`);
    await eventually(
      () => putting,
      (started) => started,
    );
    const closed = shim.close();
    const answer = await commit;
    expect(answer.status).toBe(200);
    await closed;
    expect(shim.node.status(running).status).toBe('aborted');
    expect(await inner.listCommitRecords(undefined)).toHaveLength(1);
    await expect(call('GET', '/healthz')).rejects.toThrow();
  });
});

describe('REST API between nodes', () => {
  it('learns commit records a peer pushes, and refuses malformed ones with 400', async () => {
    const storage = new MemoryAdapter();
    const shim = await startShim({ port: 0, adapter: storage, peerTokens: ['peer-token'], env: {} });
    await shim.ready;
    const call = httpClient(shim.url, { authorization: 'Bearer peer-token' });
    try {
      const txid = `peerpeerpe-1-1-${'0'.repeat(31)}f`;
      const versionId = `0190a1b2c3d4000000.${txid}`;
      await storage.putVersions([{ key: 'k', versionId, value: new TextEncoder().encode('from a peer') }]);
      const record = { versionId, txid, writeSet: ['k'], deleted: [] };
      expectError(
        await call('POST', '/v1/internal/commits', { json: { records: [{ ...record, versionId: 'a b' }] } }),
        400,
        'BAD_REQUEST',
      );
      expectError(
        await call('POST', '/v1/internal/commits', { json: { records: [{ versionId }] } }),
        400,
        'BAD_REQUEST',
      );
      const pushed = await call('POST', '/v1/internal/commits', { json: { records: [record] } });
      expect(pushed.json).toEqual({ learned: 1, refused: 0 });
      expect((await call('POST', '/v1/internal/commits', { json: { records: [record] } })).json).toEqual({
        learned: 0,
        refused: 0,
      });
      const reader = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
      const read = await call('GET', keyPath(reader, 'k'));
      expect([read.status, read.headers.get('aft-version')]).toEqual([200, versionId]);
      const node = (await call('GET', '/v1/node')).json as { nodeId: string; ready: boolean };
      expect(node).toMatchObject({ nodeId: shim.node.nodeId, ready: true });
    } finally {
      await shim.close();
    }
  });
});
