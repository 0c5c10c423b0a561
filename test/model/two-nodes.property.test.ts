/**
 * Two nodes over one storage under random interleavings with failures (fast-check, against
 * the brute-force model in ./brute-force.ts): transactions on either node, commits pushed to
 * the other node when the test delivers them, pulls, storage calls that fail before, halfway
 * through or after they apply, and a node that dies (its storage calls never return again) and
 * is replaced by a fresh one that bootstraps. Checked:
 *  - every read returns committed data with the right value, or the transaction's own writes;
 *    a transaction's reads are repeatable and never fractured (G2–G4, G8);
 *  - every acknowledged commit, and every commit whose record landed although its answer was
 *    lost, is read by a fresh node at the end (G1, G5, G7): nothing is lost, nothing half-there.
 * A commit whose outcome its client never learned counts as committed exactly when its record
 * (not an abort marker) is in storage.
 */
import fc from 'fast-check';
import type { CommitRecord, StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { AftError, ErrorCode } from '../../shim/errors.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';
import { type FaultOperation, type FaultPhase, FaultyAdapter } from '../helpers/faulty-adapter.js';
import { flush } from '../helpers/gated-adapter.js';
import { anomaliesOf, type ModelCommit, NOTHING, type ObservedRead } from './brute-force.js';
import { propertyRuns } from './seed.js';

const KEYS = ['a', 'b', 'c'] as const;
const keyArb = fc.constantFrom(...KEYS);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Command =
  | { readonly kind: 'begin'; readonly node: number }
  | { readonly kind: 'read'; readonly txn: number; readonly keys: readonly string[] }
  | { readonly kind: 'write'; readonly txn: number; readonly key: string; readonly value: string | null }
  | { readonly kind: 'commit'; readonly txn: number }
  | { readonly kind: 'deliver'; readonly node: number }
  | { readonly kind: 'pull'; readonly node: number }
  | { readonly kind: 'fault'; readonly operation: FaultOperation; readonly phase: FaultPhase }
  | { readonly kind: 'die'; readonly node: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('begin' as const), node: fc.nat(1) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      txn: fc.nat(7),
      keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      txn: fc.nat(7),
      key: keyArb,
      value: fc.option(fc.string({ maxLength: 3 }), { freq: 5 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), txn: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deliver' as const), node: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pull' as const), node: fc.nat(1) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fault' as const),
      operation: fc.constantFrom<FaultOperation>(
        'putEntry',
        'putVersions',
        'putCommitRecord',
        'putVersionsAndRecord',
        'putVersionsAndRecordSwapping',
        'getVersion',
      ),
      phase: fc.constantFrom<FaultPhase>('before', 'halfway', 'after'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('die' as const), node: fc.nat(1) }) },
);

/**
 * A node's own door to the shared storage: once the node "dies", every call it makes from then
 * on never returns, as if its process were gone (calls already in flight land or not as they
 * would).
 */
function killable(storage: StorageAdapter): { adapter: StorageAdapter; kill(): void } {
  let dead = false;
  const adapter = new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'close') return async () => undefined;
      return (...args: unknown[]) =>
        dead ? new Promise(() => undefined) : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return {
    adapter,
    kill() {
      dead = true;
    },
  };
}

interface Member {
  node: ShimNode;
  kill(): void;
  /** Records pushed to this node and not yet delivered. */
  readonly inbox: CommitRecord[];
  /** Its requests in flight (a dead node's never settle, and are not waited for). */
  readonly pending: Promise<void>[];
}

interface ModelTxn {
  readonly txid: string;
  readonly member: Member;
  readonly buffer: Map<string, string | null>;
  readonly reads: {
    key: string;
    ownWritten: boolean;
    own: string | null | undefined;
    version: string;
    text: string | null;
  }[];
}

/**
 * What a request may meet here: its transaction finished or lost, storage failing, or its node
 * gone (a dead node, closed here, answers SHUTTING_DOWN where a real one would not answer).
 */
const EXPECTED = new Set<string>([
  ErrorCode.TXN_NOT_RUNNING,
  ErrorCode.TXN_LOST,
  ErrorCode.STORAGE_UNAVAILABLE,
  ErrorCode.SHUTTING_DOWN,
]);

describe('two nodes under random interleavings, pushes, pulls, storage failures and a node dying', () => {
  it('never show a dirty, fractured or non-repeatable read, and lose no commit', async () => {
    const totals = { commits: 0, judgedReads: 0, faults: 0, deaths: 0, ticketsSpent: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 10, maxLength: 70, size: 'max' }),
        // Versions, then the record; or both in one atomic write; or that write spending a
        // commit ticket, with no intent (as on DynamoDB).
        fc.constantFrom('plain', 'atomic', 'tickets'),
        async (commands, shape) => {
          const inner = new MemoryAdapter({ swappingWrites: shape === 'tickets' });
          const spend = inner.putVersionsAndRecordSwapping;
          if (spend) {
            inner.putVersionsAndRecordSwapping = (...args) => {
              totals.ticketsSpent += 1;
              return spend(...args);
            };
          }
          const faulty = new FaultyAdapter(inner, { atomic: shape !== 'plain' });
          const failures: string[] = [];
          const members: Member[] = [];
          const txns: ModelTxn[] = [];
          const acknowledged = new Map<string, ModelCommit>();
          /** txid -> the writes it tried to commit (its outcome may be unknown). */
          const attempted = new Map<string, Map<string, string | null>>();
          /** The commits that asked for each node's first tickets (of a key the model does not read). */
          const warmUps = new Set<string>();
          const tolerate = (error: unknown) => {
            if (!(error instanceof AftError && EXPECTED.has(error.code)))
              failures.push(`unexpected ${String(error)}`);
          };

          const start = async (index: number): Promise<void> => {
            const door = killable(faulty);
            const member: Member = {
              node: undefined as unknown as ShimNode,
              kill: door.kill,
              inbox: [],
              pending: [],
            };
            member.node = await ShimNode.open({
              storage: door.adapter,
              limits: { cacheBytes: 0 },
              timing: { pullIntervalMs: 1e9, overlapPullEvery: 1 },
              // A push goes to the other node's inbox; the test decides when it arrives.
              onCommitted: (record) => members[1 - index]?.inbox.push(record),
            });
            members[index] = member;
            if (shape === 'tickets') {
              // A commit of a key the model does not read asks for the node's first tickets (again,
              // where an armed fault failed it or the tickets' write).
              while (member.node.stats.commitTickets === 0) {
                const warm = member.node.begin().txid;
                warmUps.add(warm);
                member.node.write(warm, [{ key: 'warm-up', value: encoder.encode('') }]);
                await member.node.commit(warm).catch(tolerate);
                await eventually(
                  () => member.node.stats.commitTickets,
                  (count) => count > 0,
                  { timeoutMs: 200 },
                );
              }
            }
          };

          try {
            await start(0);
            await start(1);
            for (const command of commands) {
              switch (command.kind) {
                case 'begin': {
                  const member = members[command.node]!;
                  try {
                    txns.push({ txid: member.node.begin().txid, member, buffer: new Map(), reads: [] });
                  } catch (error) {
                    tolerate(error);
                  }
                  break;
                }
                case 'read': {
                  const txn = txns[command.txn % Math.max(1, txns.length)];
                  if (!txn) break;
                  const expectations = command.keys.map((key) => ({
                    key,
                    ownWritten: txn.buffer.has(key),
                    own: txn.buffer.get(key),
                  }));
                  txn.member.pending.push(
                    txn.member.node.read(txn.txid, command.keys).then((items) => {
                      items.forEach((item, i) => {
                        txn.reads.push({
                          ...expectations[i]!,
                          version: item.version ?? NOTHING,
                          text: item.value === undefined ? null : decoder.decode(item.value),
                        });
                      });
                    }, tolerate),
                  );
                  break;
                }
                case 'write': {
                  const txn = txns[command.txn % Math.max(1, txns.length)];
                  if (!txn) break;
                  try {
                    txn.member.node.write(txn.txid, [
                      {
                        key: command.key,
                        value: command.value === null ? null : encoder.encode(command.value),
                      },
                    ]);
                    txn.buffer.set(command.key, command.value);
                  } catch (error) {
                    tolerate(error);
                  }
                  break;
                }
                case 'commit': {
                  const txn = txns[command.txn % Math.max(1, txns.length)];
                  if (!txn) break;
                  const snapshot = new Map(txn.buffer);
                  if (snapshot.size > 0 && !attempted.has(txn.txid)) attempted.set(txn.txid, snapshot);
                  txn.member.pending.push(
                    txn.member.node.commit(txn.txid).then(({ version }) => {
                      if (version === null) return;
                      totals.commits += 1;
                      acknowledged.set(version, {
                        versionId: version,
                        writes: attempted.get(txn.txid) ?? snapshot,
                      });
                    }, tolerate),
                  );
                  break;
                }
                case 'deliver': {
                  const member = members[command.node]!;
                  member.node.learnPushedCommits(member.inbox.splice(0));
                  break;
                }
                case 'pull':
                  members[command.node]!.pending.push(
                    members[command.node]!.node.pull().then(() => undefined, tolerate),
                  );
                  break;
                case 'fault':
                  faulty.arm({ operation: command.operation, phase: command.phase, effect: 'throw' });
                  break;
                case 'die': {
                  // Its process is gone: nothing it sends from now on reaches storage.
                  const dead = members[command.node]!;
                  dead.kill();
                  totals.deaths += 1;
                  await dead.node.close();
                  await start(command.node);
                  break;
                }
              }
              await flush();
            }
            faulty.disarm();
            // The living nodes' requests all settle (a dead node's never do).
            await Promise.allSettled(members.flatMap((member) => member.pending));
            totals.faults += faulty.fired;

            // Committed: acknowledged, or its record landed though its answer was lost.
            const committed = new Map(acknowledged);
            for (const record of await inner.listCommitRecords(undefined)) {
              if (record.aborted || warmUps.has(record.txid)) continue;
              const writes = attempted.get(record.txid);
              if (!writes) {
                failures.push(`record ${record.versionId} of no transaction that tried to commit`);
                continue;
              }
              committed.set(record.versionId, { versionId: record.versionId, writes });
            }
            for (const version of acknowledged.keys()) {
              if (
                !(await inner.getCommitRecord(version)) ||
                (await inner.getCommitRecord(version))?.aborted
              ) {
                failures.push(`acknowledged commit ${version} has no record`);
              }
            }

            for (const txn of txns) {
              const observed: ObservedRead[] = [];
              for (const read of txn.reads) {
                totals.judgedReads += 1;
                if (read.ownWritten) {
                  if (read.text !== read.own) failures.push(`read-your-writes broken for ${read.key}`);
                  observed.push({ key: read.key, version: undefined });
                  continue;
                }
                const commit = committed.get(read.version);
                if (read.version !== NOTHING && !commit)
                  failures.push(`dirty read of ${read.key}@${read.version}`);
                if (commit && (commit.writes.get(read.key) ?? null) !== read.text) {
                  failures.push(`wrong value for ${read.key}@${read.version}`);
                }
                observed.push({ key: read.key, version: read.version });
              }
              failures.push(...anomaliesOf(observed, committed));
            }

            // A fresh node reads every key at its newest committed version, value and all.
            const fresh = await ShimNode.open({ storage: inner, limits: { cacheBytes: 0 } });
            try {
              for (const key of KEYS) {
                let newest: ModelCommit | undefined;
                for (const commit of committed.values()) {
                  if (commit.writes.has(key) && (!newest || commit.versionId > newest.versionId))
                    newest = commit;
                }
                const txid = fresh.begin().txid;
                const [item] = await fresh.read(txid, [key]);
                if ((item?.version ?? NOTHING) !== (newest?.versionId ?? NOTHING)) {
                  failures.push(
                    `a fresh node reads ${key}@${item?.version || 'nothing'}, newest committed is ${newest?.versionId || 'nothing'}`,
                  );
                } else if (
                  newest &&
                  (newest.writes.get(key) ?? null) !==
                    (item?.value === undefined ? null : decoder.decode(item.value))
                ) {
                  failures.push(`a fresh node reads the wrong value of ${key}`);
                }
              }
            } finally {
              await fresh.close();
            }
          } finally {
            for (const member of members) {
              member.kill();
              await member.node.close();
            }
          }
          if (failures.length > 0) throw new Error(failures.join('\n'));
        },
      ),
      propertyRuns(100),
    );
    // Real work, not vacuous: commits, reads judged, faults fired and nodes that died.
    expect(totals.commits).toBeGreaterThan(60);
    expect(totals.judgedReads).toBeGreaterThan(300);
    expect(totals.faults).toBeGreaterThan(15);
    expect(totals.deaths).toBeGreaterThan(30);
    expect(totals.ticketsSpent).toBeGreaterThan(20);
    // 100 runs take about 45 s here, alone.
  }, 240_000);
});
