/**
 * The errors of the REST API, shared by the server and its clients (docs/architecture.md,
 * "wire"): every error aft raises on purpose is an `AftError` with a stable `code`, the HTTP
 * status of that code, a `retryable` flag that says whether repeating the same request or
 * transaction can succeed, structured `details` where the error names things, and the
 * underlying `cause` where there is one. The error body is `{ error: { code, message,
 * retryable, details? } }`; `errorFromBody` turns one back into the typed error.
 */

export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  TXN_NOT_FOUND: 'TXN_NOT_FOUND',
  KEY_NOT_FOUND: 'KEY_NOT_FOUND',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  TXN_NOT_RUNNING: 'TXN_NOT_RUNNING',
  /** A serializable transaction read a key another one changed, or claims it now: run it again. */
  CONFLICT: 'CONFLICT',
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

/** What an error says beyond its code, by name: a client acts on these, never on the message. */
export type ErrorDetails = Readonly<Record<string, string>>;

export interface AftErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  readonly details?: ErrorDetails;
}

export class AftError extends Error {
  override readonly name: string = 'AftError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Structured facts of the error (a txid, a status), carried in the error body's `details`. */
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, options: AftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
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
  constructor(
    readonly txid: string,
    message = `unknown transaction ${JSON.stringify(txid)}`,
  ) {
    super(ErrorCode.TXN_NOT_FOUND, message, { details: { txid } });
  }
}

/** A single-key read found no visible version (raised by the HTTP layer and the client). */
export class KeyNotFoundError extends AftError {
  override readonly name: string = 'KeyNotFoundError';
  constructor(
    readonly key: string,
    message = `no visible version of key ${JSON.stringify(key)}`,
  ) {
    super(ErrorCode.KEY_NOT_FOUND, message, { details: { key } });
  }
}

/** The transaction has committed or aborted (possibly by its idle timeout). */
export class TransactionNotRunningError extends AftError {
  override readonly name: string = 'TransactionNotRunningError';
  constructor(
    readonly txid: string,
    /** What it is instead: `committing`, `committed` or `aborted`. */
    readonly status: string,
    reason = '',
    message = `transaction ${txid} is ${status}${reason ? `: ${reason}` : ''}`,
  ) {
    super(ErrorCode.TXN_NOT_RUNNING, message, { details: { txid, status } });
  }
}

/** The node that owned the transaction is gone; run the whole function again. */
export class TransactionLostError extends AftError {
  override readonly name: string = 'TransactionLostError';
  constructor(
    readonly txid: string,
    message = `transaction ${txid} was lost with the node that owned it`,
  ) {
    super(ErrorCode.TXN_LOST, message, { retryable: true, details: { txid } });
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

/**
 * The storage engine failed, or answered what cannot be used. Nothing was made visible; the
 * request may be repeated, unless asking again reads the same thing (a record or a claim
 * damaged in storage: `retryable: false`, naming it in `details`).
 */
export class StorageUnavailableError extends AftError {
  override readonly name: string = 'StorageUnavailableError';
  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: ErrorDetails } = {},
  ) {
    super(ErrorCode.STORAGE_UNAVAILABLE, message, {
      cause: options.cause,
      retryable: options.retryable ?? true,
      ...(options.details !== undefined && { details: options.details }),
    });
  }
}

export class ShuttingDownError extends AftError {
  override readonly name: string = 'ShuttingDownError';
  constructor(message = 'this node is shutting down') {
    super(ErrorCode.SHUTTING_DOWN, message, { retryable: true });
  }
}

/**
 * A serializable transaction could not commit: a key it read was changed by another
 * serializable commit since, or another one holds it now. Nothing of it was written; running
 * it again (reading again) is safe.
 */
export class ConflictError extends AftError {
  override readonly name: string = 'ConflictError';
  constructor(txid: string, key: string, why: string, message?: string) {
    super(ErrorCode.CONFLICT, message ?? `transaction ${txid} conflicts on ${JSON.stringify(key)}: ${why}`, {
      retryable: true,
      details: { txid, key },
    });
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
    message = `transaction ${committedTxid} already committed with idempotency key ${JSON.stringify(idempotencyKey)}; begin again with the key to get its result`,
  ) {
    super(ErrorCode.DUPLICATE_COMMITTED, message, { details: { idempotencyKey, committedTxid } });
  }
}

/** Another transaction with the same idempotency key is committing; retry shortly. */
export class DuplicateInProgressError extends AftError {
  override readonly name: string = 'DuplicateInProgressError';
  constructor(
    readonly idempotencyKey: string,
    readonly otherTxid: string,
    message = `transaction ${otherTxid} is committing with idempotency key ${JSON.stringify(idempotencyKey)}; retry shortly`,
  ) {
    super(ErrorCode.DUPLICATE_IN_PROGRESS, message, {
      retryable: true,
      details: { idempotencyKey, otherTxid },
    });
  }
}

/** The client could not reach the shim (raised by the REST client only). */
export class ConnectionError extends AftError {
  override readonly name: string = 'ConnectionError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.CONNECTION_FAILED, message, { cause: options.cause, retryable: true });
  }
}

/** The HTTP status each code is answered with. */
export const HTTP_STATUS_OF_CODE: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TXN_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  TXN_NOT_RUNNING: 409,
  CONFLICT: 409,
  TXN_LOST: 410,
  DUPLICATE_COMMITTED: 409,
  DUPLICATE_IN_PROGRESS: 409,
  TOO_LARGE: 413,
  TOO_MANY_TRANSACTIONS: 429,
  INTERNAL: 500,
  CONNECTION_FAILED: 502,
  FUNCTION_FAILED: 502,
  DEADLINE_EXCEEDED: 504,
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  NOT_READY: 503,
};

/** The error body of the REST API. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly retryable: boolean;
    readonly details?: ErrorDetails;
  };
}

export function errorBodyOf(error: AftError): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.details !== undefined && { details: error.details }),
    },
  };
}

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * The typed error an error body stands for. `status` decides when the body is not ours (a
 * proxy's page): 5xx and 429 are retryable there.
 */
export function errorFromBody(status: number, body: unknown): AftError {
  const error = (body as Partial<ErrorBody> | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  const details: ErrorDetails =
    typeof error?.details === 'object' && error.details !== null ? error.details : {};
  const detail = (name: string): string => (typeof details[name] === 'string' ? details[name] : '');
  switch (error?.code) {
    case ErrorCode.BAD_REQUEST:
      return new BadRequestError(message);
    case ErrorCode.UNAUTHORIZED:
      return new UnauthorizedError(message);
    case ErrorCode.FORBIDDEN:
      return new ForbiddenError(message);
    case ErrorCode.TXN_NOT_FOUND:
      return new TransactionNotFoundError(detail('txid'), message);
    case ErrorCode.KEY_NOT_FOUND:
      return new KeyNotFoundError(detail('key'), message);
    case ErrorCode.TXN_NOT_RUNNING:
      return new TransactionNotRunningError(detail('txid'), detail('status'), '', message);
    case ErrorCode.TXN_LOST:
      return new TransactionLostError(detail('txid'), message);
    case ErrorCode.CONFLICT:
      return new ConflictError(detail('txid'), detail('key'), '', message);
    case ErrorCode.DUPLICATE_COMMITTED:
      return new DuplicateCommittedError(detail('idempotencyKey'), detail('committedTxid'), message);
    case ErrorCode.DUPLICATE_IN_PROGRESS:
      return new DuplicateInProgressError(detail('idempotencyKey'), detail('otherTxid'), message);
    case ErrorCode.TOO_LARGE:
      return new TooLargeError(message);
    case ErrorCode.STORAGE_UNAVAILABLE:
      return new StorageUnavailableError(message, {
        ...(error.retryable === false && { retryable: false }),
        ...(error.details !== undefined && { details }),
      });
    case ErrorCode.SHUTTING_DOWN:
      return new ShuttingDownError(message);
    case ErrorCode.NOT_READY:
      return new NotReadyError(message);
    default: {
      const code = typeof error?.code === 'string' && ERROR_CODES.has(error.code) ? error.code : undefined;
      const retryable =
        typeof error?.retryable === 'boolean' ? error.retryable : status >= 500 || status === 429;
      return new AftError(code ?? (status >= 500 ? ErrorCode.INTERNAL : ErrorCode.BAD_REQUEST), message, {
        retryable,
      });
    }
  }
}
