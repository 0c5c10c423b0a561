/** Two nodes over one in-process store that learn each other's commits only by push. */
import { MemoryAdapter } from '../../adapters/memory.js';
import { type RunningShim, startShim } from '../../server/start.js';

export async function startPushingPair(): Promise<{
  a: RunningShim;
  b: RunningShim;
  close(): Promise<void>;
}> {
  const storage = new MemoryAdapter();
  // Pulls so rare that only a push can teach one node the other's commits within a test.
  const options = { port: 0, adapter: storage, pullIntervalMs: 600_000, heartbeatMs: 100, env: {} };
  const a = await startShim(options);
  const b = await startShim(options);
  await Promise.all([a.ready, b.ready]);
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}
