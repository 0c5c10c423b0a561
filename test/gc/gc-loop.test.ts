/**
 * The collector's loop in `aft serve` (server/gc-loop.ts): a round every interval while
 * anything happens; on an idle store the wait doubles, and activity brings it back at once.
 */
import type { CallOptions, CommitRecord } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { LEASE_NAMESPACE } from '../../gc/lease.js';
import { startGcLoop } from '../../server/gc-loop.js';
import { PrometheusMetrics } from '../../server/http/metrics.js';
import { type NodeLogger, silentLogger } from '../../shim/telemetry.js';
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

/** Holds every listing of commit records until the call's signal aborts. */
class HoldingAdapter extends MemoryAdapter {
  listingsHeld = 0;
  override listCommitRecords(
    after: string | undefined,
    options?: { readonly limit?: number } & CallOptions,
  ): Promise<CommitRecord[]> {
    const signal = options?.signal;
    if (!signal) return super.listCommitRecords(after, options);
    this.listingsHeld += 1;
    return new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

/** A loop of rounds every 10 ms over `storage`, whose calls `signal` abandons. */
function holdingLoop(storage: HoldingAdapter, logger: NodeLogger, signal: AbortSignal) {
  return startGcLoop({
    intervalMs: 10,
    ready: () => true,
    round: { storage, holder: 'node-a', leaseMs: 30, reserveMs: 10, deadAfterMs: 2000, signal },
    metrics: new PrometheusMetrics({ defaultMetrics: false }),
    logger,
  });
}

function recordingLogger(): NodeLogger & { readonly lines: { level: string; message?: string }[] } {
  const lines: { level: string; message?: string }[] = [];
  const at =
    (level: string) =>
    (_object: object, message?: string): void => {
      lines.push({ level, ...(message !== undefined && { message }) });
    };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

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

  it('says nothing of a pass that shutdown abandoned, and warns of one that failed', async () => {
    const storage = new HoldingAdapter();
    const logger = recordingLogger();
    const shutdown = new AbortController();
    const loop = holdingLoop(storage, logger, shutdown.signal);
    await eventually(
      () => storage.listingsHeld,
      (held) => held > 0,
    );
    // As `aft serve` stops: the loop first, then its rounds' calls abandoned.
    loop.stop();
    shutdown.abort();
    await sleep(50);
    expect(logger.lines.filter(({ level }) => level === 'warn' || level === 'error')).toEqual([]);

    // A pass that fails while the node runs is still a warning.
    const failing = new HoldingAdapter();
    const failingLogger = recordingLogger();
    const engineStalled = new AbortController();
    const running = holdingLoop(failing, failingLogger, engineStalled.signal);
    try {
      await eventually(
        () => failing.listingsHeld,
        (held) => held > 0,
      );
      engineStalled.abort(new Error('the engine went away'));
      await eventually(
        () => failingLogger.lines.filter(({ level }) => level === 'warn').length,
        (warnings) => warnings > 0,
      );
    } finally {
      running.stop();
    }
  });
});
