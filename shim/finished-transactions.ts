/**
 * What a node knows of transactions that are not running on it (docs/protocol.md, "Outcomes
 * from storage"): the ones it finished, remembered for a while; the commits in its metadata,
 * which name their txid; and, for the rest, what storage says.
 */
import { LRUCache } from 'lru-cache';
import type { CommitLearner } from './commit-learning.js';
import { TransactionLostError, TransactionNotFoundError } from './errors.js';
import { ownerOfTxid } from './ids.js';
import type { Metadata } from './metadata.js';

export interface FinishedTransaction {
  readonly status: 'committed' | 'aborted';
  readonly version: string | null;
  readonly reason: string;
  /** Aborted by the node or the protocol, not by its client: it was lost (ShimNode.finishAborted). */
  readonly lost?: true;
}

/** A transaction's outcome once storage has decided it. */
export type DecidedOutcome =
  | { readonly status: 'committed'; readonly version: string | null }
  | { readonly status: 'aborted' };

export class FinishedTransactions {
  private readonly remembered: LRUCache<string, FinishedTransaction>;

  constructor(
    private readonly nodeId: string,
    private readonly metadata: Metadata,
    private readonly learner: CommitLearner,
    memory: number,
  ) {
    this.remembered = new LRUCache({ max: memory });
  }

  remember(txid: string, finished: FinishedTransaction): void {
    this.remembered.set(txid, finished);
  }

  /** The version of a committed transaction this node knows of (null: read-only), else undefined. */
  committedVersionOf(txid: string): string | null | undefined {
    const finished = this.remembered.get(txid);
    if (finished?.status === 'committed') return finished.version;
    return this.metadata.versionIdOfTxid(txid);
  }

  /** The outcome of a transaction that is not running here, or the error that explains its absence. */
  of(txid: string): FinishedTransaction {
    const finished = this.remembered.get(txid);
    if (finished) return finished;
    // Commits are durable and indexed by txid, so a committed transaction is found after
    // this node forgot it, and after a crash of the node that ran it.
    const version = this.metadata.versionIdOfTxid(txid);
    if (version !== undefined) return { status: 'committed', version, reason: '' };
    const owner = ownerOfTxid(txid);
    if (owner !== undefined && owner !== this.nodeId) throw new TransactionLostError(txid);
    throw new TransactionNotFoundError(txid);
  }

  /**
   * The outcome of a transaction that is not running here, from memory, else from storage.
   * Only a transaction this node does not own, or owns and forgot, gets here, so it is judged
   * dead: an intent of it without a record is marked aborted (shim/commit-outcome.ts).
   */
  async ofOrStored(txid: string, signal?: AbortSignal): Promise<FinishedTransaction> {
    try {
      return this.of(txid);
    } catch (error) {
      if (!(error instanceof TransactionLostError || error instanceof TransactionNotFoundError)) throw error;
      const stored = await this.learner.outcomeOf(txid, true, signal);
      if (stored.status === 'committed') {
        const finished = { status: 'committed', version: stored.version, reason: '' } as const;
        this.remembered.set(txid, finished);
        return finished;
      }
      // Aborted by a marker: it was lost, and running the function again is safe. (Absent:
      // it never reached its commit, and the error already says lost, or unknown here.)
      if (stored.status === 'aborted') {
        throw error instanceof TransactionLostError ? error : new TransactionLostError(txid);
      }
      throw error;
    }
  }

  /**
   * For a transaction whose owner is a live member that did not answer: its outcome when
   * storage has decided it, else undefined (the owner may still commit it).
   */
  async decidedOutcome(txid: string, signal?: AbortSignal): Promise<DecidedOutcome | undefined> {
    const version = this.committedVersionOf(txid);
    if (version !== undefined) return { status: 'committed', version };
    const stored = await this.learner.outcomeOf(txid, false, signal);
    if (stored.status === 'committed') return { status: 'committed', version: stored.version };
    if (stored.status === 'aborted') return { status: 'aborted' };
    return undefined;
  }
}
