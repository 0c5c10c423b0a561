/** Registers the conformance suite with Jest for one adapter. */
import type { StorageAdapter } from '../../adapters/contract.js';
import { conformanceCases, type ServerFeature } from './suite.js';

export interface ConformanceOptions {
  /** Features the test server lacks, each with the reason; cases that need one are skipped. */
  readonly lacking?: Partial<Record<ServerFeature, string>>;
  /** Whether the adapter writes versions and record atomically (putVersionsAndRecord). */
  readonly atomicVersionsAndRecord?: boolean;
  /** Whether the adapter puts many entries in one request of its own (putEntries). */
  readonly batchPutEntries?: boolean;
  /** Whether its atomic write checks other entries and spends one (putVersionsAndRecordUnless). */
  readonly fencedWrites?: boolean;
}

export function registerConformance(
  name: string,
  open: () => Promise<StorageAdapter>,
  options: ConformanceOptions = {},
): void {
  describe(`storage conformance: ${name}`, () => {
    it(`${options.atomicVersionsAndRecord ? 'writes' : 'does not write'} versions and record in one atomic operation`, async () => {
      const adapter = await open();
      try {
        expect(adapter.putVersionsAndRecord !== undefined).toBe(options.atomicVersionsAndRecord ?? false);
      } finally {
        await adapter.close();
      }
    });
    it(`${options.fencedWrites ? 'checks' : 'does not check'} entries in its atomic write`, async () => {
      const adapter = await open();
      try {
        expect(adapter.putVersionsAndRecordUnless !== undefined).toBe(options.fencedWrites ?? false);
      } finally {
        await adapter.close();
      }
    });
    it(`${options.batchPutEntries ? 'puts' : 'does not put'} many entries in a batch of its own`, async () => {
      const adapter = await open();
      try {
        expect(adapter.putEntries !== undefined).toBe(options.batchPutEntries ?? false);
      } finally {
        await adapter.close();
      }
    });
    for (const testCase of conformanceCases) {
      const missing = testCase.needs?.find((feature) => options.lacking?.[feature] !== undefined);
      if (missing) {
        it.skip(`${testCase.name} (skipped: ${options.lacking?.[missing]})`, () => undefined);
        continue;
      }
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
