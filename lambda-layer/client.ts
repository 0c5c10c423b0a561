/**
 * A typed client for the aft REST API (the Lambda layer is built on it).
 *
 *   const aft = new AftClient({ url: 'http://127.0.0.1:7070' });
 *   const result = await aft.run(async (tx) => {
 *     const stock = await tx.getText('stock');
 *     await tx.put('stock', String(Number(stock ?? 0) - 1));
 *   });
 *
 * Retries: a request is repeated, with exponential backoff and full jitter, only when that
 * is safe. Everything but begin is idempotent in the protocol (reads are repeatable, writes
 * overwrite the buffer, commit returns its first outcome), so those are retried on network
 * errors and retryable answers (503, 429). Begin is retried only when the shim certainly
 * did not run it: the connection was refused, or it answered with a retryable error.
 *
 * Over 400 lines: the client and its Transaction are one API, documented method by method;
 * their bodies and errors live in the wire module (wire/), the transport in ./transport.ts.
 */
import {
  type BeginAnswer,
  type BeginRequest,
  type CommitOutcome,
  type CommitRequest,
  decodeBase64,
  encodeBase64,
  Isolation,
  isPathSafeKey,
  PATHS,
  type ReadAnswer,
  type ReadItem,
  type ReplayAnswer,
  type ReplayedCommit,
  type StatusAnswer,
  type TransactionState,
  transactionPaths,
  VERSION_HEADER,
  type WireReadItem,
  type WriteRequest,
} from '../wire/api.js';
import { backoffPause } from '../wire/backoff.js';
import {
  AftError,
  ConnectionError,
  ErrorCode,
  errorFromBody,
  KeyNotFoundError,
  TransactionNotRunningError,
} from '../wire/errors.js';
import { fetchTransport, nodeHttpTransport, type RawAnswer, type Transport } from './transport.js';

export * from '../wire/errors.js';
export type { CommitOutcome, ReadItem, ReplayedCommit, TransactionState };

export interface RetryOptions {
  /** Attempts in all, the first included. @default 4 */
  readonly attempts?: number;
  /** First backoff; it doubles each time, with full jitter. @default 50 */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
}

export interface AftClientOptions {
  /** The shim's base URL, e.g. http://127.0.0.1:7070. */
  readonly url: string;
  /** A bearer token, when the shim has auth on. */
  readonly token?: string;
  readonly retry?: RetryOptions;
  /** Per-request time limit. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** A fetch implementation (e.g. one with a custom dispatcher). @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export type Value = Uint8Array | string;

export interface BeginOptions extends RequestOptions {
  /** The transaction's idle timeout on the shim. */
  readonly timeoutMs?: number;
  /** Keys to read in the begin request itself: the transaction's `prefetched` items. */
  readonly read?: readonly string[];
  /**
   * 'serializable': the commit validates every key read, and fails with ConflictError
   * (retryable) when another serializable commit changed one. @default 'read-atomic'
   */
  readonly isolation?: Isolation;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export class AftClient {
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly retry: Required<RetryOptions>;
  private readonly requestTimeoutMs: number;
  private readonly transport: Transport;

  /** The shim's base URL, as given. */
  get url(): string {
    return this.baseUrl;
  }

  constructor(options: AftClientOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.retry = { attempts: 4, baseDelayMs: 50, maxDelayMs: 2000, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.transport = options.fetch ? fetchTransport(options.fetch) : nodeHttpTransport();
  }

  /** Begins a transaction. `timeoutMs` is its idle timeout on the shim. */
  /**
   * Begins a transaction. `timeoutMs` is its idle timeout on the shim; `read` names keys to read
   * in the same request (the transaction's `prefetched` items).
   */
  async begin(options: BeginOptions = {}): Promise<Transaction> {
    const answer = await this.request<BeginAnswer>('POST', PATHS.transactions, {
      json: beginRequest(options),
      idempotent: false,
      signal: options.signal,
    });
    return new Transaction(this, answer.txid, fromWireItems(answer.items ?? []));
  }

  /**
   * Begins a transaction and reads `keys` in it, in one request (as `getMany` would read them).
   * With `Transaction.commit({ writes })`, a transaction that reads then writes costs two
   * requests. Begin is not repeated on an uncertain failure (see the retry rule above).
   */
  async beginAndRead(
    keys: readonly string[],
    options: RequestOptions & { timeoutMs?: number; isolation?: Isolation } = {},
  ): Promise<{ tx: Transaction; items: ReadItem[] }> {
    const tx = await this.begin({ ...options, read: keys });
    return { tx, items: [...tx.prefetched] };
  }

  /**
   * Begins a transaction that commits only if no other transaction with `idempotencyKey`
   * commits. When one already did (within the shim's idempotency time-to-live), nothing
   * begins: the answer is that commit's txid and the result it recorded. When one is
   * committing right now, this throws DuplicateInProgressError (retryable).
   */
  async beginIdempotent(
    idempotencyKey: string,
    options: BeginOptions = {},
  ): Promise<Transaction | ReplayedCommit> {
    const answer = await this.request<BeginAnswer | ReplayAnswer>('POST', PATHS.transactions, {
      json: { ...beginRequest(options), idempotencyKey },
      // A lost reply leaves at most an idle transaction behind; the key still guards the commit.
      idempotent: true,
      signal: options.signal,
    });
    if (!('replayed' in answer)) return new Transaction(this, answer.txid, fromWireItems(answer.items ?? []));
    return {
      replayed: true,
      txid: answer.txid,
      version: answer.version ?? null,
      result: answer.result === null || answer.result === undefined ? null : fromBase64(answer.result),
    };
  }

  /** Resumes a transaction begun elsewhere (another function passed its txid along). */
  transaction(txid: string): Transaction {
    return new Transaction(this, txid);
  }

  /**
   * Runs `body` in a transaction: commits when it returns, aborts when it throws. When the
   * transaction is lost (its node died), storage failed before anything became visible, or a
   * serializable commit conflicted, `body` runs again from the top, up to `attempts` times
   * (3; 10 when serializable, since contended keys conflict), after a pause with jitter.
   */
  async run<T>(
    body: (tx: Transaction) => Promise<T>,
    options: RequestOptions & { timeoutMs?: number; attempts?: number; isolation?: Isolation } = {},
  ): Promise<{ result: T; commit: CommitOutcome }> {
    const attempts = options.attempts ?? (options.isolation === Isolation.SERIALIZABLE ? 10 : 3);
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1)
        await backoffPause(attempt - 2, this.retry.baseDelayMs, this.retry.maxDelayMs, options.signal);
      const tx = await this.begin(options);
      let result: T;
      try {
        result = await body(tx);
      } catch (error) {
        await tx.abort(options).catch(() => undefined);
        if (attempt < attempts && isRetryableTransactionError(error)) continue;
        throw error;
      }
      try {
        return { result, commit: await tx.commit(options) };
      } catch (error) {
        const runAgain =
          error instanceof AftError &&
          (error.code === ErrorCode.TXN_LOST || error.code === ErrorCode.CONFLICT);
        if (attempt < attempts && runAgain) continue;
        throw error;
      }
    }
  }

  async status(txid: string, options: RequestOptions = {}): Promise<TransactionState> {
    const answer = await this.request<StatusAnswer>('GET', transactionPaths.of(txid), {
      signal: options.signal,
    });
    return answer.status;
  }

  /** @internal */
  async request<T>(
    method: string,
    path: string,
    options: {
      json?: unknown;
      bytes?: Uint8Array;
      idempotent?: boolean;
      signal?: AbortSignal | undefined;
      accept?: 'json' | 'bytes' | 'none';
    } = {},
  ): Promise<T> {
    const idempotent = options.idempotent ?? true;
    const headers: Record<string, string> = {};
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = options.bytes;
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;

    for (let attempt = 1; ; attempt++) {
      let answer: RawAnswer;
      try {
        answer = await this.transport({
          method,
          url: this.baseUrl + path,
          headers,
          body,
          timeoutMs: this.requestTimeoutMs,
          signal: options.signal,
        });
      } catch (error) {
        options.signal?.throwIfAborted();
        const refused = connectionRefused(error);
        if ((idempotent || refused) && attempt < this.retry.attempts) {
          await this.backoff(attempt, options.signal);
          continue;
        }
        throw new ConnectionError(
          `request to ${method} ${this.baseUrl}${path} failed: ${describeError(error)}`,
          {
            cause: error,
          },
        );
      }
      if (answer.status >= 200 && answer.status < 300) {
        if (options.accept === 'bytes') {
          const bytes = new Uint8Array(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength);
          return { bytes, version: answer.header(VERSION_HEADER.toLowerCase()) } as T;
        }
        if (answer.status === 204 || options.accept === 'none') return undefined as T;
        return JSON.parse(answer.body.toString('utf8')) as T;
      }
      const error = errorFromAnswer(answer);
      // A lost transaction, a serializable conflict or a duplicate in progress is news for the
      // caller, not a hiccup: repeating the same request cannot help (the caller starts over
      // or waits).
      const transient =
        error.retryable &&
        error.code !== ErrorCode.TXN_LOST &&
        error.code !== ErrorCode.CONFLICT &&
        error.code !== ErrorCode.DUPLICATE_IN_PROGRESS;
      if (transient && attempt < this.retry.attempts) {
        await this.backoff(attempt, options.signal);
        continue;
      }
      throw error;
    }
  }

  private async backoff(attempt: number, signal: AbortSignal | undefined): Promise<void> {
    await backoffPause(attempt - 1, this.retry.baseDelayMs, this.retry.maxDelayMs, signal);
  }
}

/** One transaction, bound to a client. Cheap: it is only a txid. */
export class Transaction {
  /** Tells a Transaction from a ReplayedCommit. */
  readonly replayed = false;

  constructor(
    private readonly client: AftClient,
    readonly txid: string,
    /**
     * What the begin read (`BeginOptions.read`), as getMany would have answered then. Reads
     * are repeatable, so they hold until this transaction writes those keys.
     */
    readonly prefetched: readonly ReadItem[] = [],
  ) {}

  /** The value of `key`, or undefined when no version is visible. */
  async get(key: string, options: RequestOptions = {}): Promise<Uint8Array | undefined> {
    return (await this.getWithVersion(key, options)).value;
  }

  async getText(key: string, options: RequestOptions = {}): Promise<string | undefined> {
    const value = await this.get(key, options);
    return value === undefined ? undefined : decoder.decode(value);
  }

  async getJson<T = unknown>(key: string, options: RequestOptions = {}): Promise<T | undefined> {
    const text = await this.getText(key, options);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  async getWithVersion(key: string, options: RequestOptions = {}): Promise<ReadItem> {
    if (!isPathSafeKey(key)) {
      const [item] = await this.getMany([key], options);
      return item!;
    }
    try {
      const answer = await this.client.request<{ bytes: Uint8Array; version: string | undefined }>(
        'GET',
        transactionPaths.key(this.txid, key),
        { accept: 'bytes', signal: options.signal },
      );
      return { key, value: answer.bytes, version: answer.version };
    } catch (error) {
      if (error instanceof KeyNotFoundError) return { key, value: undefined, version: undefined };
      throw error;
    }
  }

  /** Reads several keys at once, read-atomically; items come back in the order asked. */
  async getMany(keys: readonly string[], options: RequestOptions = {}): Promise<ReadItem[]> {
    const answer = await this.client.request<ReadAnswer>('POST', transactionPaths.action(this.txid, 'read'), {
      json: { keys },
      signal: options.signal,
    });
    return fromWireItems(answer.items);
  }

  async put(key: string, value: Value, options: RequestOptions = {}): Promise<void> {
    if (!isPathSafeKey(key)) return this.putMany([{ key, value }], options);
    await this.client.request('PUT', transactionPaths.key(this.txid, key), {
      bytes: toBytes(value),
      signal: options.signal,
    });
  }

  async putJson(key: string, value: unknown, options: RequestOptions = {}): Promise<void> {
    await this.put(key, JSON.stringify(value), options);
  }

  async delete(key: string, options: RequestOptions = {}): Promise<void> {
    if (!isPathSafeKey(key)) return this.putMany([{ key, value: null }], options);
    await this.client.request('DELETE', transactionPaths.key(this.txid, key), { signal: options.signal });
  }

  /** Buffers several writes at once; a null value deletes the key. */
  async putMany(
    items: readonly { key: string; value: Value | null }[],
    options: RequestOptions = {},
  ): Promise<void> {
    const request: WriteRequest = { items: toWireWrites(items) };
    await this.client.request('POST', transactionPaths.action(this.txid, 'write'), {
      json: request,
      signal: options.signal,
    });
  }

  async deleteMany(keys: readonly string[], options: RequestOptions = {}): Promise<void> {
    await this.putMany(
      keys.map((key) => ({ key, value: null })),
      options,
    );
  }

  /**
   * Commits; safe to repeat (the shim returns the first outcome and writes nothing again).
   * `result` is recorded with the transaction's idempotency key, in the same atomic commit;
   * `writes` (a null value deletes the key) are written first, in the same request, so a
   * transaction's writes cost no request of their own.
   */
  async commit(
    options: RequestOptions & {
      result?: Value | null;
      writes?: readonly { key: string; value: Value | null }[];
    } = {},
  ): Promise<CommitOutcome> {
    const hasResult = options.result !== undefined && options.result !== null;
    const body: CommitRequest | undefined =
      !hasResult && options.writes === undefined
        ? undefined
        : {
            ...(hasResult && { result: encodeBase64(toBytes(options.result!)) }),
            ...(options.writes !== undefined && { items: toWireWrites(options.writes) }),
          };
    return this.client.request<CommitOutcome>('POST', transactionPaths.action(this.txid, 'commit'), {
      ...(body && { json: body }),
      signal: options.signal,
    });
  }

  async abort(options: RequestOptions = {}): Promise<void> {
    try {
      await this.client.request('POST', transactionPaths.action(this.txid, 'abort'), {
        signal: options.signal,
        accept: 'none',
      });
    } catch (error) {
      // A retried abort whose first attempt landed finds the transaction aborted: done.
      if (error instanceof TransactionNotRunningError && error.status === 'aborted') return;
      throw error;
    }
  }

  async status(options: RequestOptions = {}): Promise<TransactionState> {
    return this.client.status(this.txid, options);
  }
}

function beginRequest(options: BeginOptions): BeginRequest {
  return {
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.isolation !== undefined && { isolation: options.isolation }),
    ...(options.read !== undefined && options.read.length > 0 && { read: options.read }),
  };
}

function toWireWrites(items: readonly { key: string; value: Value | null }[]): WriteRequest['items'] {
  return items.map(({ key, value }) => ({
    key,
    value: value === null ? null : encodeBase64(toBytes(value)),
  }));
}

function fromWireItems(items: readonly WireReadItem[]): ReadItem[] {
  return items.map(({ key, value, version }) => ({
    key,
    value: value === null ? undefined : fromBase64(value),
    version: version ?? undefined,
  }));
}

function toBytes(value: Value): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value;
}

function fromBase64(value: string): Uint8Array {
  const bytes = decodeBase64(value);
  if (!bytes) throw new AftError(ErrorCode.INTERNAL, 'the shim answered a value that is not base64');
  return bytes;
}

function isRetryableTransactionError(error: unknown): boolean {
  return error instanceof AftError && error.retryable && error.code !== ErrorCode.CONNECTION_FAILED;
}

function errorFromAnswer(answer: RawAnswer): AftError {
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    // Not our error body (a proxy's page, say): errorFromBody falls back on the status.
  }
  return errorFromBody(answer.status, body);
}

/** A system error's code: node:http puts it on the error, fetch on its cause. */
function codeOf(error: unknown): string | undefined {
  const direct = (error as { code?: unknown } | undefined)?.code;
  if (typeof direct === 'string') return direct;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof cause === 'string' ? cause : undefined;
}

function connectionRefused(error: unknown): boolean {
  return codeOf(error) === 'ECONNREFUSED';
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: { message?: string } } | undefined)?.cause;
  return codeOf(error) ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
