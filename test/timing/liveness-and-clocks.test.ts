/**
 * Liveness judged by what the observer saw change, by the member's own settings; clocks that
 * disagree detected and fenced (docs/protocol.md, "Membership" and "Time bounds"). Clocks
 * are injected, so nothing waits.
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { createAdapterFromUrl } from '../../adapters/url.js';
import { collectGarbage } from '../../gc/collector.js';
import { startShim } from '../../server/start.js';
import { ConfigError, resolveConfig } from '../../shim/config.js';
import { decodeMember, MEMBERS_NAMESPACE, Membership } from '../../shim/membership.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';
import { ENGINES } from '../servers/engines.js';

function member(
  storage: StorageAdapter,
  nodeId: string,
  now: () => number,
  settings: { deadAfterMs?: number; lowWaterMs?: number } = {},
) {
  const fenced: string[] = [];
  const membership = new Membership({
    storage,
    nodeId,
    url: `http://${nodeId}`,
    lowWaterMs: () => settings.lowWaterMs ?? 0,
    heartbeatMs: 2 ** 30, // beats only when the test says so
    deadAfterMs: settings.deadAfterMs ?? 10_000,
    maxClockSkewMs: 5_000,
    now,
    onFenced: (reason) => fenced.push(reason),
  });
  return { membership, fenced };
}

describe('liveness', () => {
  it('a peer whose clock runs 20 s behind is live while its heartbeat changes', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const a = member(storage, 'node-a', () => clock);
    const b = member(storage, 'node-b', () => clock - 20_000);
    for (const { membership } of [a, b]) {
      await membership.register();
      await membership.start();
    }
    for (let beat = 0; beat < 5; beat += 1) {
      clock += 1_000;
      await b.membership.refresh();
      await a.membership.refresh();
      expect(a.membership.urlOf('node-b')).toBe('http://node-b');
    }
    // Stopped beating: dead once a saw it unchanged for over its dead-after time.
    clock += 10_000;
    await a.membership.refresh();
    expect(a.membership.urlOf('node-b')).toBe('http://node-b');
    clock += 1;
    await a.membership.refresh();
    expect(a.membership.isKnownDead('node-b')).toBe(true);
    expect(a.membership.urlOf('node-b')).toBeUndefined();
  });

  it('an observer that cannot read the member list judges nobody dead', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    let failing = false;
    const flaky = Object.assign(Object.create(storage) as MemoryAdapter, {
      async listEntries(...args: Parameters<MemoryAdapter['listEntries']>) {
        if (failing) throw new Error('unreachable');
        return storage.listEntries(...args);
      },
    });
    const a = member(flaky, 'node-a', () => clock);
    const b = member(storage, 'node-b', () => clock);
    await b.membership.register();
    await a.membership.register();
    await a.membership.start();
    failing = true;
    clock += 60_000;
    await a.membership.refresh().catch(() => undefined);
    expect(a.membership.urlOf('node-b')).toBe('http://node-b');
  });

  it("the collector judges a member by its own dead-after time and by what it saw change, not by the member's clock", async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const now = () => clock;
    // Slow to be dead (60 s) and 20 s behind: the defaults of `aft gc` must count it live.
    const slowClock = member(storage, 'behind', () => clock - 20_000, { deadAfterMs: 60_000, lowWaterMs: 7 });
    await slowClock.membership.register();
    await slowClock.membership.start();
    expect(decodeMember((await storage.listEntries(MEMBERS_NAMESPACE))[0]!.value)?.deadAfterMs).toBe(60_000);
    clock += 30_000;
    const first = await collectGarbage({ storage, now });
    expect(first.liveNodes).toBe(1);
    expect(first.lowWaterMs).toBe(7);
    clock += 30_000; // 60 s unchanged, seen by collectors: not over its 60 s (+ skew) yet
    expect((await collectGarbage({ storage, now })).liveNodes).toBe(1);
    await slowClock.membership.refresh(); // it beats: a collector sees the change
    clock += 1_000;
    expect((await collectGarbage({ storage, now })).liveNodes).toBe(1);
    clock += 65_000; // its dead-after time plus the skew since a collector saw it change
    expect((await collectGarbage({ storage, now })).liveNodes).toBe(1);
    clock += 1;
    expect((await collectGarbage({ storage, now })).liveNodes).toBe(0);
  });
});

describe('fencing on time', () => {
  it('a node that cannot heartbeat stops serving before any peer or the collector may count it dead', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const now = () => clock;
    let failing = false;
    const flaky = Object.assign(Object.create(storage) as MemoryAdapter, {
      async putEntry(...args: Parameters<MemoryAdapter['putEntry']>) {
        if (failing) throw new Error('storage unreachable from node-a');
        return storage.putEntry(...args);
      },
    });
    const node = await ShimNode.open({ storage, now });
    const a = new Membership({
      storage: flaky,
      nodeId: 'node-a',
      url: 'http://node-a',
      lowWaterMs: () => node.lowWaterMs,
      heartbeatMs: 2 ** 30,
      deadAfterMs: 10_000,
      now,
      onFenced: (reason) => node.fence(reason),
      onUnfenced: () => node.unfence(),
    });
    const b = member(storage, 'node-b', now);
    try {
      await a.register();
      await b.membership.register();
      for (let beat = 0; beat < 2; beat += 1) {
        clock += 1_000;
        await a.refresh();
        await b.membership.refresh();
      }
      await collectGarbage({ storage, now });
      const lastHeartbeatMs = clock;
      failing = true;
      let fencedAt: number | undefined;
      let peerSawDeadAt: number | undefined;
      let collectorSawDeadAt: number | undefined;
      for (let step = 0; step < 400 && collectorSawDeadAt === undefined; step += 1) {
        clock += 100;
        await a.refresh().catch(() => undefined);
        await b.membership.refresh();
        if (fencedAt === undefined && !node.ready) fencedAt = clock;
        if (peerSawDeadAt === undefined && b.membership.isKnownDead('node-a')) peerSawDeadAt = clock;
        const report = await collectGarbage({ storage, now });
        if (collectorSawDeadAt === undefined && report.liveNodes === 1) collectorSawDeadAt = clock;
      }
      // Fenced at its first beat past half its dead-after time, long before anyone counts it dead.
      expect(fencedAt! - lastHeartbeatMs).toBeGreaterThan(5_000);
      expect(fencedAt! - lastHeartbeatMs).toBeLessThanOrEqual(5_100);
      expect(peerSawDeadAt! - fencedAt!).toBeGreaterThanOrEqual(4_900);
      expect(collectorSawDeadAt! - fencedAt!).toBeGreaterThanOrEqual(4_900);
      expect(a.liveness()).toMatch(/no heartbeat reached storage/);
    } finally {
      await node.close();
    }
  });
});

describe('clocks', () => {
  it('a node whose clock disagrees with most of its peers by more than the skew bound fences itself; the others do not', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const good = [member(storage, 'node-a', () => clock), member(storage, 'node-b', () => clock)];
    const bad = member(storage, 'node-c', () => clock + 20_000);
    const all = [...good, bad];
    for (const { membership } of all) await membership.register();
    for (let round = 0; round < 3; round += 1) {
      clock += 1_000;
      for (const { membership } of all) await membership.refresh();
    }
    expect(bad.membership.liveness()).toMatch(/clock disagrees with 2 of 2 peers/);
    expect(bad.fenced.at(-1)).toMatch(/clock disagrees/);
    for (const { membership, fenced } of good) {
      expect(membership.liveness()).toBeUndefined();
      expect(fenced).toEqual([]);
      const offset = membership.clockOffsets().get('node-c')!;
      expect(offset.lowMs).toBeGreaterThan(5_000);
    }
    // Its heartbeat says so, and its peers show it (GET /v1/node, aft inspect members).
    clock += 1_000;
    for (const { membership } of all) await membership.refresh();
    const seenByA = good[0]!.membership.members();
    expect(seenByA.find((view) => view.nodeId === 'node-c')?.fenced).toMatch(
      /clock disagrees with 2 of 2 peers/,
    );
    expect(seenByA.find((view) => view.nodeId === 'node-b')?.fenced).toBeUndefined();
    expect(bad.membership.members().find((view) => view.self)?.fenced).toMatch(/clock disagrees/);
  });

  it('with a single peer, both fence: neither can tell whose clock is wrong', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const a = member(storage, 'node-a', () => clock);
    const b = member(storage, 'node-b', () => clock - 20_000);
    for (const { membership } of [a, b]) await membership.register();
    for (let round = 0; round < 3; round += 1) {
      clock += 1_000;
      for (const { membership } of [a, b]) await membership.refresh();
    }
    expect(a.membership.liveness()).toMatch(/clock disagrees/);
    expect(b.membership.liveness()).toMatch(/clock disagrees/);
  });

  it("where the engine tells time, it settles who is off: only the node whose clock disagrees with the engine's fences, even with a single peer", async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const timed = Object.assign(Object.create(storage) as MemoryAdapter, {
      async time() {
        return clock;
      },
    });
    const right = member(timed, 'node-a', () => clock);
    const wrong = member(timed, 'node-b', () => clock - 20_000);
    for (const { membership } of [right, wrong]) await membership.register();
    for (let round = 0; round < 3; round += 1) {
      clock += 1_000;
      for (const { membership } of [right, wrong]) await membership.refresh();
    }
    expect(right.membership.liveness()).toBeUndefined();
    expect(right.fenced).toEqual([]);
    expect(wrong.membership.liveness()).toMatch(/-20000 ms off the storage engine's/);
    expect(wrong.membership.engineClockOffset()?.highMs).toBe(-20_000);
  });

  it.each([ENGINES.redis, ENGINES.redisCluster])('$name tells its time, close to ours', async (engine) => {
    const adapter = createAdapterFromUrl(await engine.freshStorageUrl());
    try {
      const before = Date.now();
      const engineMs = await adapter.time!();
      // Same machine: the engine's clock reads between our two readings (give or take a ms).
      expect(engineMs).toBeGreaterThanOrEqual(before - 2);
      expect(engineMs).toBeLessThanOrEqual(Date.now() + 2);
    } finally {
      await adapter.close();
    }
  });

  it('a wall clock stepped back does not keep a node that cannot heartbeat from fencing', async () => {
    const storage = new MemoryAdapter();
    let wall = 1_800_000_000_000;
    let elapsed = 0;
    let failing = false;
    const flaky = Object.assign(Object.create(storage) as MemoryAdapter, {
      async putEntry(...args: Parameters<MemoryAdapter['putEntry']>) {
        if (failing) throw new Error('storage unreachable');
        return storage.putEntry(...args);
      },
    });
    const membership = new Membership({
      storage: flaky,
      nodeId: 'node-a',
      url: 'http://node-a',
      lowWaterMs: () => 0,
      heartbeatMs: 2 ** 30,
      deadAfterMs: 10_000,
      now: () => wall,
      elapsedNow: () => elapsed,
    });
    await membership.register();
    failing = true;
    // Silent for 6 s, while NTP steps the wall clock a minute back.
    elapsed += 6_000;
    wall -= 60_000;
    await membership.refresh().catch(() => undefined);
    expect(membership.liveness()).toMatch(/no heartbeat reached storage for 6000 ms/);
  });

  it('a node whose heartbeats were sent long ago cannot vouch for itself, however late their answers came', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_800_000_000_000;
    const slowAnswers = Object.assign(Object.create(storage) as MemoryAdapter, {
      async putEntry(...args: Parameters<MemoryAdapter['putEntry']>) {
        await storage.putEntry(...args);
        clock += 6_000; // the answer takes over half the dead-after time to come back
      },
    });
    const a = member(slowAnswers, 'node-a', () => clock);
    await a.membership.register();
    await a.membership.refresh();
    expect(a.membership.liveness()).toMatch(/no heartbeat reached storage for 6000 ms/);
  });
});

describe('settings', () => {
  it('rejects a heartbeat of half the dead-after time or more', () => {
    expect(() => resolveConfig({ heartbeatMs: 5000, deadAfterMs: 10_000 }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({}, { AFT_HEARTBEAT_MS: '600', AFT_DEAD_AFTER_MS: '1000' })).toThrow(
      /must be under half of deadAfterMs/,
    );
    expect(resolveConfig({ heartbeatMs: 4999, deadAfterMs: 10_000 }, {}).heartbeatMs).toBe(4999);
  });

  it('rejects an outcome retention too short for the clock skew allowed, naming both settings', () => {
    // A skew of 500 s makes the orphan bound 550 s: records must outlive twice that, 1100 s.
    expect(() => resolveConfig({ maxClockSkewMs: 500_000 }, {})).toThrow(
      /outcomeRetentionMs \(900000\) and maxClockSkewMs \(500000\) do not fit/,
    );
    expect(resolveConfig({ maxClockSkewMs: 500_000, outcomeRetentionMs: 1_100_000 }, {}).maxClockSkewMs).toBe(
      500_000,
    );
  });

  it('a node heartbeats while it loads its metadata', async () => {
    const storage = new MemoryAdapter();
    let release!: () => void;
    const loading = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowLoad = Object.assign(Object.create(storage) as MemoryAdapter, {
      async listCommitRecords(...args: Parameters<MemoryAdapter['listCommitRecords']>) {
        await loading;
        return storage.listCommitRecords(...args);
      },
    });
    const shim = await startShim({ port: 0, adapter: slowLoad, env: {}, heartbeatMs: 20, deadAfterMs: 200 });
    try {
      const seqOf = async () => decodeMember((await storage.listEntries(MEMBERS_NAMESPACE))[0]!.value)!.seq;
      const seq = await eventually(seqOf, (value) => value >= 1);
      expect(await eventually(seqOf, (value) => value >= seq + 3)).toBeGreaterThanOrEqual(seq + 3);
      expect(shim.node.ready).toBe(false);
      release();
      await shim.ready;
      expect(shim.node.ready).toBe(true);
    } finally {
      release();
      await shim.close();
    }
  });
});
