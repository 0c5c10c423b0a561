/**
 * Commits that spend a ticket (docs/protocol.md, "A ticket spent"): where the engine's atomic
 * write can swap an entry but has no clock (DynamoDB), a commit writes no intent; it spends a
 * ticket its node wrote ahead, and lands only while the ticket is ready (not refused). What an intent did elsewhere holds here: a write that lands late never becomes
 * visible after a node claimed to know its time, or after a look-up answered lost, and a
 * ticket is spent only if it was acknowledged in time. Faults are injected by holding storage
 * calls; time moves through one injected clock, so nothing waits.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { CommitError, CommitFailure } from '../../shim/commit.js';
import { TransactionLostError } from '../../shim/errors.js';
import { parseVersionId } from '../../shim/ids.js';
import { INTENTS_NAMESPACE } from '../../shim/intents.js';
import { TICKETS_NAMESPACE } from '../../shim/namespaces.js';
import { ShimNode } from '../../shim/node.js';
import { knownLagMs } from '../../shim/timing.js';
import { eventually } from '../helpers/eventually.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import { ticketsReady } from '../helpers/tickets.js';
import { TEST_TIMING, valueOn } from './held-commit.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TIMING = TEST_TIMING;

describe('commits that spend a ticket', () => {
  let clock: number;
  const now = () => clock;
  let inner: MemoryAdapter;
  let holding: HoldingAdapter;
  let a: ShimNode;
  let b: ShimNode;
  /** Every call A made of the store, by name. */
  let calls: string[];

  beforeEach(async () => {
    clock = 1_800_000_000_000;
    inner = new MemoryAdapter({ swappingWrites: true });
    holding = new HoldingAdapter(inner);
    calls = [];
    const recorded = new Proxy(holding.adapter, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(name));
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    a = await ShimNode.open({ storage: recorded, now, timing: TIMING });
    b = await ShimNode.open({ storage: inner, now, timing: TIMING });
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  /** Every ticket in storage and what it holds (`ready`, `refused`, `spent <version>`). */
  async function tickets(): Promise<Record<string, string>> {
    const entries = await inner.listEntries(TICKETS_NAMESPACE);
    return Object.fromEntries(entries.map(({ id, value }) => [id, decoder.decode(value)]));
  }
  const refused = async () =>
    Object.entries(await tickets())
      .filter(([, state]) => state === 'refused')
      .map(([id]) => id);

  /** A's calls that a commit waits for: not the ticket pool's, which run beside it. */
  const commitCalls = () => calls.filter((call) => call !== 'createEntries' && call !== 'deleteEntries');

  async function commitOnA(key: string, value: string): Promise<{ txid: string; version: string }> {
    const txid = a.begin().txid;
    a.write(txid, [{ key, value: encoder.encode(value) }]);
    const { version } = await a.commit(txid);
    return { txid, version: version! };
  }

  /** A's commit of k = v with a ticket ready, its one write held on the wire. */
  async function heldCommit(): Promise<{ txid: string; commit: Promise<unknown> }> {
    await commitOnA('seed', 'first');
    await ticketsReady(a);
    holding.hold('putVersionsAndRecordSwapping');
    const txid = a.begin().txid;
    a.write(txid, [{ key: 'k', value: encoder.encode('v') }]);
    const commit = a.commit(txid).catch((error: unknown) => error);
    await holding.waitForHeld();
    return { txid, commit };
  }

  it('waits for one storage call once a ticket is ready (the first commit writes an intent and asks for tickets)', async () => {
    calls.length = 0;
    await commitOnA('k', 'first');
    expect(commitCalls().slice(0, 2)).toEqual(['putEntry', 'putVersionsAndRecord']);
    await ticketsReady(a);
    calls.length = 0;
    const { version } = await commitOnA('k', 'second');
    expect(commitCalls()).toEqual(['putVersionsAndRecordSwapping']);
    expect(await inner.listEntries(INTENTS_NAMESPACE)).toEqual([]);
    // Committed and visible from storage.
    await b.pull();
    expect(await valueOn(b, 'k')).toBe('second');
    expect((await inner.getCommitRecord(version))?.writeSet).toEqual(['k']);
  });

  it('a write still on its way when a node settles past its time is refused by its ticket: aborted, nothing visible', async () => {
    const { txid, commit } = await heldCommit();
    // B settles past the commit's version time: it refuses the tickets made by then.
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    const claimedMs = b.stats.knownThroughMs;
    expect(claimedMs).toBeGreaterThan(clock - knownLagMs(TIMING) - 1);
    // Refused, every one (they stay, so a create delivered late cannot make one ready again).
    expect(Object.values(await tickets()).every((state) => state === 'refused')).toBe(true);

    // The write lands now: its ticket is refused, so it writes nothing.
    expect(await holding.land('putVersionsAndRecordSwapping')).toBe('refused');
    const error = await commit;
    expect(error).toBeInstanceOf(CommitError);
    expect((error as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
    expect(a.status(txid).status).toBe('aborted');
    // B's claim stays true: no record lies below it that B does not know.
    const records = await inner.listCommitRecords(undefined);
    for (const record of records) {
      if (!record.aborted) expect(b.status(record.txid).status).toBe('committed');
      expect(parseVersionId(record.versionId)!.physicalMs).toBeLessThanOrEqual(claimedMs);
    }
    expect(records.filter((record) => record.txid === txid && !record.aborted)).toEqual([]);
    expect(await valueOn(b, 'k')).toBeUndefined();
  });

  it('a node that starts after the lag refuses the tickets a known lag old before it claims: the late write is refused', async () => {
    const { commit } = await heldCommit();
    clock += knownLagMs(TIMING) + 1;
    const c = await ShimNode.open({ storage: inner, now, timing: TIMING });
    try {
      expect(c.stats.knownThroughMs).toBeGreaterThan(clock - knownLagMs(TIMING) - 1);
      expect(await holding.land('putVersionsAndRecordSwapping')).toBe('refused');
      expect(((await commit) as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
      await c.pull();
      expect(await valueOn(c, 'k')).toBeUndefined();
    } finally {
      await c.close();
    }
  });

  it('a settling pull before the lag refuses nothing: the write lands and is learned', async () => {
    const { txid, commit } = await heldCommit();
    clock += knownLagMs(TIMING) - 1;
    await b.pull();
    expect(await refused()).toEqual([]);
    expect(await holding.land('putVersionsAndRecordSwapping')).toBe('created');
    expect(await commit).toMatchObject({ status: 'committed' });
    await b.pull();
    expect(b.status(txid).status).toBe('committed');
    expect(await valueOn(b, 'k')).toBe('v');
  });

  it("a look-up that judges the owner dead refuses the owner's tickets: the write that lands after is refused, and lost means lost", async () => {
    const { txid, commit } = await heldCommit();
    const before = await tickets();
    await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
    // Every ticket of A's that was ready is refused (the one the held write spends among them).
    const after = await tickets();
    for (const [id, state] of Object.entries(before)) {
      if (state === 'ready') expect(after[id]).toBe('refused');
    }
    expect(await holding.land('putVersionsAndRecordSwapping')).toBe('refused');
    expect(((await commit) as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
    await b.pull();
    expect(await valueOn(b, 'k')).toBeUndefined();
    await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
  });

  it.each([
    ['did not land', false],
    ['landed', true],
  ] as const)(
    'a repeat past the deadline of a write whose reply was lost (it %s) refuses its own ticket and answers what stands',
    async (_, landed) => {
      // A node whose storage calls give up after 50 ms (real time): the held write times out.
      const hasty = await ShimNode.open({
        storage: holding.adapter,
        now,
        timing: { ...TIMING, storageCallTimeoutMs: 50 },
      });
      try {
        const seed = hasty.begin().txid;
        hasty.write(seed, [{ key: 'seed', value: encoder.encode('first') }]);
        await hasty.commit(seed);
        await ticketsReady(hasty);
        holding.hold('putVersionsAndRecordSwapping');
        const txid = hasty.begin().txid;
        hasty.write(txid, [{ key: 'k', value: encoder.encode('v') }]);
        const first = await hasty.commit(txid).catch((error: unknown) => error);
        // The write is still on the wire, its outcome unknown.
        expect((first as CommitError).failure).toBe(CommitFailure.OUTCOME_UNKNOWN);
        holding.stopHolding();
        if (landed) expect(await holding.land('putVersionsAndRecordSwapping')).toBe('created');
        // Past the intent deadline this node may not send it again.
        clock += TIMING.intentDeadlineMs + 1;
        const repeat = await hasty.commit(txid).catch((error: unknown) => error);
        if (landed) {
          expect(repeat).toMatchObject({ status: 'committed' });
          await b.pull();
          expect(await valueOn(b, 'k')).toBe('v');
        } else {
          expect((repeat as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
          expect(hasty.status(txid).status).toBe('aborted');
          // The write still on the wire can never land now: its ticket is refused, and its record
          // id holds an abort marker (checked first).
          expect(await refused()).toHaveLength(1);
          expect(await holding.land('putVersionsAndRecordSwapping')).toBe('taken');
          expect((await inner.listCommitRecords(undefined)).filter((record) => record.txid === txid)).toEqual(
            [expect.objectContaining({ aborted: true })],
          );
          await b.pull();
          expect(await valueOn(b, 'k')).toBeUndefined();
        }
      } finally {
        await hasty.close();
      }
    },
  );

  it('a ticket acknowledged past the intent deadline is never spent: the commit writes an intent', async () => {
    holding.hold('createEntries');
    await commitOnA('seed', 'first');
    await holding.waitForHeld();
    clock += TIMING.intentDeadlineMs + 1;
    holding.stopHolding();
    await holding.land('createEntries');
    // Too late: deleted, not handed out.
    expect(
      await eventually(
        () => inner.listEntries(TICKETS_NAMESPACE),
        (tickets) => tickets.length === 0,
      ),
    ).toEqual([]);
    expect(a.stats.commitTickets).toBe(0);
    calls.length = 0;
    await commitOnA('k', 'second');
    expect(commitCalls().slice(0, 2)).toEqual(['putEntry', 'putVersionsAndRecord']);
  });

  it('a node deletes the tickets it did not hand out once they are too old to spend, and all it holds when it closes', async () => {
    await commitOnA('seed', 'first');
    await ticketsReady(a);
    const made = (await inner.listEntries(TICKETS_NAMESPACE)).length;
    expect(made).toBeGreaterThan(0);
    clock += TIMING.intentDeadlineMs / 2 + 1;
    // Dropped when next asked (and by a timer, on an idle node).
    calls.length = 0;
    await commitOnA('k', 'second');
    expect(commitCalls()[0]).toBe('putEntry');
    const fresh = await eventually(
      () => inner.listEntries(TICKETS_NAMESPACE),
      (tickets) => tickets.every(({ id }) => parseVersionId(id)!.physicalMs === clock),
    );
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every(({ id }) => parseVersionId(id)!.physicalMs === clock)).toBe(true);
    await ticketsReady(a);
    await a.close();
    expect(
      await eventually(
        () => inner.listEntries(TICKETS_NAMESPACE),
        (tickets) => tickets.length === 0,
      ),
    ).toEqual([]);
    // Nothing was refused: a settling pull had nothing left to refuse.
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    expect(await tickets()).toEqual({});
  });

  it('a dead node’s tickets are refused by the next settling pull past their time', async () => {
    await commitOnA('seed', 'first');
    await ticketsReady(a);
    const left = (await inner.listEntries(TICKETS_NAMESPACE)).map((entry) => entry.id);
    // A dies holding them (its close never runs); B settles once they are old enough.
    holding.hold('deleteEntries');
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    expect((await refused()).sort()).toEqual(left.sort());
    holding.stopHolding();
    while (holding.heldCount > 0) await holding.land('deleteEntries');
  });

  it('the collector keeps refused tickets as long as abort markers, not the outcome retention: no clock refuses a late write here', async () => {
    const { commit } = await heldCommit();
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    await holding.land('putVersionsAndRecordSwapping');
    await commit;
    const refusedCount = (await refused()).length;
    expect(refusedCount).toBeGreaterThan(0);
    clock += TIMING.outcomeRetentionMs + 1;
    expect((await collectGarbage({ storage: inner, now, timing: TIMING })).refusalsDeleted).toBe(0);
    clock += TIMING.markerRetentionMs;
    expect((await collectGarbage({ storage: inner, now, timing: TIMING })).refusalsDeleted).toBe(
      refusedCount,
    );
    expect(await refused()).toEqual([]);
  });

  it('a node deletes the tickets it spent soon after, a batch at a time', async () => {
    await commitOnA('seed', 'first');
    await ticketsReady(a);
    const { version } = await commitOnA('k', 'second');
    expect(Object.values(await tickets())).toContain(`spent ${version}`);
    // Within half the intent deadline (real time: the pool's timer), with no other commit.
    expect(
      await eventually(
        async () => Object.values(await tickets()).filter((state) => state.startsWith('spent')),
        (spent) => spent.length === 0,
      ),
    ).toEqual([]);
  });

  it('a spent ticket is deleted by a settling pull where its node died first', async () => {
    await commitOnA('seed', 'first');
    await ticketsReady(a);
    holding.hold('deleteEntries');
    const { version } = await commitOnA('k', 'second');
    expect(Object.values(await tickets())).toContain(`spent ${version}`);
    // A dies before its batch of spent tickets is deleted; B settles past their time.
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    expect(Object.values(await tickets()).filter((state) => state.startsWith('spent'))).toEqual([]);
    holding.stopHolding();
    while (holding.heldCount > 0) await holding.land('deleteEntries');
  });
});
