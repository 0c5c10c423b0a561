/**
 * An idle node lists the members every few heartbeats and heartbeats at its usual pace (its
 * liveness unchanged); activity lists at once. A request for a transaction of an owner it
 * does not know (one that joined since its last listing) lists again before answering.
 */
import type { CallOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { startShim } from '../../server/start.js';
import { MEMBERS_NAMESPACE, Membership } from '../../shim/membership.js';
import { eventually } from '../helpers/eventually.js';
import { httpClient } from '../helpers/http.js';

class CountingAdapter extends MemoryAdapter {
  listings = 0;
  heartbeats = 0;
  override listEntries(namespace: string, options?: CallOptions & { limit?: number; after?: string }) {
    if (namespace === MEMBERS_NAMESPACE) this.listings += 1;
    return super.listEntries(namespace, options);
  }
  override putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions) {
    if (namespace === MEMBERS_NAMESPACE) this.heartbeats += 1;
    return super.putEntry(namespace, id, value, options);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an idle member', () => {
  it('heartbeats at its pace but lists only every idleListingMs, and at once when something happens', async () => {
    const storage = new CountingAdapter();
    const member = new Membership({
      storage,
      nodeId: 'node-a',
      url: 'http://node-a',
      lowWaterMs: () => 0,
      heartbeatMs: 20,
      deadAfterMs: 1000,
      idleListingMs: 200,
    });
    await member.register();
    await member.start();
    try {
      // Idle after its first 200 ms: from then on a listing per ~10 heartbeats.
      await sleep(300);
      const from = { listings: storage.listings, heartbeats: storage.heartbeats };
      await sleep(1000);
      const heartbeats = storage.heartbeats - from.heartbeats;
      const listings = storage.listings - from.listings;
      expect(heartbeats).toBeGreaterThanOrEqual(25);
      expect(listings).toBeGreaterThanOrEqual(3);
      expect(listings).toBeLessThanOrEqual(7);
      expect(member.liveness()).toBeUndefined();
      const before = storage.listings;
      const woke = performance.now();
      member.noteActivity();
      await eventually(
        () => storage.listings,
        (count) => count > before,
      );
      // At once: not at its next idle listing, up to 200 ms away.
      expect(performance.now() - woke).toBeLessThan(100);
      // Kept busy, it lists at every heartbeat.
      const busyFrom = storage.listings;
      for (let i = 0; i < 10; i += 1) {
        member.noteActivity();
        await sleep(20);
      }
      expect(storage.listings - busyFrom).toBeGreaterThanOrEqual(6);
    } finally {
      await member.stop();
    }
  });

  it('a request for a transaction of a node it has not listed yet is forwarded after one more listing', async () => {
    const storage = new MemoryAdapter();
    // Node a heartbeats (and lists) every 30 s: it lists b only when a request needs it.
    const a = await startShim({
      port: 0,
      adapter: storage,
      heartbeatMs: 30_000,
      deadAfterMs: 120_000,
      env: {},
    });
    await a.ready;
    await sleep(1100);
    const b = await startShim({ port: 0, adapter: storage, env: {} });
    try {
      await b.ready;
      const txid = ((await httpClient(b.url)('POST', '/v1/transactions')).json as { txid: string }).txid;
      const answer = await httpClient(a.url)('GET', `/v1/transactions/${txid}`);
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ txid, status: 'running' });
      // And a does not list again for every such request.
      const asked = await eventually(
        async () => (await httpClient(a.url)('GET', `/v1/transactions/${txid}`)).status,
        (status) => status === 200,
      );
      expect(asked).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
