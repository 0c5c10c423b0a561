/**
 * What a node reports about itself. The HTTP tier implements it with prom-client; the core
 * depends only on this interface, so embedding a node needs no metrics library.
 */

export const TransactionOutcome = {
  COMMITTED: 'committed',
  ABORTED: 'aborted',
  TIMED_OUT: 'timed_out',
  FAILED: 'failed',
} as const;
export type TransactionOutcome = (typeof TransactionOutcome)[keyof typeof TransactionOutcome];

export interface NodeMetrics {
  transactionEnded(outcome: TransactionOutcome): void;
  /** Seconds one read request (one or many keys) took. */
  observeRead(seconds: number): void;
  /** Seconds one commit took, from request to acknowledgement. */
  observeCommit(seconds: number): void;
  cacheHit(): void;
  cacheMiss(): void;
  /**
   * A committed version read from its commit's intent: its versions were not written yet
   * (shim/intents.ts). Steadily rising, the collector is behind writing them.
   */
  readFromIntent?(): void;
  storageError(operation: string): void;
  /** One call of the storage contract began (what a node costs an engine billed per request). */
  storageCall?(operation: string): void;
}

export const noMetrics: NodeMetrics = {
  transactionEnded() {},
  observeRead() {},
  observeCommit() {},
  cacheHit() {},
  cacheMiss() {},
  storageError() {},
};

/** The subset of a pino logger the core uses. */
export interface NodeLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

export const silentLogger: NodeLogger = {
  info() {},
  warn() {},
  error() {},
  debug() {},
};
