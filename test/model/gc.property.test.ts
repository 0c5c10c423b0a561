/**
 * Garbage collection never changes what a transaction reads. Random histories of readers,
 * writers on two nodes, pulls, and local and global GC passes, against the brute-force model
 * with no GC at all: every read returns the newest valid version among the commits the node
 * has learned (as if nothing were ever collected), and its value is still in storage (the
 * cache is off, so every read goes there).
 */
import fc from 'fast-check';
import type { CallOptions, StorageAdapter, VersionWrite } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { collectGarbage } from '../../gc/collector.js';
import { CommitIndex } from '../../gc/commit-index.js';
import { encodeMember, MEMBERS_NAMESPACE } from '../../shim/membership.js';
import { ShimNode } from '../../shim/node.js';
import { withoutAtomicWrites } from '../helpers/plain-writes.js';
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
      /**
       * Where the intent holds the values: the write of the versions after the answer fails
       * (as if the node died then), so readers read the intent until the collector writes them.
       */
      readonly versionsFail: boolean;
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
      versionsFail: fc.boolean(),
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

/**
 * The in-process store as an engine without an atomic write (the intent holds the values),
 * whose version writes fail while `failing` says so.
 */
function withFailingVersionWrites(storage: MemoryAdapter, failing: () => boolean): StorageAdapter {
  return withoutAtomicWrites(
    Object.assign(Object.create(storage) as MemoryAdapter, {
      putVersions: (versions: readonly VersionWrite[], options?: CallOptions) =>
        failing()
          ? Promise.reject(new Error('injected: the node died'))
          : storage.putVersions(versions, options),
    }),
  );
}

describe.each([
  ['versions with the record', false, false],
  ['values in the intent, versions after the answer', true, false],
  ['versions with the record, the collector keeping its index between passes', false, true],
  ['values in the intent, the collector keeping its index between passes', true, true],
])('garbage collection against the model (%s)', (_, valuesInIntent, keepsIndex) => {
  it('never changes a read, never deletes a version a read needs, and leaves no version behind', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { minLength: 5, maxLength: 60 }),
        // How often a kept index lists everything again: every pass, now and then, never.
        fc.constantFrom(0, 30, 1e9),
        async (commands, fullListingEveryMs) => {
          const index = keepsIndex ? new CommitIndex({ fullListingEveryMs }) : undefined;
          let clock = 1_900_000_000_000;
          const now = () => clock;
          const inner = new MemoryAdapter();
          let versionsFail = false;
          const storage = valuesInIntent ? withFailingVersionWrites(inner, () => versionsFail) : inner;
          const options = { storage, now, timing: TIMING, localGcIntervalMs: 1e9, limits: { cacheBytes: 0 } };
          const main = await ShimNode.open(options);
          const other = await ShimNode.open(options);
          const all = new Map<string, ModelCommit>();
          const knownToMain = new Map<string, ModelCommit>();
          const pendingForMain: ModelCommit[] = [];
          const values = new Map<string, string>();
          const readers: Reader[] = [];
          let sequence = 0;
          /** Both nodes pull and publish their low-water marks; one collector pass; local GC. */
          const collectRound = async () => {
            await main.pull();
            await other.pull();
            for (const node of [main, other]) {
              await inner.putEntry(
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
            await collectGarbage({
              storage: inner,
              now,
              timing: TIMING,
              deadAfterMs: 1e9,
              ...(index && { index }),
            });
            main.collectLocal();
            other.collectLocal();
          };
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
                  versionsFail = command.versionsFail;
                  const version = (await writer.commit(txid)).version!;
                  versionsFail = false;
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
                  for (const commit of pendingForMain.splice(0)) knownToMain.set(commit.versionId, commit);
                  await collectRound();
                  break;
                }
              }
            }
            // Every reader ends and time passes every bound: what is stored then is the newest
            // version of each key and its record, and no version whose record is gone.
            for (const reader of readers.splice(0)) await main.commit(reader.txid);
            clock += 1000;
            await collectRound();
            await collectRound();
            const records = new Set(
              (await inner.listCommitRecords(undefined)).map((record) => record.versionId),
            );
            for (const { key, versionId } of inner.storedVersions) {
              expect({ key, versionId, recorded: records.has(versionId) }).toEqual({
                key,
                versionId,
                recorded: true,
              });
            }
          } finally {
            await main.close();
            await other.close();
          }
        },
      ),
      propertyRuns(300),
    );
  }, 120_000);
});
