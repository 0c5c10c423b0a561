/**
 * Local GC looks only at the keys whose versions changed since its last pass, and at those a
 * running transaction held (shim/local-gc.ts). Random histories of commits learned (pushed
 * and unconfirmed, or from storage; new or late), records listed, pushed ones dropped, and
 * transactions begun and ended, against the model: a pass that looks at every key with two
 * or more versions, as local GC did before. After every pass both metadata hold the same
 * transactions, and the same running transactions were aborted for holding too many.
 */
import fc from 'fast-check';
import type { CommitRecord } from '../../adapters/contract.js';
import { VersionCache } from '../../shim/cache.js';
import { collectLocalGarbage } from '../../shim/local-gc.js';
import { Metadata } from '../../shim/metadata.js';
import { silentLogger } from '../../shim/telemetry.js';
import { Transaction, TransactionStatus } from '../../shim/transaction.js';
import { propertyRuns } from './seed.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;

type Command =
  | {
      readonly kind: 'learn';
      readonly keys: readonly string[];
      readonly listed: boolean;
      readonly late: number;
    }
  | { readonly kind: 'list'; readonly pick: number }
  | { readonly kind: 'drop'; readonly pick: number }
  | { readonly kind: 'begin' }
  | { readonly kind: 'end'; readonly pick: number }
  | { readonly kind: 'pass' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('learn' as const),
      keys: fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 2 }),
      // Mostly from storage (listed); sometimes pushed, unconfirmed.
      listed: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      // Mostly the newest commit; sometimes one older than some already known.
      late: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(6) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('list' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant<Command>({ kind: 'begin' }) },
  // Often the oldest (the one that holds the horizon back).
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('end' as const), pick: fc.oneof(fc.constant(0), fc.nat()) }),
  },
  { weight: 4, arbitrary: fc.constant<Command>({ kind: 'pass' }) },
);

/** The model: local GC as a look at every key with two or more versions. */
function fullPass(
  metadata: Metadata,
  keys: ReadonlySet<string>,
  running: Transaction[],
  maxHeld: number,
): string[] {
  const supersededBefore = (horizonSeq: number): string[] => {
    const unneeded = new Map<string, number>();
    for (const key of keys) {
      const versions = metadata.versionsOf(key);
      let newerKnown = false;
      for (let index = versions.length - 1; index >= 0; index -= 1) {
        const versionId = versions[index]!;
        if (newerKnown) unneeded.set(versionId, (unneeded.get(versionId) ?? 0) + 1);
        if (metadata.supersedesAt(versionId, horizonSeq)) newerKnown = true;
      }
    }
    return [...unneeded].filter(([id, count]) => count === metadata.writeSetOf(id)?.size).map(([id]) => id);
  };
  const horizonOf = (transactions: readonly Transaction[]) =>
    transactions.reduce((horizon, txn) => Math.min(horizon, txn.startSeq), metadata.learnedSeq);
  let removable = supersededBefore(horizonOf(running));
  const everySuperseded = supersededBefore(metadata.learnedSeq).length;
  let held = everySuperseded - removable.length;
  const staying = [...running].sort((a, b) => a.startSeq - b.startSeq);
  while (held > maxHeld && staying.length > 0) {
    staying.shift()!.status = TransactionStatus.ABORTED;
    removable = supersededBefore(horizonOf(staying));
    held = everySuperseded - removable.length;
  }
  for (const id of removable) metadata.remove(id);
  return removable;
}

const commitsOf = (metadata: Metadata, ids: readonly string[]) =>
  ids.filter((id) => metadata.get(id) !== undefined).sort();

/** Runs `commands` on both and compares them after every pass. */
function runHistory(commands: readonly Command[], maxHeld: number): void {
  const incremental = new Metadata();
  const model = new Metadata();
  const ids: string[] = [];
  const usedNumbers = new Set<number>();
  let newest = 1000;
  const running: { incremental: Transaction; model: Transaction }[] = [];
  const live = () => running.filter((txn) => txn.incremental.status === TransactionStatus.RUNNING);
  for (const command of commands) {
    switch (command.kind) {
      case 'learn': {
        let number = newest - command.late;
        while (usedNumbers.has(number)) number -= 1;
        usedNumbers.add(number);
        if (command.late === 0) newest += 1;
        const versionId = `v${String(number).padStart(6, '0')}`;
        const record: CommitRecord = { versionId, txid: `t${number}`, writeSet: command.keys, deleted: [] };
        ids.push(versionId);
        incremental.add(record, command.listed);
        model.add(record, command.listed);
        break;
      }
      case 'list':
        if (ids.length === 0) break;
        incremental.markListed(ids[command.pick % ids.length]!);
        model.markListed(ids[command.pick % ids.length]!);
        break;
      case 'drop': {
        // A pushed record storage does not hold: dropped unless storage confirmed it.
        const id = ids.length === 0 ? undefined : ids[command.pick % ids.length]!;
        if (id === undefined || incremental.get(id)?.listed !== false) break;
        incremental.remove(id);
        model.remove(id);
        break;
      }
      case 'begin': {
        const startSeq = incremental.learnedSeq;
        running.push({
          incremental: new Transaction(`r${running.length}`, 0, 60_000, startSeq),
          model: new Transaction(`r${running.length}`, 0, 60_000, startSeq),
        });
        break;
      }
      case 'end': {
        const open = live();
        if (open.length === 0) break;
        const ended = open[command.pick % open.length]!;
        ended.incremental.status = TransactionStatus.COMMITTED;
        ended.model.status = TransactionStatus.COMMITTED;
        break;
      }
      case 'pass': {
        const open = live();
        collectLocalGarbage({
          metadata: incremental,
          cache: new VersionCache(0),
          running: open.map((txn) => txn.incremental),
          collected: { add: () => undefined },
          maxHeldTransactions: maxHeld,
          abortHolder: (txn) => {
            txn.status = TransactionStatus.ABORTED;
          },
          logger: silentLogger,
        });
        fullPass(
          model,
          new Set(KEYS),
          open.map((txn) => txn.model),
          maxHeld,
        );
        expect(commitsOf(incremental, ids)).toEqual(commitsOf(model, ids));
        expect(open.map((txn) => txn.incremental.status)).toEqual(open.map((txn) => txn.model.status));
        break;
      }
    }
  }
}

describe('incremental local GC', () => {
  it('drops exactly what a look at every key drops, and aborts the same holders', () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { minLength: 20, maxLength: 80 }),
        fc.integer({ min: 1, max: 6 }),
        runHistory,
      ),
      propertyRuns(500),
    );
  });

  it('looks again at a key a running transaction held, once it ends', () => {
    runHistory(
      [
        { kind: 'learn', keys: ['a'], listed: true, late: 0 },
        { kind: 'begin' },
        { kind: 'learn', keys: ['a'], listed: true, late: 0 },
        { kind: 'pass' },
        { kind: 'end', pick: 0 },
        { kind: 'pass' },
      ],
      10,
    );
  });
});
