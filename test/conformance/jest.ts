/** Registers the conformance suite with Jest for one adapter. */
import type { StorageAdapter } from '../../adapters/contract.js';
import { conformanceCases } from './suite.js';

export function registerConformance(name: string, open: () => Promise<StorageAdapter>): void {
  describe(`storage conformance: ${name}`, () => {
    for (const testCase of conformanceCases) {
      it(testCase.name, async () => {
        const adapter = await open();
        try {
          await testCase.run(adapter);
        } finally {
          await adapter.close();
        }
      });
    }
  });
}
