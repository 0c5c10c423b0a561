/**
 * How many storage round trips a commit waits for (issue: at most 2 where the engine writes
 * versions and record atomically): every storage call the node makes while a commit of two
 * writes runs, in order, on an engine with putVersionsAndRecord and on one without.
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { ShimNode } from '../../shim/node.js';

/** The adapter's calls by name, as they start; `atomic: false` hides putVersionsAndRecord. */
function recording(atomic: boolean): { adapter: StorageAdapter; calls: string[] } {
  const inner = new MemoryAdapter();
  const calls: string[] = [];
  const adapter = new Proxy(inner, {
    get(target, name, receiver) {
      if (name === 'putVersionsAndRecord' && !atomic) return undefined;
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { adapter, calls };
}

describe.each([true, false])('a commit of two writes (atomic engine: %s)', (atomic) => {
  it(`waits for ${atomic ? 2 : 3} storage calls, one after another`, async () => {
    const { adapter, calls } = recording(atomic);
    const node = await ShimNode.open({ storage: adapter, localGcIntervalMs: 60_000 });
    try {
      const encoder = new TextEncoder();
      const txid = node.begin().txid;
      node.write(txid, [
        { key: 'a', value: encoder.encode('1') },
        { key: 'b', value: encoder.encode('2') },
      ]);
      calls.length = 0;
      const version = await node.commit(txid);
      const beforeAck = calls.filter((call) => call !== 'deleteEntries');
      expect(beforeAck).toEqual(
        atomic ? ['putEntry', 'putVersionsAndRecord'] : ['putEntry', 'putVersions', 'putCommitRecord'],
      );
      expect(version.status).toBe('committed');
      // Both writes are in storage: a node that loads from it reads them.
      const reader = await ShimNode.open({ storage: adapter, localGcIntervalMs: 60_000 });
      const items = await reader.read(reader.begin().txid, ['a', 'b']);
      await reader.close();
      expect(items.map((item) => new TextDecoder().decode(item.value))).toEqual(['1', '2']);
    } finally {
      await node.close();
    }
  });
});
