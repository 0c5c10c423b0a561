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
import { eventually } from '../helpers/eventually.js';

describe('membership', () => {
  it('finds live members through storage and drops one whose heartbeat stops', async () => {
    const storage = new MemoryAdapter();
    let clock = 1_000_000;
    const member = (nodeId: string) =>
      new Membership({
        storage,
        nodeId,
        url: `http://${nodeId}`,
        lowWaterMs: () => 0,
        heartbeatMs: 1e9,
        deadAfterMs: 1000,
        now: () => clock,
      });
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
