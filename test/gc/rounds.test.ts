/**
 * GC keeps up with the write rate (gc/rounds.ts): a pass deletes at most maxDeletes versions,
 * so while a pass leaves a backlog the next runs at once, under the same lease.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { acquireLease } from '../../gc/lease.js';
import { collectWhileBehind } from '../../gc/rounds.js';
import { startShim } from '../../server/start.js';
import { parseVersionId } from '../../shim/ids.js';
import { decodeMember, MEMBERS_NAMESPACE } from '../../shim/membership.js';
import type { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';

const TIMING = {
  intentDeadlineMs: 50,
  recordDeadlineMs: 100,
  storageCallTimeoutMs: 100,
  maxClockSkewMs: 20,
  overlapPullEvery: 1,
  outcomeRetentionMs: 440,
  markerRetentionMs: 440,
};

describe('a round of global GC', () => {
  it('runs passes back to back until no backlog is left, each within its bound', async () => {
    const storage = new MemoryAdapter();
    const shim = await startShim({
      port: 0,
      adapter: storage,
      gc: false,
      heartbeatMs: 50,
      deadAfterMs: 2000,
      pullIntervalMs: 30,
      timing: TIMING,
      localGcIntervalMs: 50,
      env: {},
    });
    try {
      await shim.ready;
      const node: ShimNode = shim.node;
      const encoder = new TextEncoder();
      const KEYS = 6;
      let last = '';
      // 8 generations of every key: 42 superseded versions to collect.
      for (let generation = 0; generation < 8; generation += 1) {
        const txid = node.begin().txid;
        node.write(
          txid,
          Array.from({ length: KEYS }, (_, i) => ({ key: `k${i}`, value: encoder.encode(`${generation}`) })),
        );
        last = (await node.commit(txid)).version!;
      }
      // The node publishes a low-water mark past the last commit: everything older may go.
      const lastMs = parseVersionId(last)!.physicalMs;
      await eventually(
        async () =>
          (await storage.listEntries(MEMBERS_NAMESPACE)).map((e) => decodeMember(e.value)!.lowWaterMs),
        (marks) => marks.length > 0 && marks.every((mark) => mark >= lastMs),
      );
      expect(storage.versionCount).toBe(8 * KEYS);
      const now = () => Date.now() + TIMING.outcomeRetentionMs;
      const reports = await collectWhileBehind({
        storage,
        holder: 'collector',
        leaseMs: 60_000,
        reserveMs: 0,
        maxDeletes: 10,
        deadAfterMs: 2000,
        timing: TIMING,
        now,
      });
      expect(reports.length).toBeGreaterThanOrEqual(5);
      for (const report of reports) expect(report.versionsDeleted).toBeLessThanOrEqual(10);
      expect(reports.reduce((sum, report) => sum + report.versionsDeleted, 0)).toBe(7 * KEYS);
      expect(reports[reports.length - 1]!.backlog).toBe(0);
      expect(storage.versionCount).toBe(KEYS);

      // Another holder of this period's lease: this node runs no pass.
      const other = new MemoryAdapter();
      await acquireLease(other, 'someone-else', 60_000, now);
      expect(
        await collectWhileBehind({ storage: other, holder: 'collector', leaseMs: 60_000, reserveMs: 0, now }),
      ).toEqual([]);
    } finally {
      await shim.close();
    }
  });
});
