/**
 * An idle node pulls less and less, down to one pull per idlePullIntervalMs, and an active
 * one at its base pace (shim/idle-backoff.ts); while backing off every pull settles, so what
 * the node claims to know (its low-water mark for the collector) keeps moving.
 */
import type { CallOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { IdleBackoff } from '../../shim/idle-backoff.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';

/** Counts the listings a pull makes: plain pulls list records, settling ones list ids. */
class CountingAdapter extends MemoryAdapter {
  plain = 0;
  settling = 0;
  override listCommitRecords(after: string | undefined, options?: CallOptions & { limit?: number }) {
    this.plain += 1;
    return super.listCommitRecords(after, options);
  }
  override listCommitRecordIds(after: string | undefined, options?: CallOptions & { limit?: number }) {
    this.settling += 1;
    return super.listCommitRecordIds(after, options);
  }
  get pulls(): number {
    return this.plain + this.settling;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('IdleBackoff', () => {
  it('doubles the wait after each pull with nothing learned and nothing begun, up to the idle bound', () => {
    const schedule = new IdleBackoff(100, 1000);
    expect([1, 2, 3, 4, 5].map(() => schedule.afterRound(0))).toEqual([200, 400, 800, 1000, 1000]);
    expect(schedule.idle).toBe(true);
    expect(schedule.afterRound(3)).toBe(100);
    expect(schedule.idle).toBe(false);
    schedule.afterRound(0);
    expect(schedule.noteActivity()).toBe(true);
    expect(schedule.nextWaitMs).toBe(100);
    expect(schedule.noteActivity()).toBe(false);
    // Activity since the last pull keeps the next wait at the base, though it learned nothing.
    expect(schedule.afterRound(0)).toBe(100);
    expect(schedule.afterRound(0)).toBe(200);
  });

  it('never backs off when the idle bound is the pull interval', () => {
    const schedule = new IdleBackoff(100, 100);
    expect([1, 2, 3].map(() => schedule.afterRound(0))).toEqual([100, 100, 100]);
    expect(schedule.idle).toBe(false);
  });
});

describe('a node with nothing to do', () => {
  let storage: CountingAdapter;
  let node: ShimNode;
  beforeEach(async () => {
    storage = new CountingAdapter();
    node = new ShimNode({ storage, timing: { pullIntervalMs: 20, idlePullIntervalMs: 320 } });
    await node.start();
  });
  afterEach(() => node.close());

  it('pulls ever less often, and every pull of its backing off settles', async () => {
    await sleep(1500);
    // At a fixed pace that would be 75 pulls: 20, 40, 80, 160, 320, 320, ... ms apart.
    expect(storage.pulls).toBeGreaterThanOrEqual(5);
    expect(storage.pulls).toBeLessThanOrEqual(12);
    const before = { ...storage, pulls: storage.pulls };
    await eventually(
      () => storage.pulls,
      (pulls) => pulls >= before.pulls + 2,
      { timeoutMs: 2000 },
    );
    expect(storage.settling - before.settling).toBe(storage.pulls - before.pulls);
  });

  it('pulls at its base pace again as soon as a transaction begins', async () => {
    await sleep(700);
    const idlePulls = storage.pulls;
    const began = performance.now();
    node.abort(node.begin().txid);
    await eventually(
      () => storage.pulls,
      (pulls) => pulls > idlePulls,
      { timeoutMs: 2000 },
    );
    // Within the base interval (and some slack for a loaded machine), not the idle one.
    expect(performance.now() - began).toBeLessThan(200);
    // Kept busy, it stays at the base pace.
    const busyFrom = storage.pulls;
    for (let i = 0; i < 20; i += 1) {
      node.abort(node.begin().txid);
      await sleep(20);
    }
    expect(storage.pulls - busyFrom).toBeGreaterThanOrEqual(8);
  });

  it('a pushed commit it learns counts as activity', async () => {
    await sleep(700);
    const idlePulls = storage.pulls;
    const began = performance.now();
    const txid = 'peerpeerpe-lq2k3m4n-0-0123456789abcdef0123456789abcdef';
    const answer = node.learnPushedCommits([
      {
        versionId: `${Date.now().toString(16).padStart(12, '0')}000000.${txid}`,
        txid,
        writeSet: ['k'],
        deleted: [],
      },
    ]);
    expect(answer).toEqual({ learned: 1, refused: 0 });
    await eventually(
      () => storage.pulls,
      (pulls) => pulls > idlePulls,
      { timeoutMs: 2000 },
    );
    expect(performance.now() - began).toBeLessThan(200);
  });
});
