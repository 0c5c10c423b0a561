import { MemoryAdapter } from '../../adapters/memory.js';
import { registerConformance } from './jest.js';

registerConformance('memory', async () => new MemoryAdapter(), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
});
// With a clock: it tells time and writes versions and record by it, as a Redis script does.
registerConformance('memory with a clock', async () => new MemoryAdapter({ clock: Date.now }), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
});
