/**
 * Late commit records (docs/protocol.md, "Abort markers"): a record write held in the network
 * or by a paused process arrives after someone acted on its absence. The abort marker makes
 * it lose, so it is never acknowledged, and no node is left knowing a commit others never
 * learn. Faults are injected by holding the storage call (test/helpers/holding-adapter.ts);
 * time moves through an injected clock, so nothing waits.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { CommitError, CommitFailure, INTENTS_NAMESPACE } from '../../shim/commit.js';
import { ErrorCode, StorageUnavailableError, TransactionLostError } from '../../shim/errors.js';
import { type CommitResult, ShimNode } from '../../shim/node.js';
import { knownLagMs, orphanAfterMs } from '../../shim/timing.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import {
  commitWithHeldRecord,
  nodesWithHeldStorage,
  RECORD_WRITES,
  TEST_TIMING,
  valueOn,
} from './held-commit.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const TIMING = TEST_TIMING;

describe('late commit records', () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_800_000_000_000;
  });

  it.each(RECORD_WRITES)(
    'a record that lands after the collector judged its commit an orphan loses to the marker, and its commit reports aborted (%s)',
    async (_, atomic) => {
      const { inner, holding, recordWrite, a, b: other } = await nodesWithHeldStorage(now, TIMING, atomic);
      await other.close();
      try {
        const { txid, commit } = await commitWithHeldRecord({ a, holding, recordWrite });

        // The record is on the wire for longer than any node waits for it.
        clock += orphanAfterMs(TIMING) + 1;
        const report = await collectGarbage({ storage: inner, now, timing: TIMING });
        expect(report.markersWritten).toBe(1);
        // An intent of keys only names versions to delete (none are stored where they go with
        // the record, and deleting them is a no-op); one that holds the values had none written.
        expect(report.orphanVersionsDeleted).toBe(atomic ? 1 : 0);

        expect(await holding.land(recordWrite)).toBe(false); // the late record lost
        // Nothing of it is stored: its versions were deleted, or never landed with the record.
        const marker = (await inner.listCommitRecords(undefined)).find((record) =>
          record.versionId.endsWith(txid),
        );
        expect(marker?.aborted).toBe(true);
        expect(await inner.getVersion({ key: 'k', versionId: marker!.versionId })).toBeUndefined();
        const error = await commit;
        expect(error).toBeInstanceOf(CommitError);
        expect((error as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
        expect(a.status(txid).status).toBe('aborted');
        // Its client repeats the commit: lost, retryable, so the function runs again.
        await expect(a.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);

        // Every node agrees: nothing was committed, and nothing is missing.
        const b = await ShimNode.open({ storage: inner, now, timing: TIMING });
        try {
          expect(await valueOn(b, 'k')).toBeUndefined();
          expect(await valueOn(a, 'k')).toBeUndefined();
        } finally {
          await b.close();
        }
      } finally {
        await a.close();
      }
    },
  );

  it.each(RECORD_WRITES)(
    'a paused committer cannot land its record after another node claimed to know its time (%s)',
    async (_, atomic) => {
      const pair = await nodesWithHeldStorage(now, TIMING, atomic);
      const { inner, holding, recordWrite, a, b } = pair;
      try {
        // A is paused between its deadline check and its record write.
        const { txid, commit } = await commitWithHeldRecord({ a, holding, recordWrite });
        const versionTime = clock;

        // Still in flight: B's settling pull claims no further than just below it.
        clock += knownLagMs(TIMING) + 1;
        await b.pull();
        expect(b.stats.knownThroughMs).toBeLessThan(versionTime);

        // Paused for longer than a commit may take: B judges it dead, marks it, and moves on.
        clock += orphanAfterMs(TIMING);
        await b.pull();
        expect(b.stats.knownThroughMs).toBeGreaterThan(versionTime);

        // A resumes: its record arrives and loses; it never acknowledges the commit.
        holding.stopHolding();
        expect(await holding.land(recordWrite)).toBe(false);
        expect(((await commit) as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
        expect(await valueOn(a, 'k')).toBeUndefined();
        expect(await valueOn(b, 'k')).toBeUndefined();
        // A marker is an abort to every reader: B never takes it for a commit.
        expect(b.committedVersionOf(txid)).toBeUndefined();
        await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
        expect(await b.pull()).toBe(0);
        // Its orphans are cleaned up by the committer that learned it lost.
        await new Promise((resolve) => setImmediate(resolve));
        expect(await inner.listEntries(INTENTS_NAMESPACE)).toEqual([]);
      } finally {
        await pair.close();
      }
    },
  );

  it.each(RECORD_WRITES)(
    'a record that lands while it is still in flight is learned by the next settling pull (%s)',
    async (_, atomic) => {
      const pair = await nodesWithHeldStorage(now, TIMING, atomic);
      const { holding, recordWrite, a, b } = pair;
      try {
        const { commit } = await commitWithHeldRecord({ a, holding, recordWrite });
        // A newer commit on B moves B's plain-pull watermark past A's version id.
        const other = b.begin().txid;
        b.write(other, [{ key: 'other', value: bytes('o') }]);
        clock += 1;
        await b.commit(other);
        clock += knownLagMs(TIMING) + 1;
        await b.pull();
        expect(await holding.land(recordWrite)).toBe(true);
        expect(((await commit) as CommitResult).status).toBe('committed');
        await b.pull();
        expect(await valueOn(b, 'k')).toBe('v');
        expect(b.stats.knownThroughMs).toBeGreaterThan(clock - knownLagMs(TIMING) - 1);
      } finally {
        await pair.close();
      }
    },
  );

  it('an intent acknowledged past the intent deadline is never followed by a record', async () => {
    const inner = new MemoryAdapter();
    const holding = new HoldingAdapter(inner);
    const a = await ShimNode.open({ storage: holding.adapter, now, timing: TIMING });
    try {
      holding.hold('putEntry', ([namespace]) => namespace === INTENTS_NAMESPACE);
      const txid = a.begin().txid;
      a.write(txid, [{ key: 'k', value: bytes('v') }]);
      const commit = a.commit(txid).catch((error: unknown) => error);
      await holding.waitForHeld();
      clock += TIMING.intentDeadlineMs + 1;
      holding.stopHolding();
      await holding.land('putEntry');
      expect(((await commit) as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
      expect(a.status(txid).status).toBe('aborted');
      await new Promise((resolve) => setImmediate(resolve));
      // It decided itself at once: its record id holds a marker, and it wrote no versions.
      const records = await inner.listCommitRecords(undefined);
      expect(records).toHaveLength(1);
      expect(records[0]!.aborted).toBe(true);
      expect(await inner.getVersion({ key: 'k', versionId: records[0]!.versionId })).toBeUndefined();
    } finally {
      await a.close();
    }
  });

  it('a wall clock stepped back during the intent write does not let a late intent pass its deadline', async () => {
    const inner = new MemoryAdapter();
    const holding = new HoldingAdapter(inner);
    let elapsed = 0;
    const a = await ShimNode.open({
      storage: holding.adapter,
      now,
      elapsedNow: () => elapsed,
      timing: TIMING,
    });
    try {
      holding.hold('putEntry', ([namespace]) => namespace === INTENTS_NAMESPACE);
      const txid = a.begin().txid;
      a.write(txid, [{ key: 'k', value: bytes('v') }]);
      const commit = a.commit(txid).catch((error: unknown) => error);
      await holding.waitForHeld();
      // NTP steps the wall clock a minute back while the intent is held past its deadline.
      clock -= 60_000;
      elapsed += TIMING.intentDeadlineMs + 1;
      holding.stopHolding();
      await holding.land('putEntry');
      expect(((await commit) as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
      await new Promise((resolve) => setImmediate(resolve));
      expect((await inner.listCommitRecords(undefined)).every((record) => record.aborted)).toBe(true);
    } finally {
      await a.close();
    }
  });

  it('a node that cannot vouch that it is live writes no record', async () => {
    const storage = new MemoryAdapter();
    let notLive: string | undefined;
    const a = await ShimNode.open({ storage, now, timing: TIMING, liveness: () => notLive });
    try {
      const txid = a.begin().txid;
      a.write(txid, [{ key: 'k', value: bytes('v') }]);
      notLive = 'no heartbeat reached storage for 6000 ms';
      const error = await a.commit(txid).catch((e: unknown) => e);
      expect((error as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
      expect((error as CommitError).message).toContain('cannot vouch');
      expect((await storage.listCommitRecords(undefined)).filter((record) => !record.aborted)).toEqual([]);
    } finally {
      await a.close();
    }
  });

  it('every storage call of a commit has one deadline: a held intent fails the commit in time, retryable', async () => {
    const holding = new HoldingAdapter(new MemoryAdapter());
    const a = await ShimNode.open({
      storage: holding.adapter,
      now,
      timing: { ...TIMING, storageCallTimeoutMs: 50 },
    });
    try {
      holding.hold('putEntry', ([namespace]) => namespace === INTENTS_NAMESPACE);
      const txid = a.begin().txid;
      a.write(txid, [{ key: 'k', value: bytes('v') }]);
      const error = await a.commit(txid).catch((e: unknown) => e);
      expect((error as CommitError).failure).toBe(CommitFailure.VERSIONS_FAILED);
      const cause = (error as CommitError).cause;
      expect(cause).toBeInstanceOf(StorageUnavailableError);
      expect((cause as StorageUnavailableError).code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
      expect((cause as Error).message).toMatch(/did not answer putEntry within 50 ms/);
      expect((error as CommitError).retryable).toBe(true);
    } finally {
      holding.stopHolding();
      await a.close();
    }
  });
});
