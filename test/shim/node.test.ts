import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { INTENTS_NAMESPACE } from '../../shim/commit.js';
import {
  BadRequestError,
  NotReadyError,
  ShuttingDownError,
  TooLargeError,
  TooManyTransactionsError,
  TransactionLostError,
  TransactionNotFoundError,
  TransactionNotRunningError,
} from '../../shim/errors.js';
import { parseVersionId } from '../../shim/ids.js';
import { decodeIntent } from '../../shim/intents.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { flush, GatedAdapter } from '../helpers/gated-adapter.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : decoder.decode(value));
const bytes = (value: string) => encoder.encode(value);

async function commitValues(node: ShimNode, values: Record<string, string | null>): Promise<string | null> {
  const txid = node.begin().txid;
  node.write(
    txid,
    Object.entries(values).map(([key, value]) => ({ key, value: value === null ? null : bytes(value) })),
  );
  return (await node.commit(txid)).version;
}

describe('ShimNode transactions', () => {
  let storage: MemoryAdapter;
  let node: ShimNode;
  beforeEach(async () => {
    storage = new MemoryAdapter();
    node = await ShimNode.open({ storage });
  });
  afterEach(() => node.close());

  it('reads its own writes, and others see them only after commit', async () => {
    const writer = node.begin().txid;
    node.write(writer, [{ key: 'k', value: bytes('v1') }]);
    const [own] = await node.read(writer, ['k']);
    expect(text(own?.value)).toBe('v1');
    expect(own?.version).toBeUndefined();

    const other = node.begin().txid;
    expect((await node.read(other, ['k']))[0]?.value).toBeUndefined();
    const { version } = await node.commit(writer);
    // Repeatable: the other transaction read nothing and keeps reading nothing.
    expect((await node.read(other, ['k']))[0]?.value).toBeUndefined();
    const later = node.begin().txid;
    const [seen] = await node.read(later, ['k']);
    expect(text(seen?.value)).toBe('v1');
    expect(seen?.version).toBe(version);
  });

  it('a delete is a tombstone: later reads see no value', async () => {
    await commitValues(node, { k: 'v' });
    const deleted = await commitValues(node, { k: null });
    const txid = node.begin().txid;
    const [item] = await node.read(txid, ['k']);
    expect(item?.value).toBeUndefined();
    expect(item?.version).toBe(deleted);
    // The tombstone has no stored bytes.
    expect(storage.versionCount).toBe(1);
  });

  it('empty values are values, not deletes', async () => {
    await commitValues(node, { k: '' });
    const [item] = await node.read(node.begin().txid, ['k']);
    expect(item?.value).toEqual(new Uint8Array(0));
  });

  it('commit is idempotent, joins a concurrent commit, and a read-only commit has no version', async () => {
    const txid = node.begin().txid;
    node.write(txid, [{ key: 'k', value: bytes('v') }]);
    const [first, second] = await Promise.all([node.commit(txid), node.commit(txid)]);
    expect(second).toEqual(first);
    expect(await node.commit(txid)).toEqual(first);
    expect((await storage.listCommitRecords(undefined)).length).toBe(1);
    expect(node.status(txid)).toEqual({ txid, status: 'committed' });

    const readOnly = node.begin().txid;
    await node.read(readOnly, ['k']);
    expect(await node.commit(readOnly)).toEqual({ txid: readOnly, status: 'committed', version: null });
    expect((await storage.listCommitRecords(undefined)).length).toBe(1);
  });

  it('abort discards the writes; then reads, writes and commit are refused, a second abort is not', async () => {
    const txid = node.begin().txid;
    node.write(txid, [{ key: 'k', value: bytes('v') }]);
    expect(node.abort(txid)).toEqual({ txid, status: 'aborted' });
    expect(node.abort(txid)).toEqual({ txid, status: 'aborted' });
    await expect(node.read(txid, ['k'])).rejects.toBeInstanceOf(TransactionNotRunningError);
    expect(() => node.write(txid, [{ key: 'k', value: null }])).toThrow(TransactionNotRunningError);
    await expect(node.commit(txid)).rejects.toBeInstanceOf(TransactionNotRunningError);
    expect(storage.versionCount).toBe(0);
  });

  it('operations after commit are refused with TXN_NOT_RUNNING, and aborting a commit too', async () => {
    const txid = node.begin().txid;
    node.write(txid, [{ key: 'k', value: bytes('v') }]);
    await node.commit(txid);
    expect(() => node.write(txid, [{ key: 'k', value: null }])).toThrow(TransactionNotRunningError);
    expect(() => node.abort(txid)).toThrow(TransactionNotRunningError);
  });

  it('tells unknown transactions from transactions of a node that is gone', async () => {
    expect(() => node.status('nope')).toThrow(TransactionNotFoundError);
    const ours = node.begin().txid;
    expect(() => node.status(ours.replace(/-\d+-/, '-zz-'))).toThrow(TransactionNotFoundError);
    expect(() => node.status(`aaaaaaaaaa${ours.slice(10)}`)).toThrow(TransactionLostError);
    await expect(node.read(`aaaaaaaaaa${ours.slice(10)}`, ['k'])).rejects.toMatchObject({
      code: 'TXN_LOST',
      retryable: true,
    });
  });

  it('validates keys: empty, over 1024 UTF-8 bytes, not well-formed', () => {
    const txid = node.begin().txid;
    expect(() => node.write(txid, [{ key: '', value: bytes('v') }])).toThrow(BadRequestError);
    expect(() => node.write(txid, [{ key: 'é'.repeat(513), value: bytes('v') }])).toThrow(
      /at most 1024 bytes/,
    );
    expect(() => node.write(txid, [{ key: '\ud800', value: bytes('v') }])).toThrow(/UTF-8/);
    node.write(txid, [{ key: 'é'.repeat(512), value: bytes('v') }]);
  });

  it('rejects a begin while loading metadata and after shutdown', async () => {
    const fresh = new ShimNode({ storage: new MemoryAdapter() });
    expect(() => fresh.begin()).toThrow(NotReadyError);
    await fresh.start();
    fresh.begin();
    await fresh.shutdown(0);
    expect(() => fresh.begin()).toThrow(ShuttingDownError);
  });
});

describe('ShimNode read atomicity, by example', () => {
  it('a key read as missing stays missing, and hides the other writes of whoever wrote it later', async () => {
    const node = await ShimNode.open({ storage: new MemoryAdapter() });
    try {
      const reader = node.begin().txid;
      expect((await node.read(reader, ['k']))[0]?.version).toBeUndefined();
      await commitValues(node, { k: 'k by t', l: 'l by t' });
      // T wrote k, which this transaction read as missing: T's l would be a fractured read.
      const [l] = await node.read(reader, ['l']);
      expect(l?.value).toBeUndefined();
      expect((await node.read(reader, ['k']))[0]?.value).toBeUndefined();
    } finally {
      await node.close();
    }
  });

  it('a read joins the read set when its versions are chosen, before its values arrive: a second read issued meanwhile honours it', async () => {
    const storage = new GatedAdapter();
    // No cache: the first read's value waits at the gate until the test lets it through.
    const node = await ShimNode.open({ storage, limits: { cacheBytes: 0 } });
    const other = await ShimNode.open({ storage: storage.inner });
    try {
      await commitValues(other, { k: 'k1', l: 'l1' });
      await node.pull();
      const reader = node.begin().txid;
      const readK = node.read(reader, ['k']);
      await flush();
      expect(storage.pending).toBe(1);
      // T2 writes both keys; the node learns it while the first read is still in flight.
      await commitValues(other, { k: 'k2', l: 'l2' });
      await node.pull();
      const readL = node.read(reader, ['l']);
      while (storage.pending > 0) {
        storage.releaseAll();
        await flush();
      }
      const [[k], [l]] = await Promise.all([readK, readL]);
      expect([text(k?.value), text(l?.value)]).toEqual(['k1', 'l1']);
    } finally {
      await Promise.all([node.close(), other.close()]);
    }
  });
});

describe('ShimNode commit order, by example', () => {
  it('writes its record only once every version is durable: a node that learns the record can read every value', async () => {
    // Values too large for an entry go before the record (as on DynamoDB past 350 KB).
    const storage = new GatedAdapter({ maxEntryBytes: 1 });
    const writer = await ShimNode.open({ storage });
    const reader = await ShimNode.open({ storage: storage.inner, limits: { cacheBytes: 0 } });
    try {
      const txid = writer.begin().txid;
      writer.write(txid, [
        { key: 'k', value: bytes('k1') },
        { key: 'l', value: bytes('l1') },
      ]);
      const commit = writer.commit(txid);
      await flush();
      // The versions wait at the gate: no record may exist yet, so no reader can find one.
      expect(storage.pending).toBe(1);
      expect(await storage.inner.listCommitRecords(undefined)).toEqual([]);
      storage.release(0);
      await flush();
      // Now the record waits: the versions are all there already.
      expect(storage.pending).toBe(1);
      expect(await storage.inner.listCommitRecords(undefined)).toEqual([]);
      const [intent] = await storage.inner.listEntries(INTENTS_NAMESPACE);
      for (const [key, value] of [
        ['k', 'k1'],
        ['l', 'l1'],
      ] as const) {
        expect(await storage.inner.getVersion({ key, versionId: intent!.id })).toEqual(bytes(value));
      }
      storage.releaseAll();
      const { version } = await commit;
      await reader.pull();
      const items = await reader.read(reader.begin().txid, ['k', 'l']);
      expect(items.map((item) => [item.version, text(item.value)])).toEqual([
        [version, 'k1'],
        [version, 'l1'],
      ]);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });
});

describe('ShimNode commit order, values in the intent', () => {
  it('writes its record once the intent holding every value is durable, and its versions after the answer', async () => {
    const storage = new GatedAdapter();
    const writer = await ShimNode.open({ storage });
    const reader = await ShimNode.open({ storage: storage.inner, limits: { cacheBytes: 0 } });
    try {
      const txid = writer.begin().txid;
      writer.write(txid, [
        { key: 'k', value: bytes('k1') },
        { key: 'l', value: bytes('l1') },
      ]);
      const commit = writer.commit(txid);
      await flush();
      // The record waits at the gate; the intent, holding both values, is in storage already.
      expect(storage.pending).toBe(1);
      expect(await storage.inner.listCommitRecords(undefined)).toEqual([]);
      const [intent] = await storage.inner.listEntries(INTENTS_NAMESPACE);
      expect(decodeIntent(intent!.value)!.values).toEqual([bytes('k1'), bytes('l1')]);
      storage.release(0);
      const { version } = await commit;
      // Answered; the versions wait at the gate. A node that learns the record reads the values
      // from the intent.
      await flush();
      expect(storage.pending).toBe(1);
      expect(await storage.inner.getVersion({ key: 'k', versionId: version! })).toBeUndefined();
      await reader.pull();
      const read = async () =>
        (await reader.read(reader.begin().txid, ['k', 'l'])).map((item) => [item.version, text(item.value)]);
      expect(await read()).toEqual([
        [version, 'k1'],
        [version, 'l1'],
      ]);
      // Then the versions land and the intent goes: the same values, from the versions.
      storage.releaseAll();
      await eventually(
        () => storage.inner.listEntries(INTENTS_NAMESPACE),
        (intents) => intents.length === 0,
      );
      expect(await storage.inner.getVersion({ key: 'l', versionId: version! })).toEqual(bytes('l1'));
      expect(await read()).toEqual([
        [version, 'k1'],
        [version, 'l1'],
      ]);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });
});

describe('ShimNode versions written after the answer, late', () => {
  it('are left to the collector once the commit is past the intent deadline: never written late by the node', async () => {
    let elapsedMs = 0;
    const storage = new GatedAdapter();
    const writer = await ShimNode.open({
      storage,
      elapsedNow: () => elapsedMs,
      timing: { intentDeadlineMs: 500, recordDeadlineMs: 1000 },
    });
    try {
      const txid = writer.begin().txid;
      writer.write(txid, [{ key: 'k', value: bytes('late') }]);
      const commit = writer.commit(txid);
      await flush();
      // The record is held past the intent deadline (within the record deadline), then lands.
      elapsedMs = 600;
      storage.release(0);
      const { version } = await commit;
      await flush();
      // No version write follows: one this late could land after the collector deleted it.
      expect(storage.pending).toBe(0);
      expect(await storage.inner.getVersion({ key: 'k', versionId: version! })).toBeUndefined();
      expect((await storage.inner.listEntries(INTENTS_NAMESPACE)).map((intent) => intent.id)).toEqual([
        version,
      ]);
      // Readers read it from the intent; the collector writes it, then deletes the intent.
      const reader = await ShimNode.open({ storage: storage.inner, limits: { cacheBytes: 0 } });
      expect(text((await reader.read(reader.begin().txid, ['k']))[0]!.value)).toBe('late');
      await reader.close();
      await collectGarbage({ storage: storage.inner });
      expect(await storage.inner.getVersion({ key: 'k', versionId: version! })).toEqual(bytes('late'));
      expect(await storage.inner.listEntries(INTENTS_NAMESPACE)).toEqual([]);
    } finally {
      await writer.close();
    }
  });
});

describe('ShimNode limits', () => {
  it('refuses values, keys per transaction and bytes per transaction over the limits, all or nothing', async () => {
    const node = await ShimNode.open({
      storage: new MemoryAdapter(),
      limits: { maxValueBytes: 10, maxTransactionKeys: 3, maxTransactionBytes: 25 },
    });
    const txid = node.begin().txid;
    expect(() => node.write(txid, [{ key: 'k', value: new Uint8Array(11) }])).toThrow(TooLargeError);
    node.write(txid, [
      { key: 'a', value: new Uint8Array(10) },
      { key: 'b', value: new Uint8Array(10) },
    ]);
    expect(() =>
      node.write(txid, [
        { key: 'c', value: new Uint8Array(1) },
        { key: 'd', value: new Uint8Array(1) },
      ]),
    ).toThrow(/at most 3 keys/);
    // Overwriting a key does not count it twice; going over the bytes does.
    node.write(txid, [{ key: 'a', value: new Uint8Array(5) }]);
    expect(() => node.write(txid, [{ key: 'c', value: new Uint8Array(10) }])).toThrow(/at most 25 bytes/);
    // The refused batches left nothing behind.
    const [c] = await node.read(txid, ['c']);
    expect(c?.value).toBeUndefined();
    await node.close();
  });

  it('refuses more open transactions than the limit, and frees a slot when one ends', async () => {
    const node = await ShimNode.open({ storage: new MemoryAdapter(), limits: { maxOpenTransactions: 2 } });
    const first = node.begin().txid;
    node.begin();
    expect(() => node.begin()).toThrow(TooManyTransactionsError);
    node.abort(first);
    node.begin();
    await node.close();
  });

  it('validates the requested idle timeout', async () => {
    const node = await ShimNode.open({
      storage: new MemoryAdapter(),
      limits: { maxTransactionTimeoutMs: 1000 },
    });
    expect(() => node.begin({ timeoutMs: 0 })).toThrow(BadRequestError);
    expect(() => node.begin({ timeoutMs: 1001 })).toThrow(BadRequestError);
    node.begin({ timeoutMs: 1000 });
    await node.close();
  });

  it('aborts a transaction idle past its timeout, and activity keeps it alive', async () => {
    let now = 1_000_000;
    const node = await ShimNode.open({
      storage: new MemoryAdapter(),
      now: () => now,
      reaperIntervalMs: 5,
      limits: { transactionTimeoutMs: 1000 },
    });
    const idle = node.begin().txid;
    const busy = node.begin({ timeoutMs: 1000 }).txid;
    now += 800;
    node.write(busy, [{ key: 'k', value: bytes('v') }]);
    now += 800;
    // The reaper runs every 5 ms (later on a loaded machine).
    expect(
      await eventually(
        () => node.status(idle).status,
        (status) => status !== 'running',
      ),
    ).toBe('aborted');
    await expect(node.read(idle, ['k'])).rejects.toThrow(/idle for over 1000 ms/);
    expect(node.status(busy).status).toBe('running');
    await node.close();
  });

  it('limits the keys of one read, embedded as behind the REST API', async () => {
    const node = await ShimNode.open({ storage: new MemoryAdapter(), limits: { maxTransactionKeys: 3 } });
    const txid = node.begin().txid;
    await expect(node.read(txid, ['a', 'b', 'c', 'd'])).rejects.toBeInstanceOf(TooLargeError);
    expect(await node.read(txid, ['a', 'b', 'c'])).toHaveLength(3);
    await node.close();
  });

  it('keeps the data cache within its byte bound', async () => {
    const node = await ShimNode.open({ storage: new MemoryAdapter(), limits: { cacheBytes: 64 * 1024 } });
    for (let i = 0; i < 50; i += 1) await commitValues(node, { [`k${i}`]: 'x'.repeat(4096) });
    const txid = node.begin().txid;
    await node.read(
      txid,
      Array.from({ length: 50 }, (_, i) => `k${i}`),
    );
    expect(node.stats.cacheBytes).toBeLessThanOrEqual(64 * 1024);
    expect(node.stats.cacheEntries).toBeGreaterThan(0);
    await node.close();
  });
});

describe('ShimNode start-up and shutdown', () => {
  it('a node behind a known commit by more than the allowed skew refuses to write its keys (the write would be hidden)', async () => {
    const storage = new MemoryAdapter();
    const first = await ShimNode.open({ storage, now: () => 5_000_000 });
    await commitValues(first, { k: 'from first' });
    const behind = await ShimNode.open({ storage, now: () => 5_000_000 - 60_000 });
    const txid = behind.begin().txid;
    behind.write(txid, [{ key: 'k', value: bytes('hidden') }]);
    await expect(behind.commit(txid)).rejects.toThrow(/ahead of this node's clock/);
    expect(() => behind.status(txid)).not.toThrow();
    await expect(behind.read(txid, ['k'])).rejects.toBeInstanceOf(TransactionLostError);
    // Keys no commit from the future wrote are written as usual.
    expect(await commitValues(behind, { other: 'fine' })).not.toBeNull();
    const written = (await storage.listCommitRecords(undefined)).map((record) => record.writeSet.join());
    expect(written.sort()).toEqual(['k', 'other']);
    await first.close();
    await behind.close();
  });

  it('bootstraps every commit from storage and orders its own commits after them', async () => {
    const storage = new MemoryAdapter();
    const first = await ShimNode.open({ storage, now: () => 5_000_000 });
    const firstVersion = await commitValues(first, { k: 'from first', l: 'from first' });
    const firstTxid = parseVersionId(firstVersion!)!.txid;

    // The second node's wall clock is behind, within the allowed skew: its hybrid clock still
    // moves past what it loaded.
    const second = await ShimNode.open({ storage: new FaultyAdapter(storage), now: () => 5_000_000 - 4_000 });
    const txid = second.begin().txid;
    expect((await second.read(txid, ['k', 'l'])).map((item) => text(item.value))).toEqual([
      'from first',
      'from first',
    ]);
    const secondVersion = await commitValues(second, { k: 'from second' });
    expect(secondVersion! > firstVersion!).toBe(true);
    // A transaction of the first node, asked about on the second, is known to be committed.
    expect(second.status(firstTxid)).toEqual({ txid: firstTxid, status: 'committed' });
    expect(await second.commit(firstTxid)).toEqual({
      txid: firstTxid,
      status: 'committed',
      version: firstVersion,
    });
    await first.close();
    await second.close();
  });

  it('bootstraps in pages past many commits', async () => {
    const storage = new MemoryAdapter();
    const writer = await ShimNode.open({ storage });
    for (let i = 0; i < 2500; i += 1) await commitValues(writer, { [`k${i % 10}`]: String(i) });
    const reader = await ShimNode.open({ storage });
    expect(reader.stats.transactions).toBe(2500);
    const [item] = await reader.read(reader.begin().txid, ['k9']);
    expect(text(item?.value)).toBe('2499');
    await writer.close();
    await reader.close();
  });

  it('shutdown aborts running transactions and lets an in-flight commit finish', async () => {
    const storage = new GatedAdapter();
    const node = await ShimNode.open({ storage });
    const committing = node.begin().txid;
    node.write(committing, [{ key: 'k', value: bytes('v') }]);
    const running = node.begin().txid;
    const commit = node.commit(committing);
    await flush();
    const stopped = node.shutdown(5000);
    await flush();
    expect(node.status(running).status).toBe('aborted');
    while (storage.pending > 0 || node.status(committing).status === 'running') {
      storage.releaseAll();
      await flush();
    }
    await expect(commit).resolves.toMatchObject({ status: 'committed' });
    await stopped;
    expect(await storage.inner.listCommitRecords(undefined)).toHaveLength(1);
  });
});
