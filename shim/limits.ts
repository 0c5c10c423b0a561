/**
 * The limits a node enforces on what clients ask (docs/protocol.md, "Transactions and
 * limits"), in one place: whoever embeds a node gets the same checks as the REST API.
 * Each check throws the typed error the REST API answers with.
 */

import { DEFAULT_CONFIG, type ShimConfig } from './config.js';
import { BadRequestError, TooLargeError } from './errors.js';
import type { BufferedValue, Transaction } from './transaction.js';

/** The settings a node enforces; see shim/config.ts for each one's meaning and default. */
export type NodeLimits = Pick<
  ShimConfig,
  | 'maxKeyBytes'
  | 'maxValueBytes'
  | 'maxTransactionKeys'
  | 'maxTransactionBytes'
  | 'maxOpenTransactions'
  | 'maxHeldTransactions'
  | 'transactionTimeoutMs'
  | 'maxTransactionTimeoutMs'
  | 'cacheBytes'
  | 'idempotencyTtlMs'
  | 'maxResultBytes'
>;

/** The limits given, the defaults for the rest; only the limits (a caller may pass a whole configuration). */
export function resolveLimits(given: Partial<NodeLimits> = {}): NodeLimits {
  const limits = { ...DEFAULT_CONFIG, ...given };
  return {
    maxKeyBytes: limits.maxKeyBytes,
    maxValueBytes: limits.maxValueBytes,
    maxTransactionKeys: limits.maxTransactionKeys,
    maxTransactionBytes: limits.maxTransactionBytes,
    maxOpenTransactions: limits.maxOpenTransactions,
    maxHeldTransactions: limits.maxHeldTransactions,
    transactionTimeoutMs: limits.transactionTimeoutMs,
    maxTransactionTimeoutMs: limits.maxTransactionTimeoutMs,
    cacheBytes: limits.cacheBytes,
    idempotencyTtlMs: limits.idempotencyTtlMs,
    maxResultBytes: limits.maxResultBytes,
  };
}

const textEncoder = new TextEncoder();
const MAX_IDEMPOTENCY_KEY_BYTES = 1024;

/** Why `key` is not a valid key under a limit of `maxKeyBytes`, or undefined when it is. */
export function keyProblem(key: unknown, maxKeyBytes: number): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'a key must be a non-empty string';
  if (!key.isWellFormed()) return 'a key must be valid UTF-8 (it holds a lone surrogate)';
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most keys need no count. This runs per
  // key of every pushed record too.
  if (key.length * 3 <= maxKeyBytes) return undefined;
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxKeyBytes) return `a key may be at most ${maxKeyBytes} bytes of UTF-8; this one is ${bytes}`;
  return undefined;
}

/** Validates a key and returns its UTF-8 length. */
export function checkKey(key: string, limits: NodeLimits): number {
  const problem = keyProblem(key, limits.maxKeyBytes);
  if (problem !== undefined) throw new BadRequestError(problem);
  return Buffer.byteLength(key, 'utf8');
}

/** The keys of one read: each valid, and no more of them than a transaction may write. */
export function checkReadKeys(keys: readonly string[], limits: NodeLimits): void {
  if (keys.length > limits.maxTransactionKeys) {
    throw new TooLargeError(`a read may name at most ${limits.maxTransactionKeys} keys`);
  }
  for (const key of keys) checkKey(key, limits);
}

/** An idle timeout a begin asks for, or the default. */
export function checkTimeout(timeoutMs: number | undefined, limits: NodeLimits): number {
  const chosen = timeoutMs ?? limits.transactionTimeoutMs;
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > limits.maxTransactionTimeoutMs) {
    throw new BadRequestError(`timeoutMs must be a whole number from 1 to ${limits.maxTransactionTimeoutMs}`);
  }
  return chosen;
}

export function checkIdempotencyKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || !key.isWellFormed()) {
    throw new BadRequestError('an idempotencyKey must be a non-empty string of valid UTF-8');
  }
  if (textEncoder.encode(key).byteLength > MAX_IDEMPOTENCY_KEY_BYTES) {
    throw new BadRequestError(`an idempotencyKey may be at most ${MAX_IDEMPOTENCY_KEY_BYTES} bytes of UTF-8`);
  }
}

export interface SizedWrite {
  readonly key: string;
  readonly value: BufferedValue;
  readonly keyBytes: number;
}

/**
 * Checks a batch of writes against the value limit and what the transaction's buffer would
 * hold after it; all or none of them may be applied.
 */
export function checkWrites(
  txn: Transaction,
  items: readonly { readonly key: string; readonly value: BufferedValue }[],
  limits: NodeLimits,
): SizedWrite[] {
  const sized = items.map(({ key, value }) => {
    const keyBytes = checkKey(key, limits);
    if (value !== null && value.byteLength > limits.maxValueBytes) {
      throw new TooLargeError(
        `value of ${value.byteLength} bytes is over the limit of ${limits.maxValueBytes}`,
      );
    }
    return { key, value, keyBytes };
  });
  const projected = txn.projectedSize(sized);
  if (projected.keys > limits.maxTransactionKeys) {
    throw new TooLargeError(`a transaction may write at most ${limits.maxTransactionKeys} keys`);
  }
  if (projected.bytes > limits.maxTransactionBytes) {
    throw new TooLargeError(`a transaction may buffer at most ${limits.maxTransactionBytes} bytes`);
  }
  return sized;
}
