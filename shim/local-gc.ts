/**
 * Local garbage collection (protocol.md §8): which committed transactions a node may drop
 * from its metadata.
 *
 * A transaction T that began when the node's metadata held version v of key k never reads
 * k at a version older than v (docs/protocol.md proves it by induction over T's reads: v
 * stays valid for T, and the read rule picks the newest valid version). So a version u of
 * k is unneeded by every running transaction once a newer version of k was learned before
 * the oldest of them began; a transaction is dropped once that holds for every key it wrote.
 *
 * A pass looks only at the keys whose versions changed since the last one, and at those a
 * running transaction held then (Metadata.takeGcPending): what it finds is what a look at
 * every key would find (test/model/local-gc-incremental.property.test.ts), at the cost of
 * what changed. A transaction one of whose keys was not superseded yet is found again
 * through that key, once it is.
 */
import type { VersionCache } from './cache.js';
import type { Metadata } from './metadata.js';
import type { NodeLogger } from './telemetry.js';
import { type Transaction, TransactionStatus } from './transaction.js';

/**
 * The newest version of `key` that makes its older versions unneeded by transactions that
 * began after `horizonSeq`: learned at or before it, and its record shown by storage to exist
 * (`CommittedTransaction.listed`; a pushed record is not taken on trust here, or a forged one
 * could make the node drop the committed version it claims to supersede).
 */
function newestSuperseding(metadata: Metadata, key: string, horizonSeq: number): string | undefined {
  const versions = metadata.versionsOf(key);
  for (let index = versions.length - 1; index > 0; index -= 1) {
    if (metadata.supersedesAt(versions[index]!, horizonSeq)) return versions[index];
  }
  return undefined;
}

/** Which transactions of a pass are unneeded at a horizon, each key looked at once. */
class SupersededAt {
  /** Per key looked at: its newest superseding version, null when none. */
  private readonly newestByKey = new Map<string, string | null>();

  constructor(
    private readonly metadata: Metadata,
    readonly horizonSeq: number,
  ) {}

  newestOf(key: string): string | undefined {
    let newest = this.newestByKey.get(key);
    if (newest === undefined) {
      newest = newestSuperseding(this.metadata, key, this.horizonSeq) ?? null;
      this.newestByKey.set(key, newest);
    }
    return newest ?? undefined;
  }

  /** Whether every key `versionId` wrote has a newer superseding version. */
  covers(versionId: string): boolean {
    const writeSet = this.metadata.writeSetOf(versionId);
    if (writeSet === undefined) return false;
    for (const key of writeSet) {
      const newest = this.newestOf(key);
      if (newest === undefined || newest <= versionId) return false;
    }
    return true;
  }
}

/**
 * The transactions older than a superseding version of one of `keys`, each once: the only
 * ones a pass over those keys can find unneeded.
 */
function candidatesOf(keys: Iterable<string>, everything: SupersededAt, metadata: Metadata): string[] {
  const candidates = new Set<string>();
  for (const key of keys) {
    const newest = everything.newestOf(key);
    if (newest === undefined) continue;
    for (const versionId of metadata.versionsOf(key)) {
      if (versionId >= newest) break;
      candidates.add(versionId);
    }
  }
  return [...candidates];
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
  const keys = metadata.takeGcPending();
  if (keys.size === 0) return 0;
  const running = [...context.running];
  const horizonOf = (transactions: readonly Transaction[]) =>
    transactions.reduce((horizon, txn) => Math.min(horizon, txn.startSeq), metadata.learnedSeq);
  // What no running transaction at all would hold, and what the running ones leave.
  const everything = new SupersededAt(metadata, metadata.learnedSeq);
  const superseded = candidatesOf(keys, everything, metadata).filter((id) => everything.covers(id));
  let now = new SupersededAt(metadata, horizonOf(running));
  let removable =
    now.horizonSeq < metadata.learnedSeq ? superseded.filter((id) => now.covers(id)) : superseded;
  let held = superseded.length - removable.length;
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
      now = new SupersededAt(metadata, horizonOf([...staying]));
      removable = superseded.filter((id) => now.covers(id));
      held = superseded.length - removable.length;
    }
    context.logger.warn(
      { held, maxHeldTransactions: context.maxHeldTransactions },
      'aborted the oldest running transactions: they held back local garbage collection',
    );
  }
  // A key whose newest superseding version is younger than the horizon holds older versions
  // for a running transaction: it is looked at again next pass, when the horizon may have moved.
  if (now.horizonSeq < metadata.learnedSeq) {
    const stillHeld: string[] = [];
    for (const key of keys) if (everything.newestOf(key) !== now.newestOf(key)) stillHeld.push(key);
    metadata.keepGcPending(stillHeld);
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
