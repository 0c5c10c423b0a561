/**
 * The transaction a wrapped handler gets. Writes are buffered here, in the function, and
 * sent to the shim in one request when the transaction commits (a root) or returned to the
 * caller (a joined callee): a callee that fails leaves nothing in the transaction, and a
 * handler's puts cost no round trips. Reads see the buffer first, then the shim's
 * transaction (which holds what callers wrote before calling).
 */
import { AftError, ErrorCode } from '../wire/errors.js';
import type { ReadItem, Transaction, Value } from './client.js';
import {
  CLIENT_CONTEXT_TXID,
  type DeferredInvoke,
  type EncodedWrite,
  joinedAnswerOf,
  PARTIAL_WRITES_ERROR,
} from './envelope.js';
import { FunctionError, type InvokeMode, type Invoker } from './invoke.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface InvokeOptions {
  /** `sync` (the default) joins the callee to this transaction and returns its value; `async` is sent after commit. */
  readonly mode?: InvokeMode;
  readonly signal?: AbortSignal;
}

/** The transaction can no longer be used: it finished, hit its deadline, or a callee failed after writing. */
export class TransactionClosedError extends AftError {
  override readonly name: string = 'TransactionClosedError';
  constructor(reason: string) {
    super(ErrorCode.TXN_NOT_RUNNING, `the transaction cannot be used: ${reason}`);
  }
}

/**
 * Whether a failed sync call certainly left nothing in the transaction: its handler threw
 * before any of its writes reached the shim (a wrapped callee then rethrows the handler's own
 * error). A callee whose writes had reached it fails with PARTIAL_WRITES_ERROR; one whose
 * process died or timed out (Lambda's Runtime.* and Sandbox.* errors), or a call whose fate is
 * unknown (no function error at all: the request failed), may have written anything.
 */
function failedCleanly(error: unknown): boolean {
  return (
    error instanceof FunctionError &&
    error.errorType !== PARTIAL_WRITES_ERROR &&
    !error.errorType.startsWith('Runtime.') &&
    !error.errorType.startsWith('Sandbox.')
  );
}

export class FunctionTransaction {
  private readonly pending = new Map<string, Uint8Array | null>();
  /**
   * What the begin read (withTransaction's `prefetch`): reads of these keys cost no request.
   * They are repeatable reads, so they hold until this transaction writes the key.
   */
  private readonly prefetched: Map<string, ReadItem>;
  private readonly deferredInvokes: DeferredInvoke[] = [];
  private closedReason: string | undefined;
  /** Why the transaction must not commit (a callee failed after its writes joined). */
  private poisonReason: string | undefined;
  /**
   * Set by the first sync call: writes of this function (flushed before it) or of a callee
   * further down (flushed before its own calls) may be in the shim's transaction since.
   */
  private flushedAny = false;

  constructor(
    private readonly remote: Transaction,
    private readonly invoker: Invoker,
    /** Aborts when the function's deadline (less the margin) comes. */
    readonly signal: AbortSignal,
  ) {
    this.prefetched = new Map(remote.prefetched.map((item) => [item.key, item]));
  }

  get txid(): string {
    return this.remote.txid;
  }

  /** The value of `key`, or undefined when nothing is visible. */
  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getMany([key]))[0]!.value;
  }

  async getText(key: string): Promise<string | undefined> {
    const value = await this.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  }

  async getJson<T = unknown>(key: string): Promise<T | undefined> {
    const text = await this.getText(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  /** Reads keys read-atomically, in the order asked; buffered writes win. */
  async getMany(keys: readonly string[]): Promise<ReadItem[]> {
    this.assertOpen();
    const remoteKeys = keys.filter((key) => !this.pending.has(key) && !this.prefetched.has(key));
    const remote =
      remoteKeys.length > 0 ? await this.remote.getMany(remoteKeys, { signal: this.signal }) : [];
    const byKey = new Map(remote.map((item) => [item.key, item]));
    for (const key of keys) {
      const prefetched = this.prefetched.get(key);
      if (prefetched && !byKey.has(key)) byKey.set(key, prefetched);
    }
    return keys.map((key) => {
      if (this.pending.has(key))
        return { key, value: this.pending.get(key) ?? undefined, version: undefined };
      return byKey.get(key)!;
    });
  }

  async put(key: string, value: Value): Promise<void> {
    this.putMany([{ key, value }]);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    this.putMany([{ key, value: JSON.stringify(value) }]);
  }

  async delete(key: string): Promise<void> {
    this.putMany([{ key, value: null }]);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.putMany(keys.map((key) => ({ key, value: null })));
  }

  /** Buffers writes (null deletes); the shim checks them when they are sent. */
  putMany(items: readonly { key: string; value: Value | null }[]): void {
    this.assertOpen();
    for (const { key, value } of items) {
      if (typeof key !== 'string' || key.length === 0) {
        throw new AftError(ErrorCode.BAD_REQUEST, 'a key must be a non-empty string');
      }
      this.pending.set(
        key,
        value === null ? null : typeof value === 'string' ? encoder.encode(value) : value,
      );
      this.prefetched.delete(key);
    }
  }

  /**
   * Calls another function. `sync`: the callee joins this transaction (when wrapped), its
   * writes become this transaction's once it returns, and its value comes back; when it
   * fails, a FunctionError is thrown and none of its writes are kept. `async`: the call is
   * sent only if this transaction commits, exactly once, as its own transaction.
   */
  async invoke<T = unknown>(functionName: string, payload: unknown, options: InvokeOptions = {}): Promise<T> {
    this.assertOpen();
    if (options.mode === 'async') {
      this.deferredInvokes.push({
        functionName,
        payload,
        idempotencyKey: `${this.txid}.${this.deferredInvokes.length}`,
      });
      return undefined as T;
    }
    // The callee reads through the shim: what this function wrote so far must be there.
    await this.flush();
    this.flushedAny = true;
    let answer: unknown;
    try {
      ({ payload: answer } = await this.invoker({
        functionName,
        payload,
        mode: 'sync',
        clientContext: { custom: { [CLIENT_CONTEXT_TXID]: this.txid } },
        signal: options.signal ?? this.signal,
      }));
    } catch (error) {
      if (!failedCleanly(error)) {
        this.poisonReason = `function ${functionName} failed after some of its writes may have joined the transaction`;
      }
      throw error;
    }
    const joined = joinedAnswerOf(answer);
    if (!joined) return answer as T;
    for (const { key, value } of joined.writes) {
      this.pending.set(key, value === null ? null : new Uint8Array(Buffer.from(value, 'base64')));
      this.prefetched.delete(key);
    }
    this.deferredInvokes.push(...joined.deferred);
    return joined.value as T;
  }

  /** @internal Sends the buffered writes to the shim's transaction. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const items = [...this.pending].map(([key, value]) => ({ key, value }));
    await this.remote.putMany(items, { signal: this.signal });
    this.pending.clear();
  }

  /**
   * @internal The buffered writes, taken out of the buffer: the root's commit carries them,
   * so they cost no request of their own.
   */
  takeWrites(): { key: string; value: Uint8Array | null }[] {
    const items = [...this.pending].map(([key, value]) => ({ key, value }));
    this.pending.clear();
    return items;
  }

  /** @internal Whether writes may have reached the shim's transaction before the end (after a sync call). */
  get wroteRemotely(): boolean {
    return this.flushedAny;
  }

  /** @internal The buffered writes, for a joined callee's answer. */
  encodedWrites(): EncodedWrite[] {
    return [...this.pending].map(([key, value]) => ({
      key,
      value: value === null ? null : Buffer.from(value).toString('base64'),
    }));
  }

  /** @internal */
  get deferred(): readonly DeferredInvoke[] {
    return this.deferredInvokes;
  }

  /** @internal Throws when the transaction must not commit. */
  assertCommittable(): void {
    this.assertOpen();
    if (this.poisonReason !== undefined) throw new TransactionClosedError(this.poisonReason);
  }

  /** @internal No further use: every later call throws. */
  close(reason: string): void {
    this.closedReason ??= reason;
  }

  private assertOpen(): void {
    if (this.closedReason !== undefined) throw new TransactionClosedError(this.closedReason);
  }
}
