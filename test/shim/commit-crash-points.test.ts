/**
 * Every crash point of a commit (protocol.md §4), in each of its three shapes: on the file
 * store (no atomic write: the intent carries the values, the versions follow the answer), on
 * an engine that writes versions and record in one atomic call (the in-process store), and on
 * such an engine when they do not fit one call (versions first, then the record, as DynamoDB
 * past 100 items). The storage call of each step fails or the node dies there (the call never
 * returns and a new node takes over the same storage). Each case checks what the client is
 * told and what any node sees afterwards: all of the transaction's writes or none of them
 * (G1, G5, G7), and a repeated commit returning the first outcome (G6).
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { FileAdapter } from '../../adapters/file.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { CommitError, CommitFailure, INTENTS_NAMESPACE } from '../../shim/commit.js';
import {
  ErrorCode,
  StorageUnavailableError,
  TransactionLostError,
  TransactionNotRunningError,
} from '../../shim/errors.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';
import { type Fault, type FaultPhase, FaultyAdapter } from '../helpers/faulty-adapter.js';
import { tempDirectories } from '../helpers/temp-dir.js';
import { ticketsReady } from '../helpers/tickets.js';

const tempDir = tempDirectories();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEYS = ['k', 'l', 'm', 'gone'];

/**
 * The in-process store, as an engine whose atomic write and entries never hold a whole commit
 * (a DynamoDB commit past 100 items and past 350 KB).
 */
class TooSmallAtomicWrites extends MemoryAdapter {
  readonly maxEntryBytes = 1;
  fitsVersionsAndRecord(): boolean {
    return false;
  }
}

/** How a commit writes its versions: see the header. */
type Shape = 'redo' | 'atomic' | 'versions first' | 'no intent' | 'ticket';

function storeFor(shape: Shape): StorageAdapter {
  if (shape === 'redo') return new FileAdapter({ directory: tempDir() });
  if (shape === 'no intent') return new MemoryAdapter({ clock: Date.now });
  if (shape === 'ticket') return new MemoryAdapter({ swappingWrites: true });
  return shape === 'atomic' ? new MemoryAdapter() : new TooSmallAtomicWrites();
}

/** A store holding one committed generation 'old' of every key, and a node over it. */
async function setUp(carried = false, shape: Shape = 'redo') {
  const inner = storeFor(shape);
  const storage = new FaultyAdapter(inner);
  const node = await ShimNode.open({ storage });
  const seed = node.begin().txid;
  node.write(
    seed,
    KEYS.map((key) => ({ key, value: encoder.encode(`old ${key}`) })),
  );
  await node.commit(seed);
  // The seed's intent is deleted in the background; start from a store without one.
  await eventually(
    () => inner.listEntries(INTENTS_NAMESPACE),
    (intents) => intents.length === 0,
  );
  // The seed found no ticket ready (it wrote an intent) and asked for a batch: wait for it.
  if (shape === 'ticket') await ticketsReady(node);
  // The transaction under test: three writes and one delete, buffered before its commit or
  // carried by it (the REST commit with `items`).
  const txid = node.begin().txid;
  if (!carried) node.write(txid, WRITES);
  const commit = () => node.commit(txid, carried ? { writes: WRITES } : {});
  return { inner, storage, node, txid, commit };
}

const WRITES = [
  { key: 'k', value: encoder.encode('new k') },
  { key: 'l', value: encoder.encode('new l') },
  { key: 'm', value: encoder.encode('new m') },
  { key: 'gone', value: null },
];

/** What a fresh node over the same storage reads for every key, in one transaction. */
async function visibleState(inner: StorageAdapter): Promise<Record<string, string | null>> {
  const reader = await ShimNode.open({ storage: new FaultyAdapter(inner) });
  try {
    const txid = reader.begin().txid;
    const items = await reader.read(txid, KEYS);
    return Object.fromEntries(
      items.map(({ key, value }) => [key, value === undefined ? null : decoder.decode(value)]),
    );
  } finally {
    await reader.close();
  }
}

const OLD = { k: 'old k', l: 'old l', m: 'old m', gone: 'old gone' };
const NEW = { k: 'new k', l: 'new l', m: 'new m', gone: null };

/** The keys named by the commit intents left in storage (what GC can find orphans by). */
async function intentKeys(inner: StorageAdapter): Promise<string[][]> {
  const intents = await inner.listEntries(INTENTS_NAMESPACE);
  return intents.map((intent) => (JSON.parse(decoder.decode(intent.value)) as { keys: string[] }).keys);
}

/**
 * Crash points in commit order: whether the transaction is committed once the node died
 * there, and whether its intent (naming the keys it stored versions of) is in storage.
 */
type CrashPoint = { fault: Omit<Fault, 'effect'>; committed: boolean; intent: boolean };

/** The intent holds the values; the versions are written after the answer. */
const REDO_CRASH_POINTS: readonly CrashPoint[] = [
  { fault: { operation: 'putEntry', phase: 'before' }, committed: false, intent: false },
  { fault: { operation: 'putEntry', phase: 'after' }, committed: false, intent: true },
  { fault: { operation: 'putCommitRecord', phase: 'before' }, committed: false, intent: true },
  { fault: { operation: 'putCommitRecord', phase: 'after' }, committed: true, intent: true },
  // After the answer: readers find what is not written yet in the intent.
  { fault: { operation: 'putVersions', phase: 'before' }, committed: true, intent: true },
  { fault: { operation: 'putVersions', phase: 'halfway' }, committed: true, intent: true },
  { fault: { operation: 'putVersions', phase: 'after' }, committed: true, intent: true },
];

/** The versions, then the record. */
const VERSIONS_FIRST_CRASH_POINTS: readonly CrashPoint[] = [
  { fault: { operation: 'putEntry', phase: 'before' }, committed: false, intent: false },
  { fault: { operation: 'putEntry', phase: 'after' }, committed: false, intent: true },
  { fault: { operation: 'putVersions', phase: 'before' }, committed: false, intent: true },
  { fault: { operation: 'putVersions', phase: 'halfway' }, committed: false, intent: true },
  { fault: { operation: 'putVersions', phase: 'after' }, committed: false, intent: true },
  { fault: { operation: 'putCommitRecord', phase: 'before' }, committed: false, intent: true },
  { fault: { operation: 'putCommitRecord', phase: 'after' }, committed: true, intent: true },
];

/**
 * Versions and record in one write the engine applies by its clock, with no intent (a Redis
 * script). Halfway (a script refused midway: Redis before 7, out of memory) leaves versions
 * no record names and no intent either: never visible, and left behind in storage.
 */
const NO_INTENT_CRASH_POINTS: readonly CrashPoint[] = [
  { fault: { operation: 'putVersionsAndRecordBy', phase: 'before' }, committed: false, intent: false },
  { fault: { operation: 'putVersionsAndRecordBy', phase: 'halfway' }, committed: false, intent: false },
  { fault: { operation: 'putVersionsAndRecordBy', phase: 'after' }, committed: true, intent: false },
];

/**
 * Versions and record in one write that spends a commit ticket written ahead, with no intent
 * (DynamoDB's TransactWriteItems: all or nothing, so no halfway).
 */
const TICKET_CRASH_POINTS: readonly CrashPoint[] = [
  { fault: { operation: 'putVersionsAndRecordSwapping', phase: 'before' }, committed: false, intent: false },
  { fault: { operation: 'putVersionsAndRecordSwapping', phase: 'after' }, committed: true, intent: false },
];

/** The same, where versions and record go in one atomic write (halfway: a script refused midway). */
const ATOMIC_CRASH_POINTS: readonly CrashPoint[] = [
  { fault: { operation: 'putEntry', phase: 'before' }, committed: false, intent: false },
  { fault: { operation: 'putEntry', phase: 'after' }, committed: false, intent: true },
  { fault: { operation: 'putVersionsAndRecord', phase: 'before' }, committed: false, intent: true },
  { fault: { operation: 'putVersionsAndRecord', phase: 'halfway' }, committed: false, intent: true },
  { fault: { operation: 'putVersionsAndRecord', phase: 'after' }, committed: true, intent: true },
];

describe('a node dying at each point of a commit', () => {
  const cases = [false, true].flatMap((carried) => [
    ...REDO_CRASH_POINTS.map((point) => ({ ...point, carried, shape: 'redo' as const })),
    ...ATOMIC_CRASH_POINTS.map((point) => ({ ...point, carried, shape: 'atomic' as const })),
    ...VERSIONS_FIRST_CRASH_POINTS.map((point) => ({ ...point, carried, shape: 'versions first' as const })),
    ...NO_INTENT_CRASH_POINTS.map((point) => ({ ...point, carried, shape: 'no intent' as const })),
    ...TICKET_CRASH_POINTS.map((point) => ({ ...point, carried, shape: 'ticket' as const })),
  ]);
  it.each(cases)(
    'dies $fault.phase $fault.operation (writes carried by the commit: $carried; $shape): all or nothing is visible',
    async ({ fault, committed, intent, carried, shape }) => {
      const { inner, storage, node, commit: commitNow } = await setUp(carried, shape);
      storage.arm({ ...fault, effect: 'crash' });
      const commit = commitNow();
      commit.catch(() => undefined);
      // The commit reaches the armed call within milliseconds, or longer on a loaded machine.
      expect(
        await eventually(
          () => storage.fired,
          (fired) => fired > 0,
        ),
      ).toBe(1);
      // The node is gone; another one takes over the same storage.
      expect(await visibleState(inner)).toEqual(committed ? NEW : OLD);
      // Any version stored without a record is named by an intent, for GC to delete.
      expect(await intentKeys(inner)).toEqual(intent ? [['k', 'l', 'm']] : []);
      await node.close();
    },
  );

  it('dies after acknowledging: the commit is visible to every later node', async () => {
    const { inner, node, txid } = await setUp();
    await node.commit(txid);
    expect(await visibleState(inner)).toEqual(NEW);
    // The intent has done its job and goes (in the background).
    expect(
      await eventually(
        () => intentKeys(inner),
        (keys) => keys.length === 0,
      ),
    ).toEqual([]);
    await node.close();
  });
});

describe('a storage failure at each point of a commit', () => {
  const versionFailures: FaultPhase[] = ['before', 'halfway', 'after'];

  it.each(['before', 'after'] as const)(
    'the intent write fails %s landing: aborted, retryable, nothing visible',
    async (phase) => {
      const { inner, storage, node, txid } = await setUp();
      storage.arm({ operation: 'putEntry', phase, effect: 'throw' });
      const error = await node.commit(txid).catch((caught: unknown) => caught);
      expect((error as CommitError).failure).toBe(CommitFailure.VERSIONS_FAILED);
      expect((error as CommitError).retryable).toBe(true);
      expect(node.status(txid).status).toBe('aborted');
      expect(await visibleState(inner)).toEqual(OLD);
      await node.close();
    },
  );

  it.each(versionFailures)(
    'putVersions fails %s, before the record: aborted, retryable, nothing visible',
    async (phase) => {
      const { inner, storage, node, txid } = await setUp(false, 'versions first');
      storage.arm({ operation: 'putVersions', phase, effect: 'throw' });
      const error = await node.commit(txid).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(CommitError);
      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect((error as CommitError).failure).toBe(CommitFailure.VERSIONS_FAILED);
      expect((error as CommitError).retryable).toBe(true);
      expect(node.status(txid).status).toBe('aborted');
      // The repeat says lost, retryable: the function runs again (nothing of it is visible).
      await expect(node.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
      expect(await visibleState(inner)).toEqual(OLD);
      await node.close();
    },
  );

  it.each(versionFailures)(
    'the versions fail %s, written after the answer: committed, read from the intent until the collector writes them',
    async (phase) => {
      const { inner, storage, node, txid } = await setUp();
      storage.arm({ operation: 'putVersions', phase, effect: 'throw' });
      const { version } = await node.commit(txid);
      // The failure comes after the answer (halfway and after: once storage took its part).
      expect(
        await eventually(
          () => storage.fired,
          (fired) => fired > 0,
        ),
      ).toBe(1);
      expect(node.status(txid).status).toBe('committed');
      expect(await visibleState(inner)).toEqual(NEW);
      expect(await intentKeys(inner)).toEqual([['k', 'l', 'm']]);
      // The collector writes what the intent holds, then deletes it; the versions stay (the
      // newest of each key).
      const report = await collectGarbage({ storage: inner });
      expect(report.intentsDeleted).toBe(1);
      expect(await intentKeys(inner)).toEqual([]);
      const stored = await Promise.all(
        ['k', 'l', 'm'].map((key) => inner.getVersion({ key, versionId: version! })),
      );
      expect(stored.map((value) => value && decoder.decode(value))).toEqual(['new k', 'new l', 'new m']);
      expect(await visibleState(inner)).toEqual(NEW);
      await node.close();
    },
  );

  it.each([
    ['before', 'putCommitRecord'],
    ['after', 'putCommitRecord'],
    ['before', 'putVersionsAndRecord'],
    ['halfway', 'putVersionsAndRecord'],
    ['after', 'putVersionsAndRecord'],
    ['before', 'putVersionsAndRecordBy'],
    ['halfway', 'putVersionsAndRecordBy'],
    ['after', 'putVersionsAndRecordBy'],
    ['before', 'putVersionsAndRecordSwapping'],
    ['after', 'putVersionsAndRecordSwapping'],
  ] as const)(
    'the commit record write fails %s landing (%s): outcome unknown until the commit is repeated',
    async (phase, operation) => {
      const shapes = {
        putCommitRecord: 'redo',
        putVersionsAndRecord: 'atomic',
        putVersionsAndRecordBy: 'no intent',
        putVersionsAndRecordSwapping: 'ticket',
      } as const;
      const { inner, storage, node, txid } = await setUp(false, shapes[operation]);
      storage.arm({ operation, phase, effect: 'throw' });
      const error = await node.commit(txid).catch((caught: unknown) => caught);
      expect((error as CommitError).failure).toBe(CommitFailure.OUTCOME_UNKNOWN);
      expect((error as CommitError).code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
      // Not reported aborted: the record may have landed.
      expect(node.status(txid).status).toBe('running');
      expect(() => node.abort(txid)).toThrow(TransactionNotRunningError);
      expect(() => node.write(txid, [{ key: 'k', value: null }])).toThrow(TransactionNotRunningError);
      expect(await visibleState(inner)).toEqual(phase === 'after' ? NEW : OLD);

      const first = await node.commit(txid);
      expect(first.status).toBe('committed');
      expect(await node.commit(txid)).toEqual(first);
      expect(await visibleState(inner)).toEqual(NEW);
      // The records in storage: the seed and this one, once.
      expect((await inner.listCommitRecords(undefined)).map((r) => r.txid)).toHaveLength(2);
      await node.close();
    },
  );

  it('an unresolved commit is finished by the idle reaper, never aborted', async () => {
    const inner = new FileAdapter({ directory: tempDir() });
    const storage = new FaultyAdapter(inner);
    const node = await ShimNode.open({
      storage,
      limits: { transactionTimeoutMs: 100 },
      reaperIntervalMs: 20,
    });
    const txid = node.begin().txid;
    node.write(txid, [{ key: 'k', value: encoder.encode('v') }]);
    storage.arm({ operation: 'putCommitRecord', phase: 'before', effect: 'throw' });
    await expect(node.commit(txid)).rejects.toBeInstanceOf(CommitError);
    // The reaper finds it idle after 100 ms and commits it (a loaded machine may take longer).
    expect(
      await eventually(
        () => node.status(txid).status,
        (status) => status !== 'running',
      ),
    ).toBe('committed');
    expect(await visibleState(inner)).toMatchObject({ k: 'v' });
    await node.close();
  });
});
