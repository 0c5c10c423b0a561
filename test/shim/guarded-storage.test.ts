/**
 * The one door to storage (shim/guarded-storage.ts): engine failures become typed, retryable
 * errors, every call has a deadline, and the node, membership, the collector and the GC lease
 * all call storage through it.
 */
import { getEventListeners } from 'node:events';
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { acquireLease } from '../../gc/lease.js';
import { StorageUnavailableError } from '../../shim/errors.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import { Membership } from '../../shim/membership.js';
import { noMetrics } from '../../shim/telemetry.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';

/** A memory adapter whose entry and record calls fail as an engine's would. */
class BrokenAdapter extends MemoryAdapter {
  override listEntries(): never {
    throw new Error('ECONNRESET from the engine');
  }
  override createEntry(): never {
    throw new Error('ECONNRESET from the engine');
  }
  override putEntry(): never {
    throw new Error('ECONNRESET from the engine');
  }
}

/** The in-process store as an engine with no batch of its own, whose writes of `slow` land late. */
function noBatchStore(): MemoryAdapter {
  return new Proxy(new MemoryAdapter(), {
    get(target, property, receiver) {
      if (property === 'putEntries') return undefined;
      if (property === 'putEntry') {
        return async (namespace: string, id: string, value: Uint8Array) => {
          if (new TextDecoder().decode(value) === 'slow')
            await new Promise((resolve) => setTimeout(resolve, 20));
          return target.putEntry(namespace, id, value);
        };
      }
      const found: unknown = Reflect.get(target, property, receiver);
      return typeof found === 'function' ? found.bind(target) : found;
    },
  });
}

describe('GuardedStorage', () => {
  it('puts a batch on an engine without one, the last of two entries with one id staying', async () => {
    const storage = GuardedStorage.of(noBatchStore());
    const bytes = (text: string) => new TextEncoder().encode(text);
    await storage.putEntries('ns', [
      { id: 'a', value: bytes('slow') },
      { id: 'b', value: bytes('b') },
      { id: 'a', value: bytes('last') },
    ]);
    const listed = await storage.listEntries('ns');
    expect(listed.map(({ id, value }) => [id, new TextDecoder().decode(value)])).toEqual([
      ['a', 'last'],
      ['b', 'b'],
    ]);
  });

  it('turns an engine failure into a retryable StorageUnavailableError that keeps the cause', async () => {
    const error = await GuardedStorage.of(new BrokenAdapter())
      .listEntries('members')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryable).toBe(true);
    expect(((error as Error).cause as Error).message).toBe('ECONNRESET from the engine');
  });

  it('abandons a call past its deadline, the default one or its own', async () => {
    const holding = new HoldingAdapter(new MemoryAdapter());
    holding.hold('getEntry');
    const storage = GuardedStorage.of(holding.adapter, { timeoutMs: 30 });
    await expect(storage.getEntry('ns', 'id')).rejects.toThrow(/did not answer getEntry within 30 ms/);
    await expect(storage.getEntry('ns', 'id', { timeoutMs: 10 })).rejects.toThrow(/within 10 ms/);
    holding.stopHolding();
  });

  it('never abandons a call before its own deadline, though calls share deadline signals', async () => {
    const holding = new HoldingAdapter(new MemoryAdapter());
    holding.hold('getEntry');
    const storage = GuardedStorage.of(holding.adapter, { timeoutMs: 40 });
    // Calls a few ms apart, the later ones in the window the first one opened.
    const waited = await Promise.all(
      [0, 3, 6, 9, 12].map(async (delayMs) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        const started = performance.now();
        await expect(storage.getEntry('ns', 'id')).rejects.toThrow(/within 40 ms/);
        return performance.now() - started;
      }),
    );
    for (const ms of waited) expect(ms).toBeGreaterThanOrEqual(39);
    // And not much after it: a window is 10 ms.
    for (const ms of waited) expect(ms).toBeLessThan(40 + 10 + 200);
    holding.stopHolding();
  });

  it('aborts no deadline signal whose calls all answered (under load a window a 10 ms, each abort an exception)', async () => {
    const signals: AbortSignal[] = [];
    const seeing = Object.assign(Object.create(new MemoryAdapter()) as MemoryAdapter, {
      getEntry(namespace: string, id: string, options?: { signal?: AbortSignal }) {
        if (options?.signal) signals.push(options.signal);
        return MemoryAdapter.prototype.getEntry.call(this, namespace, id, options);
      },
    });
    const storage = GuardedStorage.of(seeing, { timeoutMs: 20 });
    await storage.getEntry('ns', 'id');
    await new Promise((resolve) => setTimeout(resolve, 20 + 10 + 50));
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(false);
    // A call still running past it is told: an engine that never answers, but listens.
    const stalled = Object.assign(Object.create(new MemoryAdapter()) as MemoryAdapter, {
      getEntry(_namespace: string, _id: string, options?: { signal?: AbortSignal }) {
        const signal = options!.signal!;
        signals.push(signal);
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    });
    const held = GuardedStorage.of(stalled, { timeoutMs: 20 });
    await expect(held.getEntry('ns', 'id')).rejects.toThrow(/within 20 ms/);
    expect(signals[1]!.aborted).toBe(true);
  });

  it("a caller's abort rejects with the caller's reason; its deadline still holds beside the caller's signal", async () => {
    const holding = new HoldingAdapter(new MemoryAdapter());
    holding.hold('getEntry');
    const storage = GuardedStorage.of(holding.adapter, { timeoutMs: 30 });
    const caller = new AbortController();
    const aborted = storage.getEntry('ns', 'id', { signal: caller.signal }).catch((e: unknown) => e);
    await holding.waitForHeld(1);
    caller.abort(new Error('the client went away'));
    expect(((await aborted) as Error).message).toBe('the client went away');
    // A caller's signal that never aborts leaves the deadline in charge.
    await expect(storage.getEntry('ns', 'id', { signal: new AbortController().signal })).rejects.toThrow(
      /did not answer getEntry within 30 ms/,
    );
    // Already aborted: the call is refused with that reason.
    const gone = new AbortController();
    gone.abort(new Error('gone before the call'));
    await expect(storage.getEntry('ns', 'id', { signal: gone.signal })).rejects.toThrow(
      'gone before the call',
    );
    holding.stopHolding();
  });

  it("stops listening to a caller's signal once each call is over, however many share it", async () => {
    const storage = GuardedStorage.of(new MemoryAdapter(), { timeoutMs: 1000 });
    const caller = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      // More calls at once than an EventTarget's default listener bound (10).
      await Promise.all(
        Array.from({ length: 25 }, (_, i) => storage.getEntry('ns', `id${i}`, { signal: caller.signal })),
      );
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it("closes the engine's connections within a call's deadline, telling the adapter to stop waiting", async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const stalled = (honoursSignal: boolean) =>
      Object.assign(new MemoryAdapter(), {
        close: (options?: { signal?: AbortSignal }) => {
          seen.push(options?.signal);
          return new Promise<void>((resolve) => {
            if (honoursSignal) options?.signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        },
      });
    for (const honoursSignal of [true, false]) {
      const started = performance.now();
      await GuardedStorage.of(stalled(honoursSignal), { timeoutMs: 50 }).close();
      expect(performance.now() - started).toBeLessThan(1_000);
    }
    expect(seen.map((signal) => signal?.aborted)).toEqual([true, true]);
  });

  it('counts every call by operation, failed ones too', async () => {
    const calls: string[] = [];
    const metrics = { ...noMetrics, storageCall: (operation: string) => calls.push(operation) };
    const storage = GuardedStorage.of(new BrokenAdapter(), { metrics });
    await storage.getEntry('ns', 'id');
    await storage.listEntries('members').catch(() => undefined);
    await storage.listCommitRecords(undefined, { limit: 10 });
    expect(calls).toEqual(['getEntry', 'listEntries', 'listCommitRecords']);
  });

  it('has exactly the optional methods of the engine, and guards an adapter once', () => {
    const memory = GuardedStorage.of(new MemoryAdapter());
    expect(memory.time).toBeUndefined();
    expect(GuardedStorage.of(memory)).toBe(memory);
  });

  it('is the door of membership, the collector and the GC lease', async () => {
    const broken = new BrokenAdapter();
    const membership = new Membership({ storage: broken, nodeId: 'n', url: 'http://n', lowWaterMs: () => 0 });
    await expect(membership.register()).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(collectGarbage({ storage: broken })).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(acquireLease(broken, 'n', 1000)).rejects.toBeInstanceOf(StorageUnavailableError);
  });
});
