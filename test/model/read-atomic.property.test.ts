/**
 * Property-based tests of the protocol against the brute-force model (./brute-force.ts).
 *
 * 1. The read rule alone: over random commit histories learned in random order, it chooses
 *    exactly the newest valid version the model finds by enumeration.
 * 2. A whole node: random interleavings of concurrent transactions (begin, reads, batch reads,
 *    writes, deletes, commits, aborts), with every storage call completing in an order
 *    fast-check picks. Every read is checked against the model: no dirty read,
 *    read-your-writes, the newest valid version; and each transaction's reads together show
 *    no fractured or non-repeatable read.
 */
import fc from 'fast-check';
import { AftError, ErrorCode } from '../../shim/errors.js';
import { formatVersionId } from '../../shim/ids.js';
import { Metadata } from '../../shim/metadata.js';
import { ShimNode } from '../../shim/node.js';
import { chooseVersion, NOTHING_READ } from '../../shim/read-atomic.js';
import { flush, GatedAdapter } from '../helpers/gated-adapter.js';
import { anomaliesOf, type ModelCommit, NOTHING, newestValidRead, type ObservedRead } from './brute-force.js';
import { propertyRuns } from './seed.js';

const KEYS = ['a', 'b', 'c', 'd', 'e'] as const;
const keyArb = fc.constantFrom(...KEYS);
const decoder = new TextDecoder();

describe('read rule against the brute-force model', () => {
  it('chooses the newest valid version, and reads stay atomic and repeatable', () => {
    const historyArb = fc
      .array(
        // Each commit writes some keys, some of them as tombstones (deletes).
        fc.uniqueArray(fc.record({ key: keyArb, deleted: fc.boolean() }), {
          minLength: 1,
          maxLength: 4,
          selector: (write) => write.key,
        }),
        { minLength: 1, maxLength: 12 },
      )
      .chain((writeSets) =>
        fc.record({
          writeSets: fc.constant(writeSets),
          // Commits become known in any order (concurrent commits finish out of order).
          learnOrder: fc.shuffledSubarray(
            writeSets.map((_, i) => i),
            { minLength: writeSets.length, maxLength: writeSets.length },
          ),
          events: fc.array(fc.oneof(fc.record({ learn: fc.constant(true) }), fc.record({ read: keyArb })), {
            maxLength: 40,
          }),
        }),
      );

    fc.assert(
      fc.property(historyArb, ({ writeSets, learnOrder, events }) => {
        const all = writeSets.map(
          (keys, i): ModelCommit => ({
            versionId: formatVersionId({ physicalMs: 1000 + i, logical: 0 }, `t${i}`),
            writes: new Map(keys.map(({ key, deleted }) => [key, deleted ? null : `v${i}`])),
          }),
        );
        const metadata = new Metadata();
        const known = new Map<string, ModelCommit>();
        const readSet = new Map<string, string>();
        const reads: ObservedRead[] = [];
        let learned = 0;
        for (const event of events) {
          if ('learn' in event) {
            const next = learnOrder[learned++];
            if (next === undefined) continue;
            const commit = all[next]!;
            known.set(commit.versionId, commit);
            metadata.add({
              versionId: commit.versionId,
              txid: `t${next}`,
              writeSet: [...commit.writes.keys()],
              deleted: [...commit.writes].filter(([, value]) => value === null).map(([key]) => key),
            });
            continue;
          }
          const key = event.read;
          const expected = readSet.has(key) ? readSet.get(key)! : newestValidRead(key, readSet, known);
          const actual = chooseVersion(key, readSet, metadata) ?? NOTHING_READ;
          if (actual !== expected) {
            throw new Error(
              `read of ${key}: rule chose ${actual || 'nothing'}, model ${expected || 'nothing'}`,
            );
          }
          // A tombstone read is a read of that version with no value.
          const tombstone = actual !== NOTHING_READ && known.get(actual)?.writes.get(key) === null;
          if (actual !== NOTHING_READ && metadata.isTombstone(key, actual) !== tombstone) {
            throw new Error(
              `read of ${key}@${actual}: tombstone ${!tombstone} in the metadata, ${tombstone} in the model`,
            );
          }
          readSet.set(key, actual);
          reads.push({ key, version: actual });
        }
        const anomalies = anomaliesOf(reads, known);
        if (anomalies.length > 0) throw new Error(anomalies.join('; '));
      }),
      propertyRuns(2000),
    );
  });

  it('NOTHING_READ and the model agree on what "nothing" is', () => {
    expect(NOTHING_READ).toBe(NOTHING);
  });
});

type Command =
  | { kind: 'begin' }
  | { kind: 'read'; txn: number; keys: string[] }
  | { kind: 'write'; txn: number; key: string; value: string | null }
  | { kind: 'commit'; txn: number }
  | { kind: 'abort'; txn: number }
  | { kind: 'release'; gate: number };

// Few keys, so transactions overlap often.
const nodeKeyArb = fc.constantFrom('a', 'b', 'c');

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Command>({ kind: 'begin' }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      txn: fc.nat(5),
      keys: fc.uniqueArray(nodeKeyArb, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      txn: fc.nat(5),
      key: nodeKeyArb,
      value: fc.option(fc.string({ maxLength: 3 }), { freq: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), txn: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), txn: fc.nat(5) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('release' as const), gate: fc.nat(20) }) },
);

interface IssuedRead {
  readonly expectations: readonly { key: string; ownWritten: boolean; own: string | null | undefined }[];
  /** The commits acknowledged when the read was issued. */
  readonly knownBefore: ReadonlyMap<string, ModelCommit>;
  /** Set when the read returns; stays undefined if it failed. */
  results: { version: string; text: string | null }[] | undefined;
}

interface ModelTxn {
  readonly txid: string;
  readonly buffer: Map<string, string | null>;
  readonly issued: IssuedRead[];
}

/** Every anomaly in one transaction's reads, replayed in the order they were issued. */
function judgeReads(txn: ModelTxn, committed: ReadonlyMap<string, ModelCommit>): string[] {
  const failures: string[] = [];
  const readSet = new Map<string, string>();
  const reads: ObservedRead[] = [];
  for (const issued of txn.issued) {
    if (!issued.results) continue;
    for (const [i, { version, text }] of issued.results.entries()) {
      const { key, ownWritten, own } = issued.expectations[i]!;
      if (ownWritten) {
        if (text !== own) failures.push(`read-your-writes broken for ${key}`);
        reads.push({ key, version: undefined });
        continue;
      }
      const commit = committed.get(version);
      if (version !== NOTHING && !commit) failures.push(`dirty read of ${key}@${version}`);
      if (commit && (commit.writes.get(key) ?? null) !== text)
        failures.push(`wrong value for ${key}@${version}`);
      const earlier = readSet.get(key);
      if (earlier !== undefined) {
        if (earlier !== version) failures.push(`non-repeatable read of ${key}`);
      } else {
        const expected = newestValidRead(key, readSet, issued.knownBefore);
        // A commit acknowledged after this read was issued may legitimately be chosen.
        if (version !== expected && (version === NOTHING || issued.knownBefore.has(version))) {
          failures.push(
            `read of ${key} chose ${version || 'nothing'}; newest valid is ${expected || 'nothing'}`,
          );
        }
        readSet.set(key, version);
      }
      reads.push({ key, version });
    }
  }
  return [...failures, ...anomaliesOf(reads, committed)];
}

describe('a node under random interleavings of concurrent transactions', () => {
  it('never shows a dirty, fractured, non-repeatable or stale-own read, and reads the newest valid version', async () => {
    const totals = { commits: 0, judgedReads: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 10, maxLength: 80, size: 'max' }),
        async (commands) => {
          const storage = new GatedAdapter();
          // No cache, so reads wait on storage too and interleave with commits.
          const node = await ShimNode.open({ storage, limits: { cacheBytes: 0 } });
          const committed = new Map<string, ModelCommit>();
          const txns: ModelTxn[] = [];
          const inFlight: Promise<void>[] = [];
          const failures: string[] = [];
          // Storage never fails here: the only refusal a command may meet is that its
          // transaction has finished (committed, aborted, or committing). Anything else fails.
          const tolerate = (error: unknown) => {
            if (!(error instanceof AftError && error.code === ErrorCode.TXN_NOT_RUNNING)) {
              failures.push(`unexpected ${String(error)}`);
            }
          };

          try {
            for (const command of commands) {
              if (command.kind === 'begin') {
                const { txid } = node.begin();
                txns.push({ txid, buffer: new Map(), issued: [] });
              } else if (command.kind === 'release') {
                storage.release(command.gate);
              } else {
                const txn = txns[command.txn % Math.max(1, txns.length)];
                if (!txn) continue;
                if (command.kind === 'write') {
                  try {
                    node.write(txn.txid, [
                      {
                        key: command.key,
                        value: command.value === null ? null : new TextEncoder().encode(command.value),
                      },
                    ]);
                    txn.buffer.set(command.key, command.value);
                  } catch (error) {
                    tolerate(error);
                  }
                } else if (command.kind === 'abort') {
                  try {
                    node.abort(txn.txid);
                  } catch (error) {
                    tolerate(error);
                  }
                } else if (command.kind === 'commit') {
                  const snapshot = new Map(txn.buffer);
                  inFlight.push(
                    node.commit(txn.txid).then(({ version }) => {
                      if (version !== null) totals.commits += 1;
                      if (version !== null && !committed.has(version)) {
                        committed.set(version, { versionId: version, writes: snapshot });
                      }
                    }, tolerate),
                  );
                } else {
                  // The node chooses the versions synchronously inside read(), against the reads
                  // this transaction issued before (finished or not), so each read is judged at
                  // the end, in issue order, against the commits acknowledged when it was issued.
                  // (A commit is in the node's metadata a moment before its acknowledgement, so a
                  // read may also see a commit acknowledged later.)
                  const issued: IssuedRead = {
                    expectations: command.keys.map((key) => ({
                      key,
                      ownWritten: txn.buffer.has(key),
                      own: txn.buffer.get(key),
                    })),
                    knownBefore: new Map(committed),
                    results: undefined,
                  };
                  txn.issued.push(issued);
                  inFlight.push(
                    node.read(txn.txid, command.keys).then((results) => {
                      issued.results = results.map((result) => ({
                        version: result.version ?? NOTHING,
                        text: result.value === undefined ? null : decoder.decode(result.value),
                      }));
                    }, tolerate),
                  );
                }
              }
              await flush();
            }
            while (storage.pending > 0) {
              storage.releaseAll();
              await flush();
            }
            await Promise.all(inFlight);
            for (const txn of txns) {
              failures.push(...judgeReads(txn, committed));
              totals.judgedReads += txn.issued.filter((issued) => issued.results !== undefined).length;
            }
          } finally {
            await node.close();
          }
          if (failures.length > 0) throw new Error(failures.join('\n'));
        },
      ),
      propertyRuns(300),
    );
    // The property held over real work, not vacuously: many commits, many reads judged.
    expect(totals.commits).toBeGreaterThan(300);
    expect(totals.judgedReads).toBeGreaterThan(1000);
    // 300 runs take about 10 s alone and three times that on a loaded CI machine.
  }, 120_000);
});
