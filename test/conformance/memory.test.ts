import { MemoryAdapter } from '../../adapters/memory.js';
import { registerConformance } from './jest.js';

registerConformance('memory', async () => new MemoryAdapter(), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
  batchCreateEntries: true,
});
// With a clock: it tells time and writes versions and record by it, as a Redis script does.
registerConformance('memory with a clock', async () => new MemoryAdapter({ clock: Date.now }), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
  batchCreateEntries: true,
});
// Swapping an entry in its atomic write, as DynamoDB does: commits spend tickets.
registerConformance('memory with swapping writes', async () => new MemoryAdapter({ swappingWrites: true }), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
  batchCreateEntries: true,
  swappingWrites: true,
});
