/**
 * The set-up the timing tests share: node A reaches storage through a HoldingAdapter (its
 * record writes can be held on the wire), node B reaches the same storage directly.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { type CommitResult, ShimNode } from '../../shim/node.js';
import { DEFAULT_TIMING, type Timing } from '../../shim/timing.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';

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
  readonly a: ShimNode;
  readonly b: ShimNode;
  close(): Promise<void>;
}

export async function nodesWithHeldStorage(now: () => number, timing: Timing): Promise<HeldPair> {
  const inner = new MemoryAdapter();
  const holding = new HoldingAdapter(inner);
  const a = await ShimNode.open({ storage: holding.adapter, now, timing });
  const b = await ShimNode.open({ storage: inner, now, timing });
  return { inner, holding, a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

/**
 * Begins a transaction on A writing k=v and commits it with its record write held on the
 * wire. Resolves once the record write is held; `commit` settles when it lands (or fails).
 */
export async function commitWithHeldRecord({
  a,
  holding,
}: Pick<HeldPair, 'a' | 'holding'>): Promise<{ txid: string; commit: Promise<CommitResult | unknown> }> {
  holding.hold('putCommitRecord');
  const txid = a.begin().txid;
  a.write(txid, [{ key: 'k', value: new TextEncoder().encode('v') }]);
  const commit = a.commit(txid).catch((error: unknown) => error);
  await holding.waitForHeld();
  return { txid, commit };
}
