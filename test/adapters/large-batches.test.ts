/**
 * Batches past what a function call takes as arguments (about 120,000): the collector lists
 * a namespace whole, and puts and deletes its notes, on engines that answer a listing in one
 * page (the in-process store, Redis). Spread into arguments (`push(...page)`,
 * `assertEntryName(namespace, ...ids)`, `HDEL key ...ids`) such a batch threw RangeError:
 * Maximum call stack size exceeded.
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { RedisAdapter } from '../../adapters/redis.js';
import { COLLECTED_NAMESPACE, listAllEntries } from '../../gc/collector.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import { uniquePrefix } from '../servers/engines.js';

const COUNT = 200_000;
const ids = Array.from({ length: COUNT }, (_, i) => `note-${String(i).padStart(6, '0')}`);
const value = new TextEncoder().encode('[]');

async function roundTrip(adapter: StorageAdapter): Promise<void> {
  const storage = GuardedStorage.of(adapter);
  await storage.putEntries(
    COLLECTED_NAMESPACE,
    ids.map((id) => ({ id, value })),
  );
  const listed = await listAllEntries(storage, COLLECTED_NAMESPACE, {});
  expect(listed.length).toBe(COUNT);
  expect(listed[COUNT - 1]!.id).toBe(ids[COUNT - 1]);
  await storage.deleteEntries(COLLECTED_NAMESPACE, ids);
  expect(await listAllEntries(storage, COLLECTED_NAMESPACE, {})).toEqual([]);
}

describe(`batches of ${COUNT} entries`, () => {
  it('are put, listed whole and deleted on the in-process store', async () => {
    await roundTrip(new MemoryAdapter());
  });

  it('are put, listed whole and deleted on Redis', async () => {
    const adapter = new RedisAdapter({ url: process.env.AFT_TEST_REDIS_URL!, prefix: `${uniquePrefix()}:` });
    try {
      await roundTrip(adapter);
    } finally {
      await adapter.close();
    }
  }, 60_000);
});
