/**
 * What a node remembers of the commits local GC dropped (shim/collected-ids.ts): every one a
 * settling pull may still list, however many, so no pull reads their records again; none
 * once the node's claim has passed them.
 */
import type { CommitRecord, StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { CollectedIds } from '../../shim/collected-ids.js';
import { CommitLearner } from '../../shim/commit-learning.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import {
  formatVersionId,
  HybridLogicalClock,
  newNodeId,
  TxidGenerator,
  versionIdFloor,
} from '../../shim/ids.js';
import { Metadata } from '../../shim/metadata.js';
import { noMetrics } from '../../shim/telemetry.js';
import { DEFAULT_TIMING } from '../../shim/timing.js';

const id = (ms: number, logical = 0) => formatVersionId({ physicalMs: ms, logical }, 't');

describe('CollectedIds', () => {
  it('keeps the older generation while any of it is at or above the claim, and drops it once all is below', () => {
    const collected = new CollectedIds();
    collected.add(id(1000)).add(id(5000));
    // Rotates: the two ids become the older generation.
    collected.forgetBelow(versionIdFloor(0));
    collected.add(id(6000));
    collected.forgetBelow(versionIdFloor(4000));
    expect([id(1000), id(5000), id(6000)].map((v) => collected.has(v))).toEqual([true, true, true]);
    collected.forgetBelow(versionIdFloor(5001));
    expect([id(1000), id(5000), id(6000)].map((v) => collected.has(v))).toEqual([false, false, true]);
    expect(collected.size).toBe(1);
  });

  it('past its bound per generation drops the older one anyway', () => {
    const collected = new CollectedIds(3);
    for (let ms = 1; ms <= 7; ms += 1) collected.add(id(ms));
    // 1-3 went when 4-6 filled the newer generation; 7 is the newest.
    expect([1, 3, 4, 6, 7].map((ms) => collected.has(id(ms)))).toEqual([false, false, true, true, true]);
    expect(() => new CollectedIds(0)).toThrow(RangeError);
  });
});

/** An adapter that counts the records read one by one. */
function countingReads(inner: StorageAdapter): { adapter: StorageAdapter; reads: () => number } {
  let reads = 0;
  const adapter = Object.create(inner) as StorageAdapter;
  adapter.getCommitRecord = (versionId, options) => {
    reads += 1;
    return inner.getCommitRecord(versionId, options);
  };
  return { adapter, reads: () => reads };
}

describe('a settling pull and the commits local GC dropped', () => {
  it('reads none of them again, however many, and forgets them once the claim passes them', async () => {
    let nowMs = Date.now();
    const memory = new MemoryAdapter();
    const { adapter, reads } = countingReads(memory);
    const learner = new CommitLearner({
      storage: GuardedStorage.of(adapter),
      metrics: noMetrics,
      metadata: new Metadata(),
      clock: new HybridLogicalClock(() => nowMs),
      timing: DEFAULT_TIMING,
      now: () => nowMs,
    });
    await learner.bootstrap();
    // 250,000 commits of the last 10 s that this node learned and local GC dropped: more than
    // twice the 100,000 the node remembered before, all within what a settling pull lists.
    const txids = new TxidGenerator(newNodeId(), () => nowMs);
    const count = 250_000;
    for (let i = 0; i < count; i += 1) {
      const txid = txids.next();
      const record: CommitRecord = {
        versionId: formatVersionId(
          { physicalMs: nowMs - 10_000 + Math.floor(i / 100), logical: i % 100 },
          txid,
        ),
        txid,
        writeSet: ['k'],
        deleted: [],
      };
      await memory.putCommitRecord(record);
      learner.collected.add(record.versionId);
    }
    await learner.settle();
    expect(reads()).toBe(0);
    expect(learner.collected.size).toBe(count);
    // Past the lag, two settling pulls move the claim beyond them: nothing is held for them.
    nowMs += DEFAULT_TIMING.intentDeadlineMs + DEFAULT_TIMING.maxClockSkewMs + 1000;
    await learner.settle();
    await learner.settle();
    expect(learner.collected.size).toBe(0);
    expect(reads()).toBe(0);
  }, 60_000);
});
