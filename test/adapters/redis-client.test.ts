/**
 * The Redis adapter's client: one the user passes is used as it is and left open; a server
 * that goes away fails calls within seconds (the shim answers 503) instead of hanging them,
 * and the adapter recovers by itself when the server is back.
 */
import { Redis } from 'ioredis';
import { RedisAdapter } from '../../adapters/redis.js';
import { versionAt } from '../conformance/suite.js';
import { uniquePrefix } from '../servers/engines.js';
import { startRedis } from '../servers/redis.js';

describe('Redis adapter client', () => {
  it("uses the user's own client and leaves it open on close()", async () => {
    const client = new Redis(process.env.AFT_TEST_REDIS_URL!);
    const adapter = new RedisAdapter({ client, prefix: `${uniquePrefix()}:` });
    const versionId = versionAt(70_000);
    await adapter.putVersions([{ key: 'k', versionId, value: new Uint8Array([7]) }]);
    expect(await adapter.getVersion({ key: 'k', versionId })).toEqual(new Uint8Array([7]));
    await adapter.close();
    expect(await client.ping()).toBe('PONG');
    expect(await client.exists(`${adapter.prefix}v:${versionId}:k`)).toBe(1);
    await client.quit();
  });

  it('fails calls within seconds while the server is down, and recovers when it is back', async () => {
    const server = await startRedis();
    const port = Number(new URL(server.url).port);
    const adapter = new RedisAdapter({ url: server.url });
    try {
      const versionId = versionAt(71_000);
      await adapter.putVersions([{ key: 'k', versionId, value: new Uint8Array([1]) }]);
      await server.stop();
      const started = Date.now();
      await expect(adapter.getVersion({ key: 'k', versionId })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(15_000);

      // Back on the same port (empty: this server keeps nothing), the same adapter works again.
      const again = await startRedis(port);
      try {
        await adapter.putVersions([{ key: 'k', versionId, value: new Uint8Array([2]) }]);
        expect(await adapter.getVersion({ key: 'k', versionId })).toEqual(new Uint8Array([2]));
      } finally {
        await again.stop();
      }
    } finally {
      await adapter.close();
    }
  }, 60_000);
});
