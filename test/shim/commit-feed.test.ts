/**
 * How a node learns other nodes' commits from storage (protocol.md, "Learning commits"): the
 * periodic pull (the fault manager's path when a node dies before pushing), the settling pull
 * for slow committers, and the deadlines and markers that decide a commit that is late.
 */
import type { CommitRecord, ListOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { CommitError, CommitFailure } from '../../shim/commit.js';
import { formatVersionId } from '../../shim/ids.js';
import { ShimNode } from '../../shim/node.js';
import { DEFAULT_TIMING, orphanAfterMs } from '../../shim/timing.js';
import { flush, GatedAdapter } from '../helpers/gated-adapter.js';

const bytes = (value: string) => new TextEncoder().encode(value);
const MANUAL = {
  pullIntervalMs: 1e9,
  intentDeadlineMs: 500,
  recordDeadlineMs: 1000,
  storageCallTimeoutMs: 500,
  maxClockSkewMs: 100,
};

async function write(node: ShimNode, values: Record<string, string>): Promise<string | null> {
  const txid = node.begin().txid;
  node.write(
    txid,
    Object.entries(values).map(([key, value]) => ({ key, value: bytes(value) })),
  );
  return (await node.commit(txid)).version;
}

async function versionSeen(node: ShimNode, key: string): Promise<string | undefined> {
  const txid = node.begin().txid;
  const [item] = await node.read(txid, [key]);
  node.abort(txid);
  return item?.version;
}

describe('learning commits from storage', () => {
  it('a settling pull under steady commits stops once it has listed past its claim (it chased the head of the log before)', async () => {
    const inner = new MemoryAdapter();
    let listings = 0;
    let landed = 0;
    // Every listing lets another commit land, as steady load does while a listing is under way.
    const busy = new Proxy(inner, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (name !== 'listCommitRecordIds' || typeof value !== 'function') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (after: string | undefined, options?: ListOptions) => {
          listings += 1;
          const ids = (await (value as typeof inner.listCommitRecordIds).call(
            target,
            after,
            options,
          )) as string[];
          if (listings < 1000) {
            landed += 1;
            const versionId = formatVersionId({ physicalMs: Date.now(), logical: landed }, `busy-${landed}`);
            await target.putCommitRecord({ versionId, txid: `busy-${landed}`, writeSet: ['k'], deleted: [] });
          }
          return ids;
        };
      },
    });
    const node = await ShimNode.open({ storage: busy, timing: { ...MANUAL, overlapPullEvery: 1 } });
    try {
      await inner.putCommitRecord({
        versionId: formatVersionId({ physicalMs: Date.now(), logical: 0 }, 'busy-0'),
        txid: 'busy-0',
        writeSet: ['k'],
        deleted: [],
      });
      listings = 0;
      await node.pull();
      expect(listings).toBeLessThanOrEqual(3);
    } finally {
      await node.close();
    }
  });

  it("a pull learns another node's commits that were never pushed", async () => {
    const storage = new MemoryAdapter();
    const a = await ShimNode.open({ storage, timing: MANUAL });
    const b = await ShimNode.open({ storage, timing: MANUAL });
    try {
      const version = await write(a, { k: 'from a' });
      expect(await versionSeen(b, 'k')).toBeUndefined();
      expect(await b.pull()).toBe(1);
      expect(await versionSeen(b, 'k')).toBe(version);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a record that lands after newer ones is learned by the next overlapping pull', async () => {
    const gated = new GatedAdapter();
    let clock = 1_800_000_000_000;
    const now = () => clock;
    const slow = await ShimNode.open({ storage: gated, now, timing: MANUAL });
    const fast = await ShimNode.open({ storage: gated.inner, now, timing: MANUAL });
    const reader = await ShimNode.open({
      storage: gated.inner,
      now,
      timing: { ...MANUAL, overlapPullEvery: 3 },
    });
    try {
      // The slow commit takes its version id first, then stalls before its record.
      const txid = slow.begin().txid;
      slow.write(txid, [{ key: 'slow', value: bytes('s') }]);
      const slowCommit = slow.commit(txid);
      await flush(); // the intent, holding the value (the record waits at the gate)
      clock += 10;
      const newer = await write(fast, { fast: 'f' });
      expect(await reader.pull()).toBe(1); // pull 1 (after the newest): only the newer commit
      expect(await versionSeen(reader, 'fast')).toBe(newer);
      gated.release(0); // the slow record lands, with the older version id
      const slowVersion = (await slowCommit).version!;
      expect(slowVersion < newer!).toBe(true);
      expect(await reader.pull()).toBe(0); // pull 2 starts after the newest: misses it
      expect(await reader.pull()).toBe(1); // pull 3 overlaps: learns it
      expect(await versionSeen(reader, 'slow')).toBe(slowVersion);
    } finally {
      await Promise.all([slow.close(), fast.close(), reader.close()]);
    }
  });

  it('an overlapping pull lists ids and reads only the records it does not know', async () => {
    const storage = new MemoryAdapter();
    const reads: string[] = [];
    const extraIds: string[] = [];
    let started = false;
    const counted = Object.assign(Object.create(storage) as MemoryAdapter, {
      async getCommitRecord(versionId: string) {
        reads.push(versionId);
        return storage.getCommitRecord(versionId);
      },
      async listCommitRecords(after: string | undefined, options?: ListOptions) {
        if (started) throw new Error('an overlapping pull lists ids only');
        return storage.listCommitRecords(after, options);
      },
      async listCommitRecordIds(after: string | undefined, options?: ListOptions) {
        const extra = extraIds.filter((id) => after === undefined || id > after);
        return [...(await storage.listCommitRecordIds(after, options)), ...extra].sort();
      },
    });
    const writer = await ShimNode.open({ storage, timing: MANUAL });
    for (let i = 0; i < 20; i += 1) await write(writer, { [`k${i}`]: 'v' });
    const reader = await ShimNode.open({ storage: counted, timing: { ...MANUAL, overlapPullEvery: 1 } });
    started = true;
    // Known to the reader: the 20 records its bootstrap read. Not known: one more, and an id
    // listed whose record is absent (an engine may list one not yet written).
    const unknown = (await write(writer, { late: 'v' }))!;
    const absent = `${unknown.slice(0, -1)}~`;
    extraIds.push(absent);
    try {
      expect(await reader.pull()).toBe(1);
      expect(reads.sort()).toEqual([unknown, absent].sort());
      expect(await versionSeen(reader, 'late')).toBe(unknown);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('a commit whose versions took past the record deadline is aborted and writes no record', async () => {
    // Values too large for an entry: the versions go before the record (DynamoDB past 350 KB).
    const gated = new GatedAdapter({ maxEntryBytes: 1 });
    let clock = 1_800_000_000_000;
    const node = await ShimNode.open({ storage: gated, now: () => clock, timing: MANUAL });
    try {
      const txid = node.begin().txid;
      node.write(txid, [{ key: 'k', value: bytes('late') }]);
      const commit = node.commit(txid);
      gated.release(0);
      await flush();
      clock += MANUAL.recordDeadlineMs + 1;
      gated.release(0);
      const error = await commit.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CommitError);
      expect((error as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
      expect(node.status(txid).status).toBe('aborted');
      expect(await gated.inner.listCommitRecords(undefined)).toEqual([]);
    } finally {
      await node.close();
    }
  });

  it('an undecided commit is repeated while it may land; past the orphan bound it decides itself aborted with a marker', async () => {
    let clock = 1_800_000_000_000;
    const storage = new MemoryAdapter();
    // Every write of a real record fails as a timeout would: it may or may not have landed.
    const flaky = Object.assign(Object.create(storage) as MemoryAdapter, {
      async putCommitRecord(record: CommitRecord): Promise<boolean> {
        if (record.aborted) return storage.putCommitRecord(record);
        throw new Error('record write timed out');
      },
      async putVersionsAndRecord(): Promise<boolean> {
        throw new Error('record write timed out');
      },
    });
    const node = await ShimNode.open({ storage: flaky, now: () => clock, timing: MANUAL });
    try {
      const txid = node.begin().txid;
      node.write(txid, [{ key: 'k', value: bytes('v') }]);
      const first = await node.commit(txid).catch((e: unknown) => e);
      expect((first as CommitError).failure).toBe(CommitFailure.OUTCOME_UNKNOWN);
      // Past the record deadline, an earlier attempt could still land: the repeat writes it again.
      clock += MANUAL.recordDeadlineMs + 1;
      const second = await node.commit(txid).catch((e: unknown) => e);
      expect((second as CommitError).failure).toBe(CommitFailure.OUTCOME_UNKNOWN);
      expect(node.status(txid).status).toBe('running');
      // Past the orphan bound others may judge it dead: the repeat does so itself, first.
      clock += orphanAfterMs({ ...DEFAULT_TIMING, ...MANUAL });
      const third = await node.commit(txid).catch((e: unknown) => e);
      expect((third as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
      expect(node.status(txid).status).toBe('aborted');
      const [marker] = await storage.listCommitRecords(undefined);
      expect(marker).toMatchObject({ aborted: true, writeSet: [] });
      expect(marker!.versionId.endsWith(txid)).toBe(true);
    } finally {
      await node.close();
    }
  });
});
