/**
 * The collector's loop in `aft serve` (server/gc-loop.ts): a round every interval while
 * anything happens; on an idle store the wait doubles, and activity brings it back at once.
 */
import type { CallOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { LEASE_NAMESPACE } from '../../gc/lease.js';
import { startGcLoop } from '../../server/gc-loop.js';
import { PrometheusMetrics } from '../../server/http/metrics.js';
import { silentLogger } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';

/** Counts the rounds: each asks for the lease first. */
class CountingAdapter extends MemoryAdapter {
  rounds = 0;
  override createEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions) {
    if (namespace === LEASE_NAMESPACE) this.rounds += 1;
    return super.createEntry(namespace, id, value, options);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the GC loop', () => {
  it('backs off while rounds find nothing, and is back at its interval once something happens', async () => {
    const storage = new CountingAdapter();
    const loop = startGcLoop({
      intervalMs: 20,
      ready: () => true,
      round: { storage, holder: 'node-a', leaseMs: 60, reserveMs: 20, deadAfterMs: 2000 },
      metrics: new PrometheusMetrics({ defaultMetrics: false }),
      logger: silentLogger,
    });
    try {
      await sleep(1200);
      // At a fixed pace, 60 rounds: 20, 40, 80, 160, 320, 640 ms apart.
      expect(storage.rounds).toBeGreaterThanOrEqual(4);
      expect(storage.rounds).toBeLessThanOrEqual(8);
      const idleRounds = storage.rounds;
      const woke = performance.now();
      loop.noteActivity();
      await eventually(
        () => storage.rounds,
        (rounds) => rounds > idleRounds,
      );
      expect(performance.now() - woke).toBeLessThan(200);
    } finally {
      loop.stop();
    }
  });
});
