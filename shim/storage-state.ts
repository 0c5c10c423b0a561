/**
 * Whether storage answers, as an operator needs to hear it: once when it stops (the engine,
 * where it is, and the cause, e.g. ECONNREFUSED, not a client library's "max retries"), and
 * once when it answers again; never a stack per retry. guardStorage reports every call of an
 * adapter being watched here.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import type { NodeLogger } from './telemetry.js';

export interface StorageStateOptions {
  /** Where storage is, for people: the storage URL with credentials masked. */
  readonly description: string;
  readonly logger: NodeLogger;
}

const watched = new WeakMap<StorageAdapter, StorageState>();

export class StorageState {
  /** Undefined until the first call ends. */
  private answering: boolean | undefined;

  constructor(
    private readonly adapter: StorageAdapter,
    private readonly options: StorageStateOptions,
  ) {}

  /** Reports this adapter's calls (made through guardStorage) here from now on. */
  watch(): this {
    watched.set(this.adapter, this);
    return this;
  }

  get isAnswering(): boolean {
    return this.answering === true;
  }

  answered(): void {
    if (this.answering === true) return;
    const was = this.answering;
    this.answering = true;
    if (was === false) {
      this.options.logger.info(
        { engine: this.adapter.name, storage: this.options.description },
        `storage reachable again: ${this.options.description}`,
      );
    }
  }

  failed(error: unknown): void {
    if (this.answering === false) return;
    this.answering = false;
    const cause = rootCause(this.adapter.connectionError?.() ?? error);
    this.options.logger.warn(
      {
        engine: this.adapter.name,
        storage: this.options.description,
        cause: cause.message,
        ...(cause.code !== undefined && { code: cause.code }),
      },
      `storage unreachable: ${this.options.description} (${this.adapter.name}): ${cause.message}`,
    );
  }
}

/** The state watching `adapter`, if any. */
export function storageStateOf(adapter: StorageAdapter): StorageState | undefined {
  return watched.get(adapter);
}

/**
 * The error deepest in a chain of causes that says what went wrong on the wire: the first
 * with a system error code (ECONNREFUSED, ENOTFOUND, ETIMEDOUT...), else the innermost.
 */
export function rootCause(error: unknown): { message: string; code?: string } {
  let current: unknown = error;
  // Duck-typed: system errors may come from another realm (a VM context), where instanceof fails.
  for (let depth = 0; depth < 8 && isErrorLike(current); depth++) {
    const code = current.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { message: current.message, code };
    const next: unknown =
      Array.isArray(current.errors) && current.errors.length > 0 ? current.errors[0] : current.cause;
    if (!isErrorLike(next)) return { message: current.message };
    current = next;
  }
  return { message: isErrorLike(current) ? current.message : String(current) };
}

interface ErrorLike {
  readonly message: string;
  readonly code?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
}

function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && typeof (value as ErrorLike).message === 'string';
}
