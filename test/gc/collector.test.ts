/**
 * Garbage collection over real nodes (protocol.md §8): storage and metadata stay O(keys)
 * under overwrites, a version a running reader still needs is never deleted (the §8
 * example), orphans of commits that died before their record are deleted, a pass's work is
 * bounded, and passes run back to back while they leave a backlog (gc/rounds.ts).
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { acquireLease } from '../../gc/lease.js';
import { collectWhileBehind } from '../../gc/rounds.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { INTENTS_NAMESPACE } from '../../shim/commit.js';
import { parseVersionId } from '../../shim/ids.js';
import { decodeMember, MEMBERS_NAMESPACE } from '../../shim/membership.js';
import { rest } from '../cluster/rest.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { SHORT_TIMING } from '../helpers/short-timing.js';

const TIMING = SHORT_TIMING;
const versionTime = (versionId: string) => parseVersionId(versionId)!.physicalMs;

async function startNodes(storage: MemoryAdapter | FaultyAdapter, count: number): Promise<RunningShim[]> {
  const nodes = await Promise.all(
    Array.from({ length: count }, () =>
      startShim({
        port: 0,
        adapter: storage,
        gc: false,
        heartbeatMs: 50,
        deadAfterMs: 2000,
        pullIntervalMs: 30,
        timing: TIMING,
        localGcIntervalMs: 50,
        shutdownGraceMs: 100,
        env: {},
      }),
    ),
  );
  await Promise.all(nodes.map((node) => node.ready));
  return nodes;
}

/**
 * A pass run as if the outcome retention had passed (records may go, orphans are old enough);
 * what it may delete is still bounded by the low-water marks the nodes publish.
 */
const collect = (storage: MemoryAdapter | FaultyAdapter, maxDeletes = 10_000) =>
  collectGarbage({
    storage,
    timing: TIMING,
    deadAfterMs: 2000,
    maxDeletes,
    now: () => Date.now() + TIMING.outcomeRetentionMs,
  });

/** Waits until every node has published (in its heartbeat) a low-water mark at or past `versionId`. */
async function untilLowWaterPast(storage: MemoryAdapter | FaultyAdapter, versionId: string): Promise<void> {
  const lowest = async () =>
    Math.min(
      ...(await storage.listEntries(MEMBERS_NAMESPACE)).map((entry) => decodeMember(entry.value)!.lowWaterMs),
    );
  expect(await eventually(lowest, (low) => low >= versionTime(versionId))).toBeGreaterThanOrEqual(
    versionTime(versionId),
  );
}

async function put(url: string, values: Record<string, string>): Promise<string> {
  const txid = await rest.begin(url);
  await rest.write(
    url,
    txid,
    Object.entries(values).map(([key, value]) => ({ key, value })),
  );
  return (await rest.commit(url, txid))!;
}

describe('garbage collection', () => {
  it('N rounds of overwrites over K keys leave K versions in storage and O(K) metadata per node', async () => {
    const storage = new MemoryAdapter();
    const nodes = await startNodes(storage, 2);
    try {
      const K = 20;
      for (let round = 0; round < 30; round += 1) {
        const values: Record<string, string> = {};
        for (let i = 0; i < 5; i += 1) values[`key-${(round * 7 + i * 3) % K}`] = `round ${round}`;
        await put(nodes[round % 2]!.url, values);
      }
      let last = '';
      for (let i = 0; i < K; i += 1) last = await put(nodes[0]!.url, { [`key-${i}`]: 'last' });
      expect(storage.versionCount).toBeGreaterThan(5 * K);
      await untilLowWaterPast(storage, last);
      const report = await collect(storage);
      expect(report.liveNodes).toBe(2);
      expect(storage.versionCount).toBe(K);
      expect((await storage.listCommitRecords(undefined)).length).toBeLessThanOrEqual(K);
      for (const node of nodes) {
        expect(
          await eventually(
            () => node.node.stats.transactions,
            (count) => count <= K,
          ),
        ).toBeLessThanOrEqual(K);
      }
      // Everything still reads, on both nodes.
      for (const node of nodes) {
        const txid = await rest.begin(node.url);
        const items = await rest.read(
          node.url,
          txid,
          Array.from({ length: K }, (_, i) => `key-${i}`),
        );
        expect(items.every((item) => item.value === 'last')).toBe(true);
      }
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
    }
  }, 30_000);

  it('never deletes a version a running reader still needs (the example of protocol.md §8)', async () => {
    const storage = new MemoryAdapter();
    const [a, b] = await startNodes(storage, 2);
    try {
      await put(a!.url, { k: 'k@3' });
      const l5 = await put(a!.url, { l: 'l@5' });
      const knows = (node: RunningShim, versionId: string) =>
        eventually(
          () => node.node.stats.knownThroughMs,
          (known) => known >= versionTime(versionId),
        );
      expect(await knows(a!, l5)).toBeGreaterThanOrEqual(versionTime(l5));
      // T reads l@5; then U writes {k, l} and supersedes k@3. k@U is invalid for T, which
      // holds l@5 < U: T must still be able to read k@3.
      const t = await rest.begin(a!.url);
      expect((await rest.read(a!.url, t, ['l']))[0]?.value).toBe('l@5');
      const u = await put(b!.url, { k: 'k@8', l: 'l@8' });
      // Both nodes know U; only T's start holds a's low-water mark back.
      for (const node of [a!, b!]) expect(await knows(node, u)).toBeGreaterThanOrEqual(versionTime(u));
      await collect(storage);
      for (const node of [a!, b!]) node.node.collectLocal(); // local GC runs too
      expect((await rest.read(b!.url, t, ['k']))[0]?.value).toBe('k@3');
      await rest.commit(a!.url, t);
      // Once T is over, k@3 and l@5 go.
      await untilLowWaterPast(storage, u);
      const before = storage.versionCount;
      const report = await collect(storage);
      expect(report.versionsDeleted).toBe(2);
      expect(storage.versionCount).toBe(before - 2);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  }, 30_000);

  // An engine with no atomic write of versions and record (S3, files): the intent holds the
  // values and no version is stored before the record; or, values too large for an entry
  // (DynamoDB's 350 KB), versions first.
  it.each([
    { shape: 'values in the intent', maxEntryBytes: undefined, stored: 0 },
    { shape: 'versions first', maxEntryBytes: 1, stored: 2 },
  ])(
    'deletes what a commit that died before its record stored ($shape), and leftover intents',
    async ({ maxEntryBytes, stored }) => {
      const inner = new MemoryAdapter();
      const storage = new FaultyAdapter(inner, {
        atomic: false,
        ...(maxEntryBytes !== undefined && { maxEntryBytes }),
      });
      const [node] = await startNodes(storage, 1);
      try {
        await put(node!.url, { kept: 'yes' });
        const txid = await rest.begin(node!.url);
        await rest.write(node!.url, txid, [
          { key: 'orphan-1', value: 'x' },
          { key: 'orphan-2', value: 'y' },
        ]);
        // The node "dies" as it writes the record: the intent (and any versions) in storage, no record.
        storage.arm({ operation: 'putCommitRecord', phase: 'before', effect: 'crash' });
        void rest.commit(node!.url, txid).catch(() => undefined);
        await eventually(
          () => inner.listEntries(INTENTS_NAMESPACE),
          (intents) => intents.length === 1,
        );
        expect(inner.versionCount).toBe(1 + stored);
        expect((await inner.listEntries(INTENTS_NAMESPACE)).length).toBe(1);
        // A committed transaction's intent left behind (its delete was lost).
        const committed = await put(node!.url, { also: 'kept' });
        await inner.putEntry(INTENTS_NAMESPACE, committed, new TextEncoder().encode('{"keys":["also"]}'));

        const early = await collectGarbage({ storage, timing: TIMING, deadAfterMs: 2000 });
        expect(early.orphanVersionsDeleted).toBe(0); // too young: its record could still land
        expect(early.intentsDeleted).toBe(1); // a committed transaction's intent goes at any age
        const report = await collect(storage); // as if well past the orphan bound
        expect(report.orphanVersionsDeleted).toBe(stored);
        expect(report.intentsDeleted).toBe(1);
        // Its record id was marked before its versions went: that record can never land now.
        expect(report.markersWritten).toBe(1);
        const marker = (await inner.listCommitRecords(undefined)).find((record) => record.aborted);
        expect(marker?.versionId.endsWith(txid)).toBe(true);
        expect(inner.versionCount).toBe(2);
        expect(await inner.listEntries(INTENTS_NAMESPACE)).toEqual([]);
      } finally {
        await node!.close();
      }
    },
    30_000,
  );

  it('bounds the work of a pass, and keeps a record until all its versions are gone', async () => {
    const storage = new MemoryAdapter();
    const [node] = await startNodes(storage, 1);
    try {
      let last = '';
      for (let round = 0; round < 4; round += 1) {
        last = await put(
          node!.url,
          Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, `r${round}`])),
        );
      }
      await untilLowWaterPast(storage, last);
      const first = await collect(storage, 5);
      expect(first.versionsDeleted).toBe(5);
      expect(first.backlog).toBe(13);
      expect(first.recordsDeleted).toBe(0);
      const second = await collect(storage, 100);
      expect(second.versionsDeleted).toBe(13);
      expect(second.recordsDeleted).toBe(3);
      expect(storage.versionCount).toBe(6);

      // A record one of whose keys is still current stays; its collected key is not deleted twice.
      await untilLowWaterPast(storage, await put(node!.url, { k0: 'only k0' }));
      expect((await collect(storage)).versionsDeleted).toBe(1);
      const again = await collect(storage);
      expect([again.versionsDeleted, again.recordsDeleted, again.backlog]).toEqual([0, 0, 0]);
      expect(storage.versionCount).toBe(6);
    } finally {
      await node!.close();
    }
  }, 30_000);

  it('runs passes back to back while they leave a backlog, each within its bound', async () => {
    const storage = new MemoryAdapter();
    const [node] = await startNodes(storage, 1);
    try {
      const KEYS = 6;
      let last = '';
      // 8 generations of every key: 42 superseded versions to collect.
      for (let generation = 0; generation < 8; generation += 1) {
        last = await put(
          node!.url,
          Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`k${i}`, `${generation}`])),
        );
      }
      await untilLowWaterPast(storage, last);
      expect(storage.versionCount).toBe(8 * KEYS);
      const now = () => Date.now() + TIMING.outcomeRetentionMs;
      const round = { holder: 'collector', leaseMs: 60_000, reserveMs: 0, now };
      const reports = await collectWhileBehind({
        ...round,
        storage,
        maxDeletes: 10,
        deadAfterMs: 2000,
        timing: TIMING,
      });
      expect(reports.length).toBeGreaterThanOrEqual(5);
      for (const report of reports) expect(report.versionsDeleted).toBeLessThanOrEqual(10);
      expect(reports.reduce((sum, report) => sum + report.versionsDeleted, 0)).toBe(7 * KEYS);
      expect(reports[reports.length - 1]!.backlog).toBe(0);
      expect(storage.versionCount).toBe(KEYS);

      // Another holder of this period's lease: no pass runs here.
      const other = new MemoryAdapter();
      await acquireLease(other, 'someone-else', round.leaseMs, now);
      expect(await collectWhileBehind({ ...round, storage: other })).toEqual([]);
    } finally {
      await node!.close();
    }
  });
});
