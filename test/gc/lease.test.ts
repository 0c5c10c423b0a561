/** The collector's lease (gc/lease.ts): one holder per period, told by one read. */
import type { CallOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { acquireLease, LEASE_NAMESPACE } from '../../gc/lease.js';

class CountingAdapter extends MemoryAdapter {
  leaseListings = 0;
  override listEntries(namespace: string, options?: CallOptions & { limit?: number; after?: string }) {
    if (namespace === LEASE_NAMESPACE) this.leaseListings += 1;
    return super.listEntries(namespace, options);
  }
}

describe('the GC lease', () => {
  it('one holder per period; whoever asks again learns the holder without listing the leases', async () => {
    const storage = new CountingAdapter();
    const now = () => 1_000_000;
    expect(await acquireLease(storage, 'node-a', 30_000, now)).toMatchObject({
      held: true,
      holder: 'node-a',
    });
    const listedByTheWinner = storage.leaseListings;
    expect(await acquireLease(storage, 'node-b', 30_000, now)).toMatchObject({
      held: false,
      holder: 'node-a',
    });
    expect(await acquireLease(storage, 'node-a', 30_000, now)).toMatchObject({
      held: true,
      holder: 'node-a',
    });
    expect(storage.leaseListings).toBe(listedByTheWinner);
    // The next period is someone else's to take, and the past one is removed.
    expect(await acquireLease(storage, 'node-b', 30_000, () => 1_030_000)).toMatchObject({ held: true });
    expect((await storage.listEntries(LEASE_NAMESPACE)).map((entry) => entry.id)).toHaveLength(1);
  });
});
