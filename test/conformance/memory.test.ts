import { MemoryAdapter } from '../../adapters/memory.js';
import { registerConformance } from './jest.js';

registerConformance('memory', async () => new MemoryAdapter(), { atomicVersionsAndRecord: true });
