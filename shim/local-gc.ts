/**
 * Local garbage collection (protocol.md §8): which committed transactions a node may drop
 * from its metadata.
 *
 * A transaction T that began when the node's metadata held version v of key k never reads
 * k at a version older than v (docs/protocol.md proves it by induction over T's reads: v
 * stays valid for T, and the read rule picks the newest valid version). So a version u of
 * k is unneeded by every running transaction once a newer version of k was learned before
 * the oldest of them began; a transaction is dropped once that holds for every key it wrote.
 */
import type { VersionCache } from './cache.js';
import type { Metadata } from './metadata.js';
import type { NodeLogger } from './telemetry.js';
import { type Transaction, TransactionStatus } from './transaction.js';

/**
 * Version ids of the transactions whose every written key has a newer version learned at
 * or before `horizonSeq` (a value of `Metadata.learnedSeq`) whose record storage has shown
 * to exist (`CommittedTransaction.listed`): a pushed record is not taken on trust here, or a
 * forged one could make the node drop the committed version it claims to supersede.
 */
export function supersededBefore(metadata: Metadata, horizonSeq: number): string[] {
  const unneededKeys = new Map<string, number>();
  for (const key of metadata.keysWithSeveralVersions()) {
    const versions = metadata.versionsOf(key);
    let newerKnown = false;
    for (let index = versions.length - 1; index >= 0; index -= 1) {
      const versionId = versions[index]!;
      if (newerKnown) unneededKeys.set(versionId, (unneededKeys.get(versionId) ?? 0) + 1);
      if (metadata.supersedesAt(versionId, horizonSeq)) newerKnown = true;
    }
  }
  const removable: string[] = [];
  for (const [versionId, count] of unneededKeys) {
    if (count === metadata.writeSetOf(versionId)?.size) removable.push(versionId);
  }
  return removable;
}

export interface LocalGcContext {
  readonly metadata: Metadata;
  readonly cache: VersionCache;
  /** The node's running transactions, oldest or not. */
  readonly running: Iterable<Transaction>;
  /** Where dropped version ids are remembered, so a pull does not learn them again. */
  readonly collected: { add(versionId: string): unknown };
  /** Past this many superseded transactions held for running ones, the oldest are aborted. */
  readonly maxHeldTransactions: number;
  /** Aborts a running transaction as lost (nothing of it is visible). */
  readonly abortHolder: (txn: Transaction, reason: string) => void;
  readonly logger: NodeLogger;
}

/**
 * Drops from the metadata (and cache) the transactions no running transaction can still read.
 * Running transactions hold them back; past `maxHeldTransactions` superseded transactions held,
 * the oldest running ones are aborted as lost until the rest hold no more (committing ones are
 * left to finish). Returns how many transactions were dropped.
 */
export function collectLocalGarbage(context: LocalGcContext): number {
  const { metadata } = context;
  const running = [...context.running];
  const horizonOf = (transactions: readonly Transaction[]) =>
    transactions.reduce((horizon, txn) => Math.min(horizon, txn.startSeq), metadata.learnedSeq);
  let removable = supersededBefore(metadata, horizonOf(running));
  if (horizonOf(running) < metadata.learnedSeq) {
    const everySuperseded = supersededBefore(metadata, metadata.learnedSeq).length;
    let held = everySuperseded - removable.length;
    if (held > context.maxHeldTransactions) {
      const oldestFirst = running.sort((a, b) => a.startSeq - b.startSeq);
      const staying = new Set(oldestFirst);
      for (const txn of oldestFirst) {
        if (held <= context.maxHeldTransactions) break;
        if (txn.status !== TransactionStatus.RUNNING) continue;
        context.abortHolder(
          txn,
          `it held back local garbage collection past --max-held-txns (${context.maxHeldTransactions} superseded transactions)`,
        );
        staying.delete(txn);
        removable = supersededBefore(metadata, horizonOf([...staying]));
        held = everySuperseded - removable.length;
      }
      context.logger.warn(
        { held, maxHeldTransactions: context.maxHeldTransactions },
        'aborted the oldest running transactions: they held back local garbage collection',
      );
    }
  }
  for (const versionId of removable) {
    const committed = metadata.get(versionId);
    if (!committed) continue;
    for (const key of committed.writeSet) context.cache.delete(key, versionId);
    metadata.remove(versionId);
    context.collected.add(versionId);
  }
  return removable.length;
}
