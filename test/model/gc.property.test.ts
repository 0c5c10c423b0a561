/**
 * Garbage collection never changes what a transaction reads. Random histories of readers,
 * writers on two nodes, pulls, and local and global GC passes, against the brute-force model
 * with no GC at all: every read returns the newest valid version among the commits the node
 * has learned (as if nothing were ever collected), and its value is still in storage (the
 * cache is off, so every read goes there).
 */
import fc from 'fast-check';
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { encodeMember, MEMBERS_NAMESPACE } from '../../shim/membership.js';
import { ShimNode } from '../../shim/node.js';
import { type ModelCommit, NOTHING, newestValidRead } from './brute-force.js';
import { propertyRuns } from './seed.js';

const KEYS = ['a', 'b', 'c'] as const;
const keyArb = fc.constantFrom(...KEYS);
const TIMING = {
  intentDeadlineMs: 5,
  recordDeadlineMs: 5,
  storageCallTimeoutMs: 5,
  outcomeRetentionMs: 20,
  markerRetentionMs: 20,
  maxClockSkewMs: 0,
  overlapPullEvery: 1,
  pullIntervalMs: 1e9,
};

type Command =
  | { readonly kind: 'begin' }
  | { readonly kind: 'read'; readonly reader: number; readonly key: string }
  | { readonly kind: 'end'; readonly reader: number }
  | {
      readonly kind: 'commit';
      readonly onOther: boolean;
      readonly keys: readonly string[];
      /** Which of the keys are written as tombstones (deletes). */
      readonly deletes: readonly boolean[];
    }
  | { readonly kind: 'gc'; readonly advanceMs: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Command>({ kind: 'begin' }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('read' as const), reader: fc.nat(3), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('end' as const), reader: fc.nat(3) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      onOther: fc.boolean(),
      keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }),
      // About one write in four is a delete.
      deletes: fc.array(
        fc.nat(3).map((n) => n === 0),
        { minLength: 3, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('gc' as const), advanceMs: fc.integer({ min: 1, max: 40 }) }),
  },
);

interface Reader {
  readonly txid: string;
  readonly readSet: Map<string, string>;
}

describe('garbage collection against the model', () => {
  it('never changes a read, and never deletes a version a read needs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 5, maxLength: 60 }), async (commands) => {
        let clock = 1_900_000_000_000;
        const now = () => clock;
        const storage = new MemoryAdapter();
        const options = { storage, now, timing: TIMING, localGcIntervalMs: 1e9, limits: { cacheBytes: 0 } };
        const main = await ShimNode.open(options);
        const other = await ShimNode.open(options);
        const all = new Map<string, ModelCommit>();
        const knownToMain = new Map<string, ModelCommit>();
        const pendingForMain: ModelCommit[] = [];
        const values = new Map<string, string>();
        const readers: Reader[] = [];
        let sequence = 0;
        try {
          for (const command of commands) {
            switch (command.kind) {
              case 'begin':
                if (readers.length < 4) readers.push({ txid: main.begin().txid, readSet: new Map() });
                break;
              case 'read': {
                const reader = readers[command.reader % Math.max(1, readers.length)];
                if (!reader) break;
                const expected =
                  reader.readSet.get(command.key) ??
                  newestValidRead(command.key, reader.readSet, knownToMain);
                const [item] = await main.read(reader.txid, [command.key]);
                expect(item?.version ?? NOTHING).toBe(expected);
                const value = item?.value === undefined ? undefined : new TextDecoder().decode(item.value);
                expect(value).toBe(
                  expected === NOTHING ? undefined : values.get(`${expected}/${command.key}`),
                );
                reader.readSet.set(command.key, expected);
                break;
              }
              case 'end': {
                const [reader] = readers.splice(command.reader % Math.max(1, readers.length), 1);
                if (reader) await main.commit(reader.txid);
                break;
              }
              case 'commit': {
                const writer = command.onOther ? other : main;
                const txid = writer.begin().txid;
                sequence += 1;
                const written = command.keys.map((key, i) => ({
                  key,
                  value: command.deletes[i] ? null : `${key}=${sequence}`,
                }));
                writer.write(
                  txid,
                  written.map(({ key, value }) => ({
                    key,
                    value: value === null ? null : new TextEncoder().encode(value),
                  })),
                );
                const version = (await writer.commit(txid)).version!;
                for (const { key, value } of written)
                  if (value !== null) values.set(`${version}/${key}`, value);
                const commit: ModelCommit = {
                  versionId: version,
                  writes: new Map(written.map((w) => [w.key, w.value])),
                };
                all.set(version, commit);
                if (command.onOther) pendingForMain.push(commit);
                else knownToMain.set(version, commit);
                clock += 1;
                break;
              }
              case 'gc': {
                clock += command.advanceMs;
                await main.pull();
                await other.pull();
                for (const commit of pendingForMain.splice(0)) knownToMain.set(commit.versionId, commit);
                for (const node of [main, other]) {
                  await storage.putEntry(
                    MEMBERS_NAMESPACE,
                    node.nodeId,
                    encodeMember({
                      nodeId: node.nodeId,
                      url: '',
                      seq: clock,
                      heartbeatAtMs: clock,
                      lowWaterMs: node.lowWaterMs,
                    }),
                  );
                }
                await collectGarbage({ storage, now, timing: TIMING, deadAfterMs: 1e9 });
                main.collectLocal();
                other.collectLocal();
                break;
              }
            }
          }
        } finally {
          await main.close();
          await other.close();
        }
      }),
      propertyRuns(300),
    );
  }, 120_000);
});
