/**
 * Commits with no intent (docs/protocol.md, "Commit"): where the engine applies versions and
 * record in one write by a clock of its own (a Redis script reads TIME), storage refuses a
 * record past its deadline, and a look-up that judges a transaction dead refuses its txid.
 * What an intent did elsewhere holds here: a record that lands late never becomes visible
 * after a node claimed to know its time, or after a look-up answered lost. Faults are
 * injected by holding the storage call; time moves through one injected clock that the
 * nodes and the store share, so nothing waits.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { CommitError, CommitFailure } from '../../shim/commit.js';
import { TransactionLostError } from '../../shim/errors.js';
import { parseVersionId } from '../../shim/ids.js';
import { INTENTS_NAMESPACE } from '../../shim/intents.js';
import { REFUSALS_NAMESPACE } from '../../shim/namespaces.js';
import { ShimNode } from '../../shim/node.js';
import { knownLagMs } from '../../shim/timing.js';
import { eventually } from '../helpers/eventually.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import { TEST_TIMING, valueOn } from './held-commit.js';

const encoder = new TextEncoder();
const TIMING = TEST_TIMING;

describe('commits with no intent', () => {
  let clock: number;
  const now = () => clock;
  let inner: MemoryAdapter;
  let holding: HoldingAdapter;
  let a: ShimNode;
  let b: ShimNode;

  beforeEach(async () => {
    clock = 1_800_000_000_000;
    inner = new MemoryAdapter({ clock: now });
    holding = new HoldingAdapter(inner);
    a = await ShimNode.open({ storage: holding.adapter, now, timing: TIMING });
    b = await ShimNode.open({ storage: inner, now, timing: TIMING });
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  /** A's commit of k = v, its one write held on the wire. */
  async function heldCommit(): Promise<{ txid: string; commit: Promise<unknown> }> {
    holding.hold('putVersionsAndRecordBy');
    const txid = a.begin().txid;
    a.write(txid, [{ key: 'k', value: encoder.encode('v') }]);
    const commit = a.commit(txid).catch((error: unknown) => error);
    await holding.waitForHeld();
    return { txid, commit };
  }

  /** A held commit that B judges dead (refusing its txid), then lets land: refused. */
  async function refusedCommit(): Promise<void> {
    const { txid, commit } = await heldCommit();
    await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
    await holding.land('putVersionsAndRecordBy');
    await commit;
  }

  it('a write that reaches storage past its deadline is refused, even after a node claimed its time: aborted, nothing visible', async () => {
    const { txid, commit } = await heldCommit();
    expect(await inner.listEntries(INTENTS_NAMESPACE)).toEqual([]);
    const heldVersion = a.status(txid);
    expect(heldVersion.status).toBe('running');

    // B settles past the commit's version time: it claims to know every commit up to there.
    clock += knownLagMs(TIMING) + 1;
    await b.pull();
    const claimedMs = b.stats.knownThroughMs;
    expect(claimedMs).toBeGreaterThan(clock - knownLagMs(TIMING) - 1);

    // The write lands now: storage's clock is past its deadline, so it writes nothing.
    expect(await holding.land('putVersionsAndRecordBy')).toBe('late');
    const error = await commit;
    expect(error).toBeInstanceOf(CommitError);
    expect((error as CommitError).failure).toBe(CommitFailure.DEADLINE_PASSED);
    expect(a.status(txid).status).toBe('aborted');
    // B's claim stays true: no record lies below it that B does not know.
    const records = await inner.listCommitRecords(undefined);
    const real = records.filter((record) => !record.aborted);
    expect(real).toEqual([]);
    for (const record of records) {
      expect(parseVersionId(record.versionId)!.physicalMs).toBeLessThanOrEqual(claimedMs);
    }
    expect(await valueOn(b, 'k')).toBeUndefined();
    // Its own record id is marked too, as every commit that gives up does.
    expect(
      await eventually(
        () => inner.listCommitRecords(undefined),
        (listed) => listed.length === 1,
      ),
    ).toMatchObject([{ aborted: true }]);
  });

  it('a look-up that judges the owner dead refuses its txid: the write that lands after is refused, and lost means lost', async () => {
    const { txid, commit } = await heldCommit();
    // A is gone (as far as B knows): B answers for the transaction from storage. No record,
    // no intent: lost, so the function runs again.
    await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
    expect((await inner.listEntries(REFUSALS_NAMESPACE)).map((entry) => entry.id)).toEqual([txid]);

    // A's write lands within its deadline, and is refused: the rerun is the only one applied.
    expect(await holding.land('putVersionsAndRecordBy')).toBe('refused');
    const error = await commit;
    expect((error as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
    expect(a.status(txid).status).toBe('aborted');
    expect((await inner.listCommitRecords(undefined)).filter((record) => !record.aborted)).toEqual([]);
    await b.pull();
    expect(await valueOn(b, 'k')).toBeUndefined();
    await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
  });

  it('a look-up after the write landed finds the record: committed, and nothing refused it', async () => {
    const txid = a.begin().txid;
    a.write(txid, [{ key: 'k', value: encoder.encode('v') }]);
    const { version } = await a.commit(txid);
    // B has not learned it (no pull, no push): it answers from storage.
    expect(await b.commit(txid)).toEqual({ txid, status: 'committed', version });
    expect(await inner.listEntries(REFUSALS_NAMESPACE)).toEqual([]);
  });

  it('the collector deletes refusals once the outcome retention has passed', async () => {
    await refusedCommit();
    const young = await collectGarbage({ storage: inner, now, timing: TIMING });
    expect(young.refusalsDeleted).toBe(0);
    clock += TIMING.outcomeRetentionMs + 1;
    const old = await collectGarbage({ storage: inner, now, timing: TIMING });
    expect(old.refusalsDeleted).toBe(1);
    expect(await inner.listEntries(REFUSALS_NAMESPACE)).toEqual([]);
  });

  it("the collector keeps a refusal it cannot read, and its pass goes on (it cannot tell the entry's age)", async () => {
    await refusedCommit();
    await inner.putEntry(REFUSALS_NAMESPACE, 'not-ours', encoder.encode('{ truncated'));
    await inner.putEntry(REFUSALS_NAMESPACE, 'no-time', encoder.encode('{"atMs":"soon"}'));
    clock += TIMING.outcomeRetentionMs + 1;
    const report = await collectGarbage({ storage: inner, now, timing: TIMING });
    expect(report.refusalsDeleted).toBe(1);
    expect((await inner.listEntries(REFUSALS_NAMESPACE)).map((entry) => entry.id)).toEqual([
      'no-time',
      'not-ours',
    ]);
  });
});
