/**
 * Exactly-once commits by idempotency key (shim/idempotency.ts, protocol.md §9): a second
 * transaction with a committed key never commits and gets the first one's result; every
 * crash and failure point of the claim leaves the key either committed once or free again.
 */

import { FileAdapter } from '../../adapters/file.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { type CommitError, CommitFailure } from '../../shim/commit.js';
import {
  BadRequestError,
  DuplicateCommittedError,
  DuplicateInProgressError,
  ErrorCode,
  TooLargeError,
} from '../../shim/errors.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import {
  claimKey,
  decodeClaim,
  IDEMPOTENCY_NAMESPACE,
  type IdempotencyClaim,
  type IdempotencyContext,
} from '../../shim/idempotency.js';
import { formatVersionId } from '../../shim/ids.js';
import { type Replay, ShimNode, type TransactionInfo } from '../../shim/node.js';
import { DEFAULT_TIMING, type Timing } from '../../shim/timing.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const tempDir = tempDirectories();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/**
 * Bounds generous enough for a loaded machine: a claim without a record is settled as dead
 * 10 s after its version time. Tests that wait for that move the nodes' clock instead
 * (`jump`): it runs with real time, plus every jump so far.
 */
const TIMING: Partial<Timing> = {
  intentDeadlineMs: 2500,
  recordDeadlineMs: 5000,
  storageCallTimeoutMs: 4000,
  maxClockSkewMs: 1000,
};
const SETTLED_MS = 10_000;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
const jump = (ms: number) => {
  offsetMs += ms;
};
// Each test starts at real time: no jump leaks into the next.
beforeEach(() => {
  offsetMs = 0;
});

function replayOf(begun: TransactionInfo | Replay): Replay {
  if (!('replayed' in begun)) throw new Error(`expected a replay, got a new transaction ${begun.txid}`);
  return begun;
}

function txidOf(begun: TransactionInfo | Replay): string {
  if ('replayed' in begun) throw new Error(`expected a new transaction, got a replay of ${begun.txid}`);
  return begun.txid;
}

async function openNode(storage: FaultyAdapter | FileAdapter, limits = {}) {
  return ShimNode.open({ storage, timing: TIMING, limits, now });
}

async function visibleValue(node: ShimNode, key: string): Promise<string | undefined> {
  const txid = node.begin().txid;
  const [item] = await node.read(txid, [key]);
  node.abort(txid);
  return item?.value === undefined ? undefined : decoder.decode(item.value);
}

/** Runs "charge the card" as a transaction with an idempotency key: appends to the ledger. */
async function charge(node: ShimNode, key: string, result: string): Promise<string> {
  const txid = txidOf(await node.beginIdempotent(key));
  const [ledger] = await node.read(txid, ['ledger']);
  const before = ledger?.value === undefined ? '' : decoder.decode(ledger.value);
  node.write(txid, [{ key: 'ledger', value: encoder.encode(`${before}${result};`) }]);
  await node.commit(txid, { result: encoder.encode(result) });
  return txid;
}

describe('idempotency keys', () => {
  it('a committed key replays its result and runs nothing again', async () => {
    const node = await openNode(new FileAdapter({ directory: tempDir() }));
    const first = await charge(node, 'request-1', 'paid 10');
    const replay = replayOf(await node.beginIdempotent('request-1'));
    expect(replay.txid).toBe(first);
    expect(decoder.decode(replay.result!)).toBe('paid 10');
    expect(replay.version).toEqual(expect.any(String));
    expect(await visibleValue(node, 'ledger')).toBe('paid 10;');
    // Another key is independent.
    await charge(node, 'request-2', 'paid 20');
    expect(await visibleValue(node, 'ledger')).toBe('paid 10;paid 20;');
    await node.close();
  });

  it('is known to every node over the same storage, and after a restart', async () => {
    const directory = tempDir();
    const writer = await openNode(new FileAdapter({ directory }));
    await charge(writer, 'request-1', 'paid 10');
    await writer.close();
    const other = await openNode(new FileAdapter({ directory }));
    expect(decoder.decode(replayOf(await other.beginIdempotent('request-1')).result!)).toBe('paid 10');
    await other.close();
  });

  it('of two concurrent duplicates one commits; the other is told and writes nothing', async () => {
    const node = await openNode(new FileAdapter({ directory: tempDir() }));
    const winner = txidOf(await node.beginIdempotent('request-1'));
    const loser = txidOf(await node.beginIdempotent('request-1'));
    node.write(winner, [{ key: 'ledger', value: encoder.encode('winner;') }]);
    node.write(loser, [{ key: 'ledger', value: encoder.encode('loser;') }]);
    await node.commit(winner, { result: encoder.encode('W') });
    const error = await node
      .commit(loser, { result: encoder.encode('L') })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DuplicateCommittedError);
    expect((error as DuplicateCommittedError).code).toBe(ErrorCode.DUPLICATE_COMMITTED);
    expect(node.status(loser).status).toBe('aborted');
    expect(await visibleValue(node, 'ledger')).toBe('winner;');
    expect(decoder.decode(replayOf(await node.beginIdempotent('request-1')).result!)).toBe('W');
    await node.close();
  });

  it('many concurrent duplicates on two nodes: exactly one commits', async () => {
    const directory = tempDir();
    const nodes = [
      await openNode(new FileAdapter({ directory })),
      await openNode(new FileAdapter({ directory })),
    ];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, index) => charge(nodes[index % 2]!, 'request-1', `run ${index}`)),
    );
    const committed = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(committed).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect([ErrorCode.DUPLICATE_COMMITTED, ErrorCode.DUPLICATE_IN_PROGRESS]).toContain(
          (outcome.reason as { code: string }).code,
        );
      }
    }
    await nodes[0]!.pull();
    const ledger = await visibleValue(nodes[0]!, 'ledger');
    expect(ledger?.split(';').filter(Boolean)).toHaveLength(1);
    for (const node of nodes) await node.close();
  });

  it('a read-only transaction without a result leaves the key free; with one it is recorded', async () => {
    const storage = new FileAdapter({ directory: tempDir() });
    const node = await openNode(storage);
    const txid = txidOf(await node.beginIdempotent('request-1'));
    expect((await node.commit(txid)).version).toBeNull();
    const recorded = txidOf(await node.beginIdempotent('request-1'));
    const { version } = await node.commit(recorded, { result: encoder.encode('sent an email') });
    expect(version).toEqual(expect.any(String));
    expect(decoder.decode(replayOf(await node.beginIdempotent('request-1')).result!)).toBe('sent an email');
    // Its record writes no key, and GC deletes it once it is old enough (after settling the claim).
    expect(await storage.getCommitRecord(version!)).toMatchObject({ writeSet: [], deleted: [] });
    // Past the outcome retention, when the record of a repeated commit need not stay.
    const later = () => now() + DEFAULT_TIMING.outcomeRetentionMs + 60_000;
    await collectGarbage({ storage, timing: TIMING, deadAfterMs: 100, now: later });
    expect(await storage.getCommitRecord(version!)).toBeUndefined();
    expect(decoder.decode(replayOf(await node.beginIdempotent('request-1')).result!)).toBe('sent an email');
    await node.close();
  });

  it('rejects bad input with typed errors and leaves the transaction running', async () => {
    const node = await openNode(new FileAdapter({ directory: tempDir() }), { maxResultBytes: 4 });
    await expect(node.beginIdempotent('')).rejects.toBeInstanceOf(BadRequestError);
    await expect(node.beginIdempotent('x'.repeat(1025))).rejects.toBeInstanceOf(BadRequestError);
    const plain = node.begin().txid;
    await expect(node.commit(plain, { result: encoder.encode('r') })).rejects.toBeInstanceOf(BadRequestError);
    const keyed = txidOf(await node.beginIdempotent('request-1'));
    node.write(keyed, [{ key: 'k', value: encoder.encode('v') }]);
    await expect(node.commit(keyed, { result: encoder.encode('12345') })).rejects.toBeInstanceOf(
      TooLargeError,
    );
    expect(node.status(keyed).status).toBe('running');
    await node.commit(keyed, { result: encoder.encode('1234') });
    expect(decoder.decode(replayOf(await node.beginIdempotent('request-1')).result!)).toBe('1234');
    await node.close();
  });
});

describe('each crash and failure point of the claim', () => {
  async function setUp() {
    const inner = new FileAdapter({ directory: tempDir() });
    const storage = new FaultyAdapter(inner);
    const node = await openNode(storage);
    const txid = txidOf(await node.beginIdempotent('request-1'));
    node.write(txid, [{ key: 'ledger', value: encoder.encode('first;') }]);
    return { inner, storage, node, txid };
  }

  it('dies before the claim lands: the key is free at once and a retry commits', async () => {
    const { inner, storage, node, txid } = await setUp();
    storage.arm({ operation: 'createEntry', phase: 'before', effect: 'crash' });
    node.commit(txid, { result: encoder.encode('first') }).catch(() => undefined);
    expect(
      await eventually(
        () => storage.fired,
        (fired) => fired > 0,
      ),
    ).toBeGreaterThan(0);
    expect(storage.fired).toBe(1);
    const retry = await openNode(inner);
    await charge(retry, 'request-1', 'retry');
    expect(await visibleValue(retry, 'ledger')).toBe('retry;');
    await retry.close();
    await node.close();
  });

  it('dies after the claim, before the record: duplicates wait until it is settled dead, then one commits', async () => {
    const { inner, storage, node, txid } = await setUp();
    storage.arm({ operation: 'putCommitRecord', phase: 'before', effect: 'crash' });
    node.commit(txid, { result: encoder.encode('first') }).catch(() => undefined);
    expect(
      await eventually(
        () => storage.fired,
        (fired) => fired > 0,
      ),
    ).toBeGreaterThan(0);
    const retry = await openNode(inner);
    const error = await retry.beginIdempotent('request-1').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DuplicateInProgressError);
    expect((error as DuplicateInProgressError).retryable).toBe(true);
    jump(SETTLED_MS + 1);
    await charge(retry, 'request-1', 'retry');
    expect(await visibleValue(retry, 'ledger')).toBe('retry;');
    expect(decoder.decode(replayOf(await retry.beginIdempotent('request-1')).result!)).toBe('retry');
    await retry.close();
    await node.close();
  });

  it('dies after the record, before marking the claim: the record says it committed', async () => {
    const { inner, storage, node, txid } = await setUp();
    storage.arm({ operation: 'putCommitRecord', phase: 'after', effect: 'crash' });
    node.commit(txid, { result: encoder.encode('first') }).catch(() => undefined);
    const landed = async () =>
      (await inner.listCommitRecords(undefined)).some((record) => record.txid === txid);
    expect(await eventually(landed, (found) => found)).toBe(true);
    const retry = await openNode(inner);
    expect(decoder.decode(replayOf(await retry.beginIdempotent('request-1')).result!)).toBe('first');
    expect(await visibleValue(retry, 'ledger')).toBe('first;');
    await retry.close();
    await node.close();
  });

  it.each(['before', 'after'] as const)(
    'the claim write fails %s landing: aborted, retryable, nothing visible',
    async (phase) => {
      const { storage, node, txid } = await setUp();
      storage.arm({ operation: 'createEntry', phase, effect: 'throw' });
      const error = await node.commit(txid).catch((caught: unknown) => caught);
      expect((error as CommitError).failure).toBe(CommitFailure.VERSIONS_FAILED);
      expect((error as CommitError).retryable).toBe(true);
      expect(node.status(txid).status).toBe('aborted');
      expect(await visibleValue(node, 'ledger')).toBeUndefined();
      // A claim that landed blocks the key only until it is settled dead.
      if (phase === 'after') jump(SETTLED_MS + 1);
      await charge(node, 'request-1', 'retry');
      expect(await visibleValue(node, 'ledger')).toBe('retry;');
      await node.close();
    },
  );

  it('a commit past its record deadline leaves a dead claim behind; the next run claims the next generation', async () => {
    const storage = new FileAdapter({ directory: tempDir() });
    const node = await openNode(storage);
    const txid = txidOf(await node.beginIdempotent('request-1'));
    node.write(txid, [{ key: 'ledger', value: encoder.encode('late;') }]);
    // Claiming the key takes longer than the record deadline (and the whole record window).
    const createEntry = storage.createEntry.bind(storage);
    storage.createEntry = async (...args) => {
      const created = await createEntry(...args);
      jump(SETTLED_MS + 1);
      return created;
    };
    const error = await node.commit(txid).catch((caught: unknown) => caught);
    expect((error as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
    storage.createEntry = createEntry;
    await charge(node, 'request-1', 'retry');
    expect(await visibleValue(node, 'ledger')).toBe('retry;');
    // Claims are never deleted early (that could leave a gap between generations).
    const claims = (await storage.listEntries(IDEMPOTENCY_NAMESPACE)).map(
      (entry) => decodeClaim(entry.value)!,
    );
    expect(claims.map((claim) => claim.txid)).toEqual([txid, expect.any(String)]);
    await node.close();
  });
});

describe('claims on both sides of an epoch boundary', () => {
  const TTL = 120_000;
  const boundary = 10_000 * TTL;
  const context = (storage: MemoryAdapter, atMs: number): IdempotencyContext => ({
    storage: GuardedStorage.of(storage),
    timing: { ...DEFAULT_TIMING, ...TIMING },
    now: () => atMs,
    idempotencyTtlMs: TTL,
  });
  const claimAt = (txid: string, versionMs: number): IdempotencyClaim => ({
    key: 'request-1',
    txid,
    versionId: formatVersionId({ physicalMs: versionMs, logical: 0 }, `${txid}-0-00000000`),
    expiresAtMs: versionMs + TTL,
    result: null,
    committed: false,
  });

  it('of two claimants that both looked before either wrote, at most one may commit', async () => {
    // One transaction's version time is just before the boundary, the other's just after: their
    // claims go to different epochs. Both read the key's claims before either writes its own.
    const memory = new MemoryAdapter();
    let arrived = 0;
    let releaseAll: () => void = () => undefined;
    const bothArrived = new Promise<void>((resolve) => {
      releaseAll = resolve;
    });
    const barrier = Object.assign(Object.create(memory) as MemoryAdapter, {
      async createEntry(...args: Parameters<MemoryAdapter['createEntry']>) {
        arrived += 1;
        if (arrived === 2) releaseAll();
        await bothArrived;
        return memory.createEntry(...args);
      },
    });
    const nowMs = boundary + 2000;
    const outcomes = await Promise.allSettled([
      claimKey(claimAt('before', boundary - 1000), context(barrier, nowMs)),
      claimKey(claimAt('after', boundary + 1000), context(barrier, nowMs)),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled').length).toBeLessThanOrEqual(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(DuplicateInProgressError);
    }
    // A claimant that stood back abandoned its claim: it blocks nobody. So a third run at the
    // same moment is blocked only by a winner, if there is one.
    const third = claimKey(claimAt('third', boundary + 1500), context(memory, nowMs));
    if (outcomes.some((outcome) => outcome.status === 'fulfilled')) {
      await expect(third).rejects.toThrow(DuplicateInProgressError);
    } else {
      await expect(third).resolves.toEqual(expect.any(String));
    }
  });

  it('a claim written first in the earlier epoch blocks one in the later epoch, and the other way', async () => {
    const forward = new MemoryAdapter();
    await claimKey(claimAt('before', boundary - 1000), context(forward, boundary + 2000));
    await expect(
      claimKey(claimAt('after', boundary + 1000), context(forward, boundary + 2000)),
    ).rejects.toThrow(DuplicateInProgressError);
    const backward = new MemoryAdapter();
    await claimKey(claimAt('after', boundary + 1000), context(backward, boundary + 2000));
    await expect(
      claimKey(claimAt('before', boundary - 1000), context(backward, boundary + 2000)),
    ).rejects.toThrow(DuplicateInProgressError);
  });
});

describe('garbage collection of claims', () => {
  it('marks settled claims committed before their records may go, and deletes the claims of old epochs', async () => {
    const inner = new FileAdapter({ directory: tempDir() });
    const storage = new FaultyAdapter(inner);
    const node = await openNode(storage, { idempotencyTtlMs: 120_000 });
    // committed (its claim is unmarked below, as if the committer died before marking it)
    const committed = txidOf(await node.beginIdempotent('committed'));
    node.write(committed, [{ key: 'a', value: encoder.encode('1') }]);
    await node.commit(committed, { result: encoder.encode('kept') });
    // dead: its record was never written
    const dead = txidOf(await node.beginIdempotent('dead'));
    node.write(dead, [{ key: 'b', value: encoder.encode('2') }]);
    storage.arm({ operation: 'putCommitRecord', phase: 'before', effect: 'crash' });
    node.commit(dead).catch(() => undefined);
    expect(
      await eventually(
        () => storage.fired,
        (fired) => fired > 0,
      ),
    ).toBeGreaterThan(0);
    jump(SETTLED_MS + 1);

    // Unmark the committed claim, as if its committer died before marking it.
    const entries = await inner.listEntries(IDEMPOTENCY_NAMESPACE);
    for (const entry of entries) {
      const claim = decodeClaim(entry.value)!;
      await inner.putEntry(
        IDEMPOTENCY_NAMESPACE,
        entry.id,
        encoder.encode(JSON.stringify({ ...claim, committed: false })),
      );
    }
    const report = await collectGarbage({ storage: inner, timing: TIMING, deadAfterMs: 100, now });
    expect(report.claimsDeleted).toBe(0);
    const left = (await inner.listEntries(IDEMPOTENCY_NAMESPACE)).map((entry) => decodeClaim(entry.value)!);
    expect(left).toHaveLength(2);
    expect(left).toContainEqual(
      expect.objectContaining({ key: 'committed', committed: true, txid: committed }),
    );
    // The dead one stays (its epoch is live), never marked committed: marked abandoned.
    expect(left).toContainEqual(
      expect.objectContaining({ key: 'dead', committed: false, abandoned: true, txid: dead }),
    );

    // Once the epoch after theirs has ended too, both go.
    const later = await collectGarbage({
      storage: inner,
      timing: TIMING,
      deadAfterMs: 100,
      now: () => now() + 3 * 120_000,
    });
    expect(later.claimsDeleted).toBe(2);
    expect(await inner.listEntries(IDEMPOTENCY_NAMESPACE)).toEqual([]);
    await node.close();
  });
});
