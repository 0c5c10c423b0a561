/**
 * Idempotency claims and the records they depend on, at the edges of their time bounds
 * (docs/protocol.md, "Idempotency keys" and "Garbage collection"): no pass deletes a record
 * whose claim it has not settled, whatever instant it runs at, so a retry never commits again.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { decodeClaim, IDEMPOTENCY_NAMESPACE } from '../../shim/idempotency.js';
import { parseVersionId } from '../../shim/ids.js';
import { ShimNode } from '../../shim/node.js';
import { DEFAULT_TIMING, orphanAfterMs, type Timing } from '../../shim/timing.js';

const encoder = new TextEncoder();
const TIMING: Timing = {
  ...DEFAULT_TIMING,
  intentDeadlineMs: 2_500,
  recordDeadlineMs: 5_000,
  storageCallTimeoutMs: 4_000,
  maxClockSkewMs: 1_000,
  outcomeRetentionMs: 60_000,
  markerRetentionMs: 60_000,
  pullIntervalMs: 1e9,
};

describe('claims at the edges of their bounds', () => {
  it.each([
    ['exactly at its settle instant', orphanAfterMs(TIMING)],
    ['just past its settle instant', orphanAfterMs(TIMING) + 1],
    ['exactly at the outcome retention', TIMING.outcomeRetentionMs],
    ['just past the outcome retention', TIMING.outcomeRetentionMs + 1],
  ])(
    'a pass %s never leaves a record deleted while its claim is unsettled: the retry replays',
    async (_, afterMs) => {
      const storage = new MemoryAdapter();
      let clock = 1_800_000_000_000;
      const now = () => clock;
      const node = await ShimNode.open({ storage, now, timing: TIMING });
      try {
        const begun = await node.beginIdempotent('order-1');
        if ('replayed' in begun) throw new Error('expected a new transaction');
        node.write(begun.txid, [{ key: 'stock', value: encoder.encode('9') }]);
        const { version } = await node.commit(begun.txid, { result: encoder.encode('sold') });
        // Superseded, so the pass may delete the record once its rules allow.
        clock += 1;
        const next = node.begin().txid;
        node.write(next, [{ key: 'stock', value: encoder.encode('8') }]);
        await node.commit(next);
        // The committer died before anything marked its claim committed.
        const [entry] = await storage.listEntries(IDEMPOTENCY_NAMESPACE);
        const claim = decodeClaim(entry!.value)!;
        await storage.putEntry(
          IDEMPOTENCY_NAMESPACE,
          entry!.id,
          encoder.encode(JSON.stringify({ ...claim, committed: false })),
        );

        const versionMs = parseVersionId(version!)!.physicalMs;
        await collectGarbage({ storage, timing: TIMING, now: () => versionMs + afterMs });
        const recordGone = (await storage.getCommitRecord(version!)) === undefined;
        const settled = decodeClaim((await storage.listEntries(IDEMPOTENCY_NAMESPACE))[0]!.value)!;
        // Whatever the instant: a record gone means its claim says committed.
        if (recordGone) expect(settled.committed).toBe(true);
        expect(recordGone).toBe(afterMs > TIMING.outcomeRetentionMs);

        clock = versionMs + afterMs;
        const retry = await node.beginIdempotent('order-1');
        expect(retry).toMatchObject({ replayed: true, txid: begun.txid });
      } finally {
        await node.close();
      }
    },
  );
});
