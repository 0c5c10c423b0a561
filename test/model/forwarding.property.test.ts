/**
 * Two real nodes (`startShim`, HTTP on loopback) over one storage, under random sequences of
 * requests (fast-check, against the brute-force model in ./brute-force.ts): each request of a
 * transaction goes to either node, so about half are forwarded to the owner; commits reach the
 * other node by push and pull. Every read returns committed data with its value, or the
 * transaction's own writes, and a transaction's reads are repeatable and never fractured
 * (G2–G4, G8). Each run uses keys of its own, so the runs share the two nodes.
 */
import fc from 'fast-check';
import { MemoryAdapter } from '../../adapters/memory.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { RestError, rest, untilAcquainted } from '../cluster/rest.js';
import { anomaliesOf, type ModelCommit, NOTHING, type ObservedRead } from './brute-force.js';
import { propertyRuns } from './seed.js';

type Command =
  | { readonly kind: 'begin'; readonly node: number }
  | { readonly kind: 'read'; readonly txn: number; readonly via: number; readonly keys: readonly string[] }
  | {
      readonly kind: 'write';
      readonly txn: number;
      readonly via: number;
      readonly key: string;
      readonly value: string;
    }
  | { readonly kind: 'commit'; readonly txn: number; readonly via: number };

const keyArb = fc.constantFrom('a', 'b', 'c');
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('begin' as const), node: fc.nat(1) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      txn: fc.nat(5),
      via: fc.nat(1),
      keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      txn: fc.nat(5),
      via: fc.nat(1),
      key: keyArb,
      value: fc.string({ minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('commit' as const), txn: fc.nat(5), via: fc.nat(1) }),
  },
);

interface ModelTxn {
  readonly txid: string;
  readonly owner: number;
  readonly buffer: Map<string, string>;
  readonly reads: ObservedRead[];
}

describe('two nodes over HTTP, each request of a transaction sent to either node', () => {
  let nodes: RunningShim[];
  beforeAll(async () => {
    const storage = new MemoryAdapter();
    nodes = await Promise.all(
      [0, 1].map(() =>
        startShim({
          port: 0,
          adapter: storage,
          gc: false,
          heartbeatMs: 100,
          deadAfterMs: 6000,
          pullIntervalMs: 100,
          env: {},
        }),
      ),
    );
    await Promise.all(nodes.map((node) => node.ready));
    await untilAcquainted(nodes.map((node) => node.url));
  }, 30_000);
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
  });

  it('forwarded or not, never shows a dirty, fractured or non-repeatable read', async () => {
    const totals = { commits: 0, judgedReads: 0, forwarded: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 10, maxLength: 50, size: 'max' }),
        async (commands) => {
          run += 1;
          const scoped = (key: string) => `run${run}/${key}`;
          const committed = new Map<string, ModelCommit>();
          const txns: ModelTxn[] = [];
          const failures: string[] = [];
          const tolerate = (error: unknown) => {
            // Only a request for a transaction that has finished may be refused.
            if (!(error instanceof RestError && error.code === 'TXN_NOT_RUNNING'))
              failures.push(`unexpected ${String(error)}`);
          };
          for (const command of commands) {
            if (command.kind === 'begin') {
              txns.push({
                txid: await rest.begin(nodes[command.node]!.url),
                owner: command.node,
                buffer: new Map(),
                reads: [],
              });
              continue;
            }
            const txn = txns[command.txn % Math.max(1, txns.length)];
            if (!txn) continue;
            const url = nodes[command.via]!.url;
            if (command.via !== txn.owner) totals.forwarded += 1;
            try {
              if (command.kind === 'write') {
                await rest.write(url, txn.txid, [{ key: scoped(command.key), value: command.value }]);
                txn.buffer.set(command.key, command.value);
              } else if (command.kind === 'commit') {
                const snapshot = new Map(txn.buffer);
                const version = await rest.commit(url, txn.txid);
                if (version !== null && !committed.has(version)) {
                  totals.commits += 1;
                  committed.set(version, { versionId: version, writes: snapshot });
                }
              } else {
                const items = await rest.read(url, txn.txid, command.keys.map(scoped));
                items.forEach((item, i) => {
                  const key = command.keys[i]!;
                  totals.judgedReads += 1;
                  if (txn.buffer.has(key)) {
                    if (item.value !== txn.buffer.get(key))
                      failures.push(`read-your-writes broken for ${key}`);
                    txn.reads.push({ key, version: undefined });
                    return;
                  }
                  const version = item.version ?? NOTHING;
                  const commit = committed.get(version);
                  if (version !== NOTHING && !commit) failures.push(`dirty read of ${key}@${version}`);
                  if (commit && (commit.writes.get(key) ?? null) !== item.value)
                    failures.push(`wrong value for ${key}@${version}`);
                  txn.reads.push({ key, version });
                });
              }
            } catch (error) {
              tolerate(error);
            }
          }
          for (const txn of txns) failures.push(...anomaliesOf(txn.reads, committed));
          if (failures.length > 0) throw new Error(failures.join('\n'));
        },
      ),
      propertyRuns(100),
    );
    // Real work, not vacuous (about 105 commits, 716 reads, 907 forwarded requests).
    expect(totals.commits).toBeGreaterThan(80);
    expect(totals.judgedReads).toBeGreaterThan(500);
    expect(totals.forwarded).toBeGreaterThan(600);
  }, 120_000);
});
