/**
 * The set-up the timing tests share: node A reaches storage through a HoldingAdapter (its
 * record writes can be held on the wire), node B reaches the same storage directly. The
 * store writes versions, then the record, or (`atomic`) both in one atomic write.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { type CommitResult, ShimNode } from '../../shim/node.js';
import { DEFAULT_TIMING, type Timing } from '../../shim/timing.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import { withoutAtomicWrites } from '../helpers/plain-writes.js';

/**
 * Short bounds for the injected clock, and storage calls that may take a (real) minute: only
 * the injected clock decides what is late. Every pull settles.
 */
export const TEST_TIMING: Timing = {
  ...DEFAULT_TIMING,
  intentDeadlineMs: 500,
  recordDeadlineMs: 1000,
  storageCallTimeoutMs: 60_000,
  maxClockSkewMs: 100,
  pullIntervalMs: 1e9,
  overlapPullEvery: 1,
};

export interface HeldPair {
  readonly inner: MemoryAdapter;
  readonly holding: HoldingAdapter;
  /** The call that writes A's commit records: alone, or with their versions. */
  readonly recordWrite: RecordWrite;
  readonly a: ShimNode;
  readonly b: ShimNode;
  close(): Promise<void>;
}

export type RecordWrite = 'putCommitRecord' | 'putVersionsAndRecord';

/** Both ways a commit writes its record, for `it.each`. */
export const RECORD_WRITES: readonly (readonly [string, boolean])[] = [
  ['the values in the intent, then the record', false],
  ['versions and record in one atomic write', true],
];

export async function nodesWithHeldStorage(
  now: () => number,
  timing: Timing,
  atomic = false,
): Promise<HeldPair> {
  const inner = new MemoryAdapter();
  const holding = new HoldingAdapter(atomic ? inner : withoutAtomicWrites(inner));
  const a = await ShimNode.open({ storage: holding.adapter, now, timing });
  const b = await ShimNode.open({ storage: inner, now, timing });
  return {
    inner,
    holding,
    recordWrite: atomic ? 'putVersionsAndRecord' : 'putCommitRecord',
    a,
    b,
    close: async () => void (await Promise.all([a.close(), b.close()])),
  };
}

/**
 * Begins a transaction on A writing k=v and commits it with its record write held on the
 * wire. Resolves once the record write is held; `commit` settles when it lands (or fails).
 */
export async function commitWithHeldRecord({
  a,
  holding,
  recordWrite,
}: Pick<HeldPair, 'a' | 'holding' | 'recordWrite'>): Promise<{
  txid: string;
  commit: Promise<CommitResult | unknown>;
}> {
  holding.hold(recordWrite);
  const txid = a.begin().txid;
  a.write(txid, [{ key: 'k', value: new TextEncoder().encode('v') }]);
  const commit = a.commit(txid).catch((error: unknown) => error);
  await holding.waitForHeld();
  return { txid, commit };
}

/** What `node` reads for `key` in a transaction of its own (undefined: nothing). */
export async function valueOn(node: ShimNode, key: string): Promise<string | undefined> {
  const txid = node.begin().txid;
  const [item] = await node.read(txid, [key]);
  node.abort(txid);
  return item?.value === undefined ? undefined : new TextDecoder().decode(item.value);
}
