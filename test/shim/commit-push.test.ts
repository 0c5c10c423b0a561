/**
 * When commits are pushed (shim/commit-push.ts): a commit after a quiet spell at once, and
 * while commits keep coming at most one push per interval per peer, carrying all of them; the
 * interval grows with the node's load and with the number of peers.
 */
import type { CommitRecord } from '../../adapters/contract.js';
import { CommitPush } from '../../shim/commit-push.js';
import type { PeerTransport } from '../../shim/peer-transport.js';
import { silentLogger } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';

const record = (n: number): CommitRecord => ({
  versionId: `v${n}`,
  txid: `t${n}`,
  writeSet: ['k'],
  deleted: [],
});

function recordingTransport() {
  const pushes: { peer: string; versions: string[]; atMs: number }[] = [];
  const transport: PeerTransport = {
    pushCommits: async (peer, records) => {
      pushes.push({ peer, versions: records.map((r) => r.versionId), atMs: performance.now() });
    },
    probe: async () => undefined,
  };
  return { pushes, transport };
}

describe('CommitPush', () => {
  it('pushes a commit after a quiet spell at once, and later ones together once batchMs has passed', async () => {
    const { pushes, transport } = recordingTransport();
    const push = new CommitPush({ peers: () => ['p1', 'p2'], transport, batchMs: 300 });
    const startedMs = performance.now();
    push.push(record(1));
    await eventually(
      () => pushes.length,
      (count) => count === 2,
    );
    // At once: long before batchMs.
    expect(pushes.map((p) => p.versions)).toEqual([['v1'], ['v1']]);
    expect(pushes[0]!.atMs - startedMs).toBeLessThan(250);
    push.push(record(2));
    push.push(record(3));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pushes).toHaveLength(2);
    await eventually(
      () => pushes.length,
      (count) => count === 4,
    );
    expect(pushes.slice(2).map((p) => [p.peer, p.versions])).toEqual([
      ['p1', ['v2', 'v3']],
      ['p2', ['v2', 'v3']],
    ]);
    expect(pushes[2]!.atMs - pushes[0]!.atMs).toBeGreaterThanOrEqual(290);
  });

  it('pushes less often the more peers there are, so each receives at most maxPushesPerSecond in all', async () => {
    const { pushes, transport } = recordingTransport();
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5'];
    // 5 peers, 25 pushes a second per receiver: one push to each every 200 ms, not every 1 ms.
    const push = new CommitPush({ peers: () => peers, transport, batchMs: 1, maxPushesPerSecond: 25 });
    push.push(record(1));
    await eventually(
      () => pushes.length,
      (count) => count === 5,
    );
    push.push(record(2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pushes).toHaveLength(5);
    await eventually(
      () => pushes.length,
      (count) => count === 10,
    );
    expect(pushes[5]!.atMs - pushes[0]!.atMs).toBeGreaterThanOrEqual(190);
  });

  it("a busy node sends fuller batches, not more of them: the interval grows with its event loop's load up to maxBatchMs", async () => {
    const { pushes, transport } = recordingTransport();
    let nowMs = 0;
    let loopBusy = 0;
    const push = new CommitPush({
      peers: () => ['p1'],
      transport,
      batchMs: 10,
      busyFrom: 0.5,
      maxBatchMs: 30,
      now: () => nowMs,
      loopBusy: () => loopBusy,
    });
    let next = 0;
    /** Ten commits per batch, each batch flushed as soon as its interval is up, at `busy`. */
    const batchesAt = async (busy: number, batches: number) => {
      loopBusy = busy;
      for (let i = 0; i < batches; i += 1) {
        nowMs += push.intervalMs();
        for (let j = 0; j < 10; j += 1) {
          next += 1;
          push.push(record(next));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    expect(push.intervalMs()).toBe(10);
    // Up to busyFrom freshness wins: a batch every batchMs.
    await batchesAt(0.5, 30);
    expect(push.intervalMs()).toBe(10);
    // Busy three quarters of the time: half way to maxBatchMs.
    await batchesAt(0.75, 30);
    expect(push.intervalMs()).toBeCloseTo(20, 1);
    // Busy all the time: maxBatchMs, never more.
    await batchesAt(1, 30);
    expect(push.intervalMs()).toBeCloseTo(30, 1);
    expect(push.intervalMs()).toBeLessThanOrEqual(30);
    // Every record went out, in order, each once, ten to a batch.
    expect(pushes.flatMap((p) => p.versions)).toEqual(Array.from({ length: next }, (_, i) => `v${i + 1}`));
    expect(pushes.every((p) => p.versions.length === 10)).toBe(true);
    // Load gone: a commit after a quiet spell goes at once, and the interval shrinks back.
    await batchesAt(0, 30);
    expect(push.intervalMs()).toBeLessThan(10.01);
    nowMs += 1000;
    next += 1;
    push.push(record(next));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pushes.at(-1)!.versions).toEqual([`v${next}`]);
  });

  it('a failed push is logged and the next batch still goes out', async () => {
    let calls = 0;
    const logged: string[] = [];
    const transport: PeerTransport = {
      pushCommits: async () => {
        calls += 1;
        if (calls === 1) throw new Error('peer down');
      },
      probe: async () => undefined,
    };
    const logger = {
      ...silentLogger,
      debug: (_fields: object, message?: string) => logged.push(message ?? ''),
    };
    const push = new CommitPush({
      peers: () => ['p1'],
      transport,
      batchMs: 1,
      logger,
    });
    push.push(record(1));
    await eventually(
      () => logged.length,
      (count) => count === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    push.push(record(2));
    await eventually(
      () => calls,
      (count) => count === 2,
    );
    expect(calls).toBe(2);
    expect(logged).toEqual(['commit push failed']);
  });

  it('holds a peer that asked for a slower pace to one batch per pace, with every record, and the others to the interval', async () => {
    const { pushes, transport } = recordingTransport();
    const paces = new Map([['idle', 400]]);
    const paced: PeerTransport = { ...transport, paceOf: (peer) => paces.get(peer) ?? 0 };
    const push = new CommitPush({ peers: () => ['busy', 'idle'], transport: paced, batchMs: 10 });
    const startedMs = performance.now();
    for (let n = 1; n <= 5; n += 1) {
      push.push(record(n));
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    // The busy peer got each commit in its own batch; the idle one nothing yet.
    const to = (peer: string) => pushes.filter((p) => p.peer === peer);
    expect(to('busy').flatMap((p) => p.versions)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
    expect(to('busy').length).toBeGreaterThan(1);
    expect(to('idle')).toEqual([]);
    // Then all five in one batch, a pace after the first.
    await eventually(
      () => to('idle').length,
      (count) => count === 1,
    );
    expect(to('idle')[0]!.versions).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
    expect(to('idle')[0]!.atMs - startedMs).toBeGreaterThanOrEqual(390);
    // It asks for no pace any more (it began serving): after what waits, batches as the others'.
    paces.delete('idle');
    push.push(record(6));
    await eventually(
      () => to('idle').length,
      (count) => count === 2,
    );
    expect(to('idle')[1]!.versions).toEqual(['v6']);
  });

  it('sends what waits for a paced peer at once when it lifts its pace, and only once', async () => {
    const { pushes, transport } = recordingTransport();
    let paceMs = 300;
    const paced: PeerTransport = { ...transport, paceOf: () => paceMs };
    const push = new CommitPush({ peers: () => ['idle'], transport: paced, batchMs: 10 });
    push.push(record(1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    push.push(record(2));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(pushes).toEqual([]);
    const liftedMs = performance.now();
    paceMs = 0;
    push.release('idle');
    expect(pushes.map((p) => p.versions)).toEqual([['v1', 'v2']]);
    expect(pushes[0]!.atMs - liftedMs).toBeLessThan(50);
    // Its pace's timer sends nothing more.
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(pushes).toHaveLength(1);
    push.release('idle');
    expect(pushes).toHaveLength(1);
  });
});
