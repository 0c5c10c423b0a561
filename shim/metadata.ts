/**
 * The metadata a node keeps about committed transactions (protocol.md §5): the commit set
 * (version id -> write set) and the key version index (key -> its committed version ids,
 * ascending). Only committed transactions ever enter it.
 */
import type { CommitRecord } from '../adapters/contract.js';
import { insertSorted, removeSorted } from '../adapters/sorted.js';

/**
 * The keys of a commit as the read rule and local GC look at them. A Set satisfies it; the
 * metadata keeps a commit's few keys in their array (KeyList, below).
 */
export interface KeySet extends Iterable<string> {
  readonly size: number;
  has(key: string): boolean;
}

/**
 * A commit's keys in the array its record holds: most commits write a handful, where a Set
 * per commit cost a node learning its peers' commits more to build and to collect than
 * `includes` costs to look through.
 */
class KeyList implements KeySet {
  constructor(private readonly keys: readonly string[]) {}

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.keys.includes(key);
  }

  [Symbol.iterator](): Iterator<string> {
    return this.keys[Symbol.iterator]();
  }
}

/** Past this many keys a commit's keys are a Set. */
const LISTED_KEYS_UP_TO = 8;

const keySetOf = (keys: readonly string[]): KeySet =>
  keys.length <= LISTED_KEYS_UP_TO ? new KeyList(keys) : new Set(keys);

export interface CommittedTransaction {
  readonly versionId: string;
  /** When this node learned it, in the order of `Metadata.learnedSeq`. */
  readonly learnedSeq: number;
  readonly txid: string;
  readonly writeSet: KeySet;
  readonly deleted: KeySet;
  /**
   * False for a record a peer pushed and storage has not confirmed yet: a read that would
   * rely on it where a forgery would show (a tombstone, a missing version) checks it first.
   */
  verified: boolean;
  /**
   * Storage listed its id (a settling pull), or it came from storage: the record exists. Only
   * such a version may supersede another for local GC, so a pushed record storage does not
   * hold can never make a node drop the committed version it seems to replace.
   */
  listed: boolean;
}

/** What the read rule needs to see of the metadata. */
export interface MetadataView {
  /** Committed version ids of `key`, ascending. */
  versionsOf(key: string): readonly string[];
  /** The keys written by the transaction that created `versionId`. */
  writeSetOf(versionId: string): KeySet | undefined;
}

const NO_VERSIONS: readonly string[] = Object.freeze([]);
/** Most commits delete nothing: they share one empty set. */
const NOTHING_DELETED: KeySet = new Set();

export class Metadata implements MetadataView {
  private readonly commits = new Map<string, CommittedTransaction>();
  private readonly versionIdByTxid = new Map<string, string>();
  private readonly versionsByKey = new Map<string, string[]>();
  private newest: string | undefined;
  private sequence = 0;
  /**
   * Keys local GC must look at on its next pass: a version of theirs may have become unneeded
   * since the last (a listed version joined older ones, or an older version joined a listed
   * one), or the last pass found it held for a running transaction. Every other key's versions
   * stand as the last pass left them, so a pass costs what changed, not what is held.
   */
  private gcPending = new Set<string>();

  /** Adds a committed transaction; false when it was known already. */
  add(record: CommitRecord, verified = true): boolean {
    if (this.commits.has(record.versionId)) return false;
    this.sequence += 1;
    const committed: CommittedTransaction = {
      versionId: record.versionId,
      learnedSeq: this.sequence,
      txid: record.txid,
      writeSet: keySetOf(record.writeSet),
      deleted: record.deleted.length === 0 ? NOTHING_DELETED : keySetOf(record.deleted),
      verified,
      listed: verified,
    };
    this.commits.set(record.versionId, committed);
    this.versionIdByTxid.set(record.txid, record.versionId);
    for (const key of committed.writeSet) {
      let versions = this.versionsByKey.get(key);
      if (!versions) {
        versions = [];
        this.versionsByKey.set(key, versions);
      }
      insertSorted(versions, record.versionId);
      // An unlisted record that is its key's newest supersedes nothing yet (markListed will).
      if (versions.length > 1 && (verified || versions[versions.length - 1] !== record.versionId)) {
        this.gcPending.add(key);
      }
    }
    if (this.newest === undefined || record.versionId > this.newest) this.newest = record.versionId;
    return true;
  }

  /** Forgets a committed transaction (local garbage collection). */
  remove(versionId: string): boolean {
    const committed = this.commits.get(versionId);
    if (!committed) return false;
    this.commits.delete(versionId);
    this.versionIdByTxid.delete(committed.txid);
    for (const key of committed.writeSet) {
      const versions = this.versionsByKey.get(key);
      if (!versions) continue;
      removeSorted(versions, versionId);
      if (versions.length === 0) this.versionsByKey.delete(key);
    }
    return true;
  }

  get(versionId: string): CommittedTransaction | undefined {
    return this.commits.get(versionId);
  }

  /** Grows by one with every transaction learned: a logical time of this node's knowledge. */
  get learnedSeq(): number {
    return this.sequence;
  }

  /**
   * Whether `versionId` makes the older versions of its keys superseded for transactions that
   * began after `horizonSeq` (local GC): learned by then, and its record known to exist.
   */
  supersedesAt(versionId: string, horizonSeq: number): boolean {
    const committed = this.commits.get(versionId);
    return committed !== undefined && committed.learnedSeq <= horizonSeq && committed.listed;
  }

  /** Storage listed the record of `versionId`: it exists (see `listed`). */
  markListed(versionId: string): void {
    const committed = this.commits.get(versionId);
    if (!committed || committed.listed) return;
    committed.listed = true;
    for (const key of committed.writeSet) {
      if (this.versionsOf(key).length > 1) this.gcPending.add(key);
    }
  }

  /** The keys local GC must look at now (see `gcPending`); they are no longer pending. */
  takeGcPending(): ReadonlySet<string> {
    const pending = this.gcPending;
    this.gcPending = new Set();
    return pending;
  }

  /** Keys local GC must look at again on its next pass (it found them held). */
  keepGcPending(keys: Iterable<string>): void {
    for (const key of keys) if (this.versionsByKey.has(key)) this.gcPending.add(key);
  }

  versionIdOfTxid(txid: string): string | undefined {
    return this.versionIdByTxid.get(txid);
  }

  versionsOf(key: string): readonly string[] {
    return this.versionsByKey.get(key) ?? NO_VERSIONS;
  }

  writeSetOf(versionId: string): KeySet | undefined {
    return this.commits.get(versionId)?.writeSet;
  }

  isTombstone(key: string, versionId: string): boolean {
    return this.commits.get(versionId)?.deleted.has(key) ?? false;
  }

  /** The newest version id known, the watermark for learning of later commits. */
  get newestVersionId(): string | undefined {
    return this.newest;
  }

  get transactionCount(): number {
    return this.commits.size;
  }

  get keyCount(): number {
    return this.versionsByKey.size;
  }
}
