/**
 * Typed errors. Every error aft raises on purpose is an `AftError` with a stable `code`
 * (the REST API's error code), a `retryable` flag that says whether repeating the same
 * request or transaction can succeed, and the underlying `cause` where there is one.
 */

export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  TXN_NOT_FOUND: 'TXN_NOT_FOUND',
  KEY_NOT_FOUND: 'KEY_NOT_FOUND',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  TXN_NOT_RUNNING: 'TXN_NOT_RUNNING',
  TXN_LOST: 'TXN_LOST',
  DUPLICATE_COMMITTED: 'DUPLICATE_COMMITTED',
  DUPLICATE_IN_PROGRESS: 'DUPLICATE_IN_PROGRESS',
  TOO_LARGE: 'TOO_LARGE',
  TOO_MANY_TRANSACTIONS: 'TOO_MANY_TRANSACTIONS',
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  NOT_READY: 'NOT_READY',
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  /** Raised by the Lambda layer only: a function it invoked failed. */
  FUNCTION_FAILED: 'FUNCTION_FAILED',
  /** Raised by the Lambda layer only: the handler ran into the function's deadline. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface AftErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
}

export class AftError extends Error {
  override readonly name: string = 'AftError';
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: AftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Malformed input: bad JSON, bad base64, an empty or over-long key, wrong types. */
export class BadRequestError extends AftError {
  override readonly name: string = 'BadRequestError';
  constructor(message: string, options?: AftErrorOptions) {
    super(ErrorCode.BAD_REQUEST, message, options);
  }
}

export class UnauthorizedError extends AftError {
  override readonly name: string = 'UnauthorizedError';
  constructor(message = 'missing bearer token') {
    super(ErrorCode.UNAUTHORIZED, message);
  }
}

export class ForbiddenError extends AftError {
  override readonly name: string = 'ForbiddenError';
  constructor(message = 'invalid bearer token') {
    super(ErrorCode.FORBIDDEN, message);
  }
}

export class TransactionNotFoundError extends AftError {
  override readonly name: string = 'TransactionNotFoundError';
  constructor(readonly txid: string) {
    super(ErrorCode.TXN_NOT_FOUND, `unknown transaction ${JSON.stringify(txid)}`);
  }
}

/** A single-key read found no visible version (raised by the HTTP layer and the client). */
export class KeyNotFoundError extends AftError {
  override readonly name: string = 'KeyNotFoundError';
  constructor(readonly key: string) {
    super(ErrorCode.KEY_NOT_FOUND, `no visible version of key ${JSON.stringify(key)}`);
  }
}

export class RouteNotFoundError extends AftError {
  override readonly name: string = 'RouteNotFoundError';
  constructor(method: string, path: string) {
    super(ErrorCode.ROUTE_NOT_FOUND, `no route for ${method} ${path}`);
  }
}

/** The transaction has committed or aborted (possibly by its idle timeout). */
export class TransactionNotRunningError extends AftError {
  override readonly name: string = 'TransactionNotRunningError';
  constructor(
    readonly txid: string,
    readonly status: string,
    reason = '',
  ) {
    super(ErrorCode.TXN_NOT_RUNNING, `transaction ${txid} is ${status}${reason ? `: ${reason}` : ''}`);
  }
}

/** The node that owned the transaction is gone; run the whole function again. */
export class TransactionLostError extends AftError {
  override readonly name: string = 'TransactionLostError';
  constructor(
    readonly txid: string,
    message = `transaction ${txid} was lost with the node that owned it`,
  ) {
    super(ErrorCode.TXN_LOST, message, { retryable: true });
  }
}

/** A key, a value, a batch or a transaction's write buffer is over its configured limit. */
export class TooLargeError extends AftError {
  override readonly name: string = 'TooLargeError';
  constructor(message: string) {
    super(ErrorCode.TOO_LARGE, message);
  }
}

export class TooManyTransactionsError extends AftError {
  override readonly name: string = 'TooManyTransactionsError';
  constructor(limit: number) {
    super(ErrorCode.TOO_MANY_TRANSACTIONS, `this node already runs ${limit} transactions`, {
      retryable: true,
    });
  }
}

/** The storage engine failed. Nothing was made visible; the request may be repeated. */
export class StorageUnavailableError extends AftError {
  override readonly name: string = 'StorageUnavailableError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.STORAGE_UNAVAILABLE, message, { cause: options.cause, retryable: true });
  }
}

export class ShuttingDownError extends AftError {
  override readonly name: string = 'ShuttingDownError';
  constructor() {
    super(ErrorCode.SHUTTING_DOWN, 'this node is shutting down', { retryable: true });
  }
}

/** The node is still loading its metadata from storage. */
export class NotReadyError extends AftError {
  override readonly name: string = 'NotReadyError';
  constructor(message = 'this node is still loading commit metadata from storage') {
    super(ErrorCode.NOT_READY, message, {
      retryable: true,
    });
  }
}

/** Another transaction with the same idempotency key committed; begin again with the key for its result. */
export class DuplicateCommittedError extends AftError {
  override readonly name: string = 'DuplicateCommittedError';
  constructor(
    readonly idempotencyKey: string,
    readonly committedTxid: string,
  ) {
    super(
      ErrorCode.DUPLICATE_COMMITTED,
      `transaction ${committedTxid} already committed with idempotency key ${JSON.stringify(idempotencyKey)}; begin again with the key to get its result`,
    );
  }
}

/** Another transaction with the same idempotency key is committing; retry shortly. */
export class DuplicateInProgressError extends AftError {
  override readonly name: string = 'DuplicateInProgressError';
  constructor(
    readonly idempotencyKey: string,
    readonly otherTxid: string,
  ) {
    super(
      ErrorCode.DUPLICATE_IN_PROGRESS,
      `transaction ${otherTxid} is committing with idempotency key ${JSON.stringify(idempotencyKey)}; retry shortly`,
      { retryable: true },
    );
  }
}

/** The client could not reach the shim (raised by the REST client only). */
export class ConnectionError extends AftError {
  override readonly name: string = 'ConnectionError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.CONNECTION_FAILED, message, { cause: options.cause, retryable: true });
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
