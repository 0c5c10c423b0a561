/**
 * How many storage round trips a commit waits for (issue 16: at most 2 on every engine, 1
 * where the engine applies versions and record atomically by a clock of its own):
 * every storage call the node makes while a commit of two writes runs, in order, on an engine
 * with putVersionsAndRecord (the intent, then versions and record in one write) and on one
 * without (the intent carrying the values, then the record; the versions are written after
 * the answer, and a reader finds them in the intent until then).
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { INTENTS_NAMESPACE } from '../../shim/commit.js';
import { ShimNode } from '../../shim/node.js';
import { noMetrics } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';

/** The adapter's calls by name, as they start; `atomic: false` hides putVersionsAndRecord. */
function recording(inner: StorageAdapter, atomic: boolean): { adapter: StorageAdapter; calls: string[] } {
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe.each([true, false])('a commit of two writes (atomic engine: %s)', (atomic) => {
  it('waits for 2 storage calls, one after another', async () => {
    const memory = new MemoryAdapter();
    // Whatever is written after the answer is held: the commit must not wait for it.
    const holding = new HoldingAdapter(memory);
    holding.hold('putVersions');
    const { adapter, calls } = recording(holding.adapter, atomic);
    const node = await ShimNode.open({ storage: adapter, localGcIntervalMs: 60_000 });
    try {
      const txid = node.begin().txid;
      node.write(txid, [
        { key: 'a', value: encoder.encode('1') },
        { key: 'b', value: encoder.encode('2') },
      ]);
      calls.length = 0;
      const version = await node.commit(txid);
      expect(version.status).toBe('committed');
      const waitedFor = calls.slice(0, 2);
      expect(waitedFor).toEqual(
        atomic ? ['putEntry', 'putVersionsAndRecord'] : ['putEntry', 'putCommitRecord'],
      );
      // After the answer: the intent goes (with the versions first, where they are written then).
      expect(calls.slice(2)).toEqual(atomic ? ['deleteEntries'] : ['putVersions']);
      expect(holding.heldCount).toBe(atomic ? 0 : 1);

      // Both writes are readable from storage at once: a node that loads from it reads them,
      // from the intent while the versions are still on their way.
      let fromIntents = 0;
      const metrics = {
        ...noMetrics,
        readFromIntent: () => {
          fromIntents += 1;
        },
      };
      const readBoth = async () => {
        const reader = await ShimNode.open({ storage: memory, localGcIntervalMs: 60_000, metrics });
        const items = await reader.read(reader.begin().txid, ['a', 'b']);
        await reader.close();
        return items.map((item) => decoder.decode(item.value));
      };
      expect(await readBoth()).toEqual(['1', '2']);
      // Counted where they came from the intent (aft_reads_from_intents_total).
      expect(fromIntents).toBe(atomic ? 0 : 2);
      if (!atomic) {
        expect(await memory.getVersion({ key: 'a', versionId: version.version! })).toBeUndefined();
        await holding.land('putVersions');
        // Then the intent goes, and the versions are where every reader looks first.
        await eventually(
          () => memory.listEntries(INTENTS_NAMESPACE),
          (intents) => intents.length === 0,
        );
        expect(await readBoth()).toEqual(['1', '2']);
        expect(fromIntents).toBe(2);
      }
    } finally {
      await node.close();
    }
  });
});

describe('a commit whose values are too large for one entry, on an engine without an atomic write', () => {
  it('writes the versions before the record: 3 storage calls, one after another', async () => {
    const memory = new MemoryAdapter();
    const { adapter, calls } = recording(memory, false);
    const storage = Object.assign(Object.create(adapter) as StorageAdapter, { maxEntryBytes: 64 });
    const node = await ShimNode.open({ storage, localGcIntervalMs: 60_000 });
    try {
      const txid = node.begin().txid;
      node.write(txid, [
        { key: 'a', value: new Uint8Array(40) },
        { key: 'b', value: new Uint8Array(40) },
      ]);
      calls.length = 0;
      await node.commit(txid);
      expect(calls).toEqual(['putEntry', 'putVersions', 'putCommitRecord', 'deleteEntries']);
    } finally {
      await node.close();
    }
  });
});

describe('a commit on an engine that applies its write by a clock of its own (Redis)', () => {
  it('waits for 1 storage call, and writes no intent', async () => {
    const memory = new MemoryAdapter({ clock: Date.now });
    const { adapter, calls } = recording(memory, true);
    const node = await ShimNode.open({ storage: adapter, localGcIntervalMs: 60_000 });
    try {
      const txid = node.begin().txid;
      node.write(txid, [
        { key: 'a', value: encoder.encode('1') },
        { key: 'b', value: null },
      ]);
      calls.length = 0;
      const { version } = await node.commit(txid);
      expect(calls).toEqual(['putVersionsAndRecordBy']);
      expect(await memory.listEntries(INTENTS_NAMESPACE)).toEqual([]);
      expect(await memory.getVersion({ key: 'a', versionId: version! })).toEqual(encoder.encode('1'));
    } finally {
      await node.close();
    }
  });
});
