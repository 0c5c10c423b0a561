/**
 * A committed transaction answers committed on every node, for as long as a client may
 * repeat its commit (the outcome retention), from storage when memory forgot it (docs/
 * protocol.md, "Outcomes from storage"). A repeat of a commit that no node remembers must
 * never be told "lost" while its record exists, or `run` runs the function twice.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { type CommitError, CommitFailure } from '../../shim/commit.js';
import { TransactionLostError, TransactionNotFoundError } from '../../shim/errors.js';
import { type CommitResult, ShimNode } from '../../shim/node.js';
import { commitWithHeldRecord, nodesWithHeldStorage, RECORD_WRITES, TEST_TIMING } from './held-commit.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const TIMING = TEST_TIMING;

async function put(node: ShimNode, key: string, value: string): Promise<{ txid: string; version: string }> {
  const txid = node.begin().txid;
  node.write(txid, [{ key, value: bytes(value) }]);
  const { version } = await node.commit(txid);
  return { txid, version: version! };
}

describe('outcomes from storage', () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_800_000_000_000;
  });

  it('a commit every node forgot (superseded and dropped by local GC) still answers committed, on the owner and on others', async () => {
    const storage = new MemoryAdapter();
    // The owner remembers one finished transaction; the other node never ran it.
    const a = await ShimNode.open({ storage, now, timing: TIMING, finishedMemory: 1 });
    const b = await ShimNode.open({ storage, now, timing: TIMING });
    try {
      const first = await put(a, 'k', 'v1');
      await b.pull();
      for (let round = 2; round <= 4; round += 1) {
        clock += 10;
        await put(a, 'k', `v${round}`);
      }
      await b.pull();
      a.collectLocal();
      b.collectLocal();
      // Forgotten in memory everywhere: no finished entry, no metadata.
      expect(a.committedVersionOf(first.txid)).toBeUndefined();
      expect(b.committedVersionOf(first.txid)).toBeUndefined();
      expect(() => b.status(first.txid)).toThrow(TransactionLostError);

      expect(await b.commit(first.txid)).toEqual({
        txid: first.txid,
        status: 'committed',
        version: first.version,
      });
      expect(await b.statusOf(first.txid)).toEqual({ txid: first.txid, status: 'committed' });
      expect(await a.commit(first.txid)).toEqual({
        txid: first.txid,
        status: 'committed',
        version: first.version,
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a node that has not learned a commit yet answers it from storage', async () => {
    const storage = new MemoryAdapter();
    const a = await ShimNode.open({ storage, now, timing: TIMING });
    const b = await ShimNode.open({ storage, now, timing: TIMING });
    try {
      const done = await put(a, 'k', 'v');
      expect(b.committedVersionOf(done.txid)).toBeUndefined();
      expect(await b.statusOf(done.txid)).toEqual({ txid: done.txid, status: 'committed' });
      expect((await b.commit(done.txid)).version).toBe(done.version);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it.each(RECORD_WRITES)(
    "a repeat on another node while the dead owner's record is still on the wire: marked aborted, answered lost, and the record loses (%s)",
    async (_, atomic) => {
      const pair = await nodesWithHeldStorage(now, TIMING, atomic);
      const { holding, recordWrite, a, b } = pair;
      try {
        const { txid, commit } = await commitWithHeldRecord({ a, holding, recordWrite });
        holding.stopHolding();
        // The client repeats through the balancer and reaches B: the owner counts as dead.
        await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
        await expect(b.statusOf(txid)).rejects.toBeInstanceOf(TransactionLostError);
        expect(await holding.land(recordWrite)).toBe(false);
        expect(((await commit) as CommitError).failure).toBe(CommitFailure.JUDGED_DEAD);
        await expect(b.commit(txid)).rejects.toBeInstanceOf(TransactionLostError);
      } finally {
        await pair.close();
      }
    },
  );

  it.each(RECORD_WRITES)(
    'an owner that is live but does not answer: a pending commit stays undecided, a decided one is answered (%s)',
    async (_, atomic) => {
      const pair = await nodesWithHeldStorage(now, TIMING, atomic);
      const { holding, recordWrite, a, b } = pair;
      try {
        const { txid, commit } = await commitWithHeldRecord({ a, holding, recordWrite });
        expect(await b.decidedOutcome(txid)).toBeUndefined();
        holding.stopHolding();
        await holding.land(recordWrite);
        const { version } = (await commit) as CommitResult;
        expect(await b.decidedOutcome(txid)).toEqual({ status: 'committed', version });
      } finally {
        await pair.close();
      }
    },
  );

  it('past the outcome retention a forgotten transaction is unknown, never lost', async () => {
    const storage = new MemoryAdapter();
    const a = await ShimNode.open({ storage, now, timing: TIMING, finishedMemory: 1 });
    try {
      const first = await put(a, 'k', 'v1');
      await put(a, 'k', 'v2');
      clock += TIMING.outcomeRetentionMs;
      await put(a, 'k', 'v3');
      a.collectLocal();
      await expect(a.commit(first.txid)).rejects.toBeInstanceOf(TransactionNotFoundError);
    } finally {
      await a.close();
    }
  });
});
