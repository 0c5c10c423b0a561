/**
 * Membership: peers found through heartbeats in storage or a static list, dead ones
 * dropped, and a node that cannot reach storage fencing itself before others count it dead.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { httpPeerTransport } from '../../server/http/peer-transport.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { NotReadyError, TransactionLostError } from '../../shim/errors.js';
import { Membership } from '../../shim/membership.js';
import { ShimNode } from '../../shim/node.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';

/** Members over one storage that beat only when a test calls refresh, on a clock the test moves. */
function membersOn(storage: MemoryAdapter, now: () => number) {
  return (nodeId: string, logger?: NodeLogger) =>
    new Membership({
      storage,
      nodeId,
      url: `http://${nodeId}`,
      lowWaterMs: () => 0,
      heartbeatMs: 1e9,
      deadAfterMs: 1000,
      now,
      ...(logger && { logger }),
    });
}

describe('membership', () => {
  it('finds live members through storage and drops one whose heartbeat stops', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_000_000;
    const member = membersOn(storage, () => clock);
    const a = member('node-a');
    const b = member('node-b');
    await a.register();
    await b.register();
    await a.start();
    await b.start();
    await a.refresh(); // a second beat: a sees b's latest heartbeat
    expect(a.livePeerUrls()).toEqual(['http://node-b']);
    expect(a.urlOf('node-b')).toBe('http://node-b');
    // b stops beating; a keeps reading the same sequence number, then counts b dead.
    clock += 600;
    await a.refresh();
    expect(a.urlOf('node-b')).toBe('http://node-b');
    clock += 600;
    await a.refresh();
    expect(a.urlOf('node-b')).toBeUndefined();
    expect(a.livePeerUrls()).toEqual([]);
    // A node that leaves removes its entry at once.
    await b.stop();
    expect((await storage.listEntries('members')).map((entry) => entry.id)).toEqual(['node-a']);
    await a.stop();
  });

  it('lists the members as it judges them, and logs once when a peer is counted dead, comes back and leaves', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_000_000;
    const logged: { level: string; message: string; nodeId?: string }[] = [];
    const logger = Object.fromEntries(
      (['info', 'warn', 'error', 'debug'] as const).map((level) => [
        level,
        (object: { nodeId?: string }, message = '') => logged.push({ level, message, nodeId: object.nodeId }),
      ]),
    ) as unknown as NodeLogger;
    const member = membersOn(storage, () => clock);
    const a = member('node-a', logger);
    const b = member('node-b');
    for (const m of [a, b]) await m.register();
    for (const m of [a, b]) await m.start();
    await a.refresh();
    expect(a.members().map(({ nodeId, self, state }) => ({ nodeId, self, state }))).toEqual([
      { nodeId: 'node-a', self: true, state: 'live' },
      { nodeId: 'node-b', self: false, state: 'live' },
    ]);
    expect(a.members()[1]).toMatchObject({ url: 'http://node-b', seq: 2, heartbeatAtMs: clock });

    const peerLines = () =>
      logged.filter((line) => line.nodeId === 'node-b').map((line) => line.level + ' ' + line.message);
    clock += 1200;
    await a.refresh();
    await a.refresh();
    expect(a.members()[1]).toMatchObject({ state: 'dead', unchangedForMs: 1200 });
    expect(peerLines()).toEqual([
      'warn peer counted dead: its heartbeat stopped changing for longer than its dead-after time',
    ]);
    await b.refresh();
    await a.refresh();
    expect(a.members()[1]).toMatchObject({ state: 'live', unchangedForMs: 0 });
    expect(peerLines()).toHaveLength(2);
    expect(peerLines()[1]).toBe('info peer is back: its heartbeat changes again');
    await b.stop();
    await a.refresh();
    expect(a.members().map((view) => view.nodeId)).toEqual(['node-a']);
    expect(peerLines()[2]).toBe('info peer left: its membership entry is gone');
    await a.stop();
  });

  it('asks static peers for their node id over HTTP', async () => {
    let peer: RunningShim | undefined;
    try {
      peer = await startShim({ port: 0, storage: 'memory:', env: {} });
      await peer.ready;
      const membership = new Membership({
        storage: new MemoryAdapter(), // nothing registered here: only the static list finds it
        nodeId: 'me',
        url: 'http://me',
        lowWaterMs: () => 0,
        heartbeatMs: 1e9,
        peers: [peer.url],
        transport: httpPeerTransport({ token: () => undefined }),
      });
      await membership.start();
      expect(membership.urlOf(peer.node.nodeId)).toBe(peer.url);
      expect(membership.livePeerUrls()).toEqual([peer.url]);
      await membership.stop();
    } finally {
      await peer?.close();
    }
  });

  it('fences a node that cannot heartbeat for half the dead-after time, and lifts it once it can', async () => {
    const storage = new MemoryAdapter();
    const node = await ShimNode.open({ storage });
    let failing = false;
    const flaky = Object.assign(Object.create(storage) as MemoryAdapter, {
      async putEntry(...args: Parameters<MemoryAdapter['putEntry']>): Promise<void> {
        if (failing) throw new Error('storage unreachable');
        return storage.putEntry(...args);
      },
    });
    const membership = new Membership({
      storage: flaky,
      nodeId: node.nodeId,
      url: 'http://me',
      lowWaterMs: () => node.lowWaterMs,
      heartbeatMs: 20,
      deadAfterMs: 200,
      onFenced: (reason) => node.fence(reason),
      onUnfenced: () => node.unfence(),
    });
    try {
      await membership.register();
      await membership.start();
      const running = node.begin().txid;
      failing = true;
      // Fenced once silent for over 100 ms: at the first beat after that (later on a loaded machine).
      expect(
        await eventually(
          () => node.ready,
          (ready) => !ready,
        ),
      ).toBe(false);
      expect(() => node.begin()).toThrow(NotReadyError);
      // Lost, not refused: its client runs the function again.
      await expect(node.read(running, ['k'])).rejects.toBeInstanceOf(TransactionLostError);
      failing = false;
      expect(
        await eventually(
          () => node.ready,
          (ready) => ready,
        ),
      ).toBe(true);
      expect(node.begin().status).toBe('running');
    } finally {
      await membership.stop();
      await node.close();
    }
  });
});
