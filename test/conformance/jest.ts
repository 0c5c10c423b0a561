/** Registers the conformance suite with Jest for one adapter. */
import type { StorageAdapter } from '../../adapters/contract.js';
import { conformanceCases, damagedRecordCase, type ServerFeature } from './suite.js';

export interface ConformanceOptions {
  /** Features the test server lacks, each with the reason; cases that need one are skipped. */
  readonly lacking?: Partial<Record<ServerFeature, string>>;
  /** Whether the adapter writes versions and record atomically (putVersionsAndRecord). */
  readonly atomicVersionsAndRecord?: boolean;
  /** Whether the adapter puts many entries in one request of its own (putEntries). */
  readonly batchPutEntries?: boolean;
  /** Whether the adapter creates many entries in a batch of its own (createEntries). */
  readonly batchCreateEntries?: boolean;
  /** Whether its atomic write swaps an entry (putVersionsAndRecordSwapping). */
  readonly swappingWrites?: boolean;
  /**
   * Stores `bytes` where the record `versionId` lives, past the adapter (damage at rest), for
   * the case of a record it cannot read; the in-process store, which holds no bytes, has none.
   */
  readonly damageRecord?: (adapter: StorageAdapter, versionId: string, bytes: Uint8Array) => Promise<void>;
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
    it(`${options.batchCreateEntries ? 'creates' : 'does not create'} many entries in a batch of its own`, async () => {
      const adapter = await open();
      try {
        expect(adapter.createEntries !== undefined).toBe(options.batchCreateEntries ?? false);
      } finally {
        await adapter.close();
      }
    });
    it(`${options.swappingWrites ? 'swaps' : 'does not swap'} an entry in its atomic write`, async () => {
      const adapter = await open();
      try {
        expect(adapter.putVersionsAndRecordSwapping !== undefined).toBe(options.swappingWrites ?? false);
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
    const damageRecord = options.damageRecord;
    if (damageRecord) {
      it(damagedRecordCase.name, async () => {
        const adapter = await open();
        try {
          await damagedRecordCase.run(adapter, (versionId, bytes) => damageRecord(adapter, versionId, bytes));
        } finally {
          await adapter.close();
        }
      });
    }
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
