/**
 * Serializable transactions under random interleavings (fast-check), checked by brute force:
 * transactions on two nodes read and write two keys in any order, nodes pull (or not), a
 * commit's record write may hang past its deadline (a committer that died there, later
 * repeated by its node's reaper or marked aborted by whoever takes its claims over), and time
 * passes past the orphan bound. Checked (G18): some serial order of the committed transactions
 * explains every read each of them made and the final value of every key. A commit whose
 * outcome its client never learned is tried both ways, committed or not.
 */
import fc from 'fast-check';
import { MemoryAdapter } from '../../adapters/memory.js';
import { ShimNode } from '../../shim/node.js';
import { Isolation } from '../../wire/api.js';
import { ConflictError } from '../../wire/errors.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { SHORT_TIMING } from '../helpers/short-timing.js';
import { propertyRuns } from './seed.js';

const KEYS = ['a', 'b'] as const;
const MAX_TXNS = 5;
const TIMING = SHORT_TIMING;

type Command =
  | { readonly kind: 'begin'; readonly node: number }
  | { readonly kind: 'read'; readonly txn: number; readonly key: string }
  | { readonly kind: 'write'; readonly txn: number; readonly key: string }
  /** A read of the key, then a write of it: the read-modify-write serializable is for. */
  | { readonly kind: 'readModifyWrite'; readonly txn: number; readonly key: string }
  | { readonly kind: 'commit'; readonly txn: number }
  | { readonly kind: 'pull'; readonly node: number }
  /** The next record write never returns: its committer died there. */
  | { readonly kind: 'hangNextRecord' }
  | { readonly kind: 'wait'; readonly ms: number };

const keyArb = fc.constantFrom(...KEYS);
const txnArb = fc.nat(MAX_TXNS - 1);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('begin' as const), node: fc.nat(1) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('read' as const), txn: txnArb, key: keyArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), txn: txnArb, key: keyArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('readModifyWrite' as const), txn: txnArb, key: keyArb }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('commit' as const), txn: txnArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pull' as const), node: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hangNextRecord' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.constantFrom(0, 50, 300) }),
  },
);

interface Txn {
  readonly index: number;
  readonly txid: string;
  readonly node: ShimNode;
  /** Reads of keys it had not written itself: what it saw (undefined: nothing). */
  readonly reads: Map<string, string | undefined>;
  readonly writes: Set<string>;
  outcome: 'running' | 'committed' | 'aborted' | 'unknown';
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/** Whether `order` explains every read and the final values. */
function explains(order: readonly Txn[], final: ReadonlyMap<string, string | undefined>): boolean {
  const state = new Map<string, string | undefined>();
  for (const txn of order) {
    for (const [key, seen] of txn.reads) if (state.get(key) !== seen) return false;
    for (const key of txn.writes) state.set(key, `t${txn.index}`);
  }
  return KEYS.every((key) => state.get(key) === final.get(key));
}

function serializable(txns: readonly Txn[], final: ReadonlyMap<string, string | undefined>): boolean {
  const committed = txns.filter((txn) => txn.outcome === 'committed');
  const unknown = txns.filter((txn) => txn.outcome === 'unknown');
  for (let mask = 0; mask < 1 << unknown.length; mask += 1) {
    const chosen = [...committed, ...unknown.filter((_, i) => mask & (1 << i))];
    if (permutations(chosen).some((order) => explains(order, final))) return true;
  }
  return false;
}

async function read(txn: Txn, key: string): Promise<void> {
  const [item] = await txn.node.read(txn.txid, [key]);
  if (!txn.writes.has(key) && !txn.reads.has(key)) {
    txn.reads.set(key, item?.value === undefined ? undefined : decoder.decode(item.value));
  }
}

function write(txn: Txn, key: string): void {
  txn.node.write(txn.txid, [{ key, value: encoder.encode(`t${txn.index}`) }]);
  txn.writes.add(key);
}

/**
 * A record write that hangs is a committer that died there: its commit never answers, and
 * its claims stay until someone decides it.
 */
async function commit(txn: Txn): Promise<void> {
  txn.outcome = await Promise.race([
    txn.node.commit(txn.txid).then(
      () => 'committed' as const,
      (error: unknown) => (error instanceof ConflictError ? ('aborted' as const) : ('unknown' as const)),
    ),
    new Promise<'unknown'>((resolve) => setTimeout(() => resolve('unknown'), 500)),
  ]);
}

/** One run, failing (not hanging) when a step never finishes. */
async function runBounded(commands: readonly Command[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const step = { at: -1 };
  try {
    await Promise.race([
      run(commands, step),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`step ${step.at} (${JSON.stringify(commands[step.at])}) hung`)),
          10_000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function run(commands: readonly Command[], step: { at: number }): Promise<void> {
  const storage = new FaultyAdapter(new MemoryAdapter());
  const nodes = [0, 1].map(
    () => new ShimNode({ storage, timing: TIMING, reaperIntervalMs: 50, localGcIntervalMs: 3_600_000 }),
  );
  await Promise.all(nodes.map((node) => node.start()));
  const txns: Txn[] = [];
  try {
    for (const [at, command] of commands.entries()) {
      step.at = at;
      // A command names one of the transactions begun so far.
      const txn = 'txn' in command && txns.length > 0 ? txns[command.txn % txns.length] : undefined;
      switch (command.kind) {
        case 'begin': {
          if (txns.length >= MAX_TXNS) break;
          const node = nodes[command.node]!;
          const { txid } = node.begin({ isolation: Isolation.SERIALIZABLE });
          txns.push({
            index: txns.length,
            txid,
            node,
            reads: new Map(),
            writes: new Set(),
            outcome: 'running',
          });
          break;
        }
        case 'read':
          if (txn?.outcome === 'running') await read(txn, command.key);
          break;
        case 'write':
          if (txn?.outcome === 'running') write(txn, command.key);
          break;
        case 'readModifyWrite':
          if (txn?.outcome === 'running') {
            await read(txn, command.key);
            write(txn, command.key);
          }
          break;
        case 'commit':
          if (txn?.outcome === 'running') await commit(txn);
          break;
        case 'pull':
          await nodes[command.node]!.pull().catch(() => undefined);
          break;
        case 'hangNextRecord':
          storage.arm({ operation: 'putVersionsAndRecord', phase: 'before', effect: 'crash' });
          break;
        case 'wait':
          await new Promise((resolve) => setTimeout(resolve, command.ms));
          break;
      }
    }
    // Every transaction still running commits, the newest first.
    for (const txn of [...txns].reverse()) if (txn.outcome === 'running') await commit(txn);
    storage.disarm();
    // Past the orphan bound and a few reaper rounds: every commit is decided in storage.
    if (txns.some((txn) => txn.outcome === 'unknown'))
      await new Promise((resolve) => setTimeout(resolve, 600));
    const fresh = new ShimNode({ storage: storage.inner, timing: TIMING });
    await fresh.start();
    try {
      const { txid } = fresh.begin();
      const items = await fresh.read(txid, [...KEYS]);
      const final = new Map(
        items.map((item) => [item.key, item.value === undefined ? undefined : decoder.decode(item.value)]),
      );
      if (!serializable(txns, final)) {
        throw new Error(
          `no serial order explains the history: ${JSON.stringify(
            txns.map((t) => ({ t: t.index, outcome: t.outcome, reads: [...t.reads], writes: [...t.writes] })),
          )}, final ${JSON.stringify([...final])}`,
        );
      }
    } finally {
      await fresh.close();
    }
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
  }
}

describe('serializable transactions against the brute-force check', () => {
  it('every history of committed serializable transactions has a serial order that explains it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 20, maxLength: 40 }), (commands) =>
        runBounded(commands),
      ),
      propertyRuns(40),
    );
  }, 120_000);
});
