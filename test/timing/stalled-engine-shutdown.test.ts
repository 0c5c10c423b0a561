/**
 * A node stops within its bounds when its engine stalls (a paused Redis, a partition that
 * drops packets): shutdown waits for storage no longer than a storage call's deadline at each
 * step, closing the engine's connections included (Redis's QUIT waited for its reply until
 * the 20 s command timeout aft gives the client).
 */
import { createAdapterFromUrl } from '../../adapters/url.js';
import { startShim } from '../../server/start.js';
import { eventually } from '../helpers/eventually.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { ENGINES } from '../servers/engines.js';

describe('a node over a stalled engine', () => {
  let proxy: TcpProxy;
  afterEach(() => proxy?.close());

  it('stops within its bounds (Redis through a proxy that stops passing anything)', async () => {
    const url = new URL(await ENGINES.redis.freshStorageUrl());
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.host = proxy.address;
    const shim = await startShim({
      port: 0,
      host: '127.0.0.1',
      storage: url.toString(),
      shutdownGraceMs: 300,
      timing: { storageCallTimeoutMs: 300 },
      env: {},
    });
    await shim.ready;
    const begun = await fetch(`${shim.url}/v1/transactions`, { method: 'POST' });
    expect(begun.status).toBe(201);

    proxy.stall();
    const started = performance.now();
    const outcome = await Promise.race([
      shim.close().then(() => 'closed'),
      new Promise<string>((resolve) => setTimeout(() => resolve('still closing'), 10_000).unref()),
    ]);
    expect(outcome).toBe('closed');
    // Each wait for storage is one deadline (300 ms): membership's goodbye, the engine's close.
    expect(performance.now() - started).toBeLessThan(5_000);
  }, 30_000);

  it("cuts the Redis adapter's connection once its close is told to stop waiting", async () => {
    const url = new URL(await ENGINES.redis.freshStorageUrl());
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.host = proxy.address;
    const adapter = createAdapterFromUrl(url.toString());
    await adapter.getEntry('ns', 'id');
    expect(proxy.openConnections).toBe(1);
    proxy.stall();
    const started = performance.now();
    await adapter.close({ signal: AbortSignal.timeout(200) });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(
      await eventually(
        () => proxy.openConnections,
        (open) => open === 0,
        { timeoutMs: 2_000 },
      ),
    ).toBe(0);
  });
});
