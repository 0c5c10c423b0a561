/**
 * Fault injection for late storage calls: wraps an adapter and holds chosen calls, the way a
 * TCP proxy holds a request, until the test releases them. A held call lands (runs on the
 * inner adapter) only when released, whatever its caller did meanwhile: a caller whose signal
 * aborted sees its call fail at once, and the write still arrives later, as a request already
 * on the wire does.
 */
import type { CallOptions, StorageAdapter } from '../../adapters/contract.js';

type Operation = Exclude<keyof StorageAdapter, 'name'>;

interface Held {
  readonly operation: Operation;
  readonly args: readonly unknown[];
  /** Lands the call now; resolves with what the engine answered. */
  land(): Promise<unknown>;
}

export class HoldingAdapter {
  readonly adapter: StorageAdapter;
  private readonly rules: { operation: Operation; matches: (args: readonly unknown[]) => boolean }[] = [];
  private readonly held: Held[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(readonly inner: StorageAdapter) {
    const target = inner as unknown as Record<string, unknown>;
    this.adapter = new Proxy(inner, {
      get: (object, property) => {
        const value = target[property as string];
        if (typeof value !== 'function' || property === 'close') {
          return typeof value === 'function' ? value.bind(object) : value;
        }
        return (...args: unknown[]) => this.call(property as Operation, args, value.bind(object));
      },
    });
  }

  /** Holds every later call of `operation` whose arguments match. */
  hold(operation: Operation, matches: (args: readonly unknown[]) => boolean = () => true): void {
    this.rules.push({ operation, matches });
  }

  /** Stops holding new calls (those held stay held until landed). */
  stopHolding(): void {
    this.rules.length = 0;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves once at least `count` calls are held. */
  async waitForHeld(count = 1): Promise<void> {
    while (this.held.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Lands the oldest held call (of `operation`, if named); resolves with the engine's answer. */
  land(operation?: Operation): Promise<unknown> {
    const index = this.held.findIndex((held) => operation === undefined || held.operation === operation);
    if (index < 0) throw new Error(`no held call${operation ? ` of ${operation}` : ''}`);
    const [held] = this.held.splice(index, 1);
    return held!.land();
  }

  private call(
    operation: Operation,
    args: unknown[],
    run: (...args: unknown[]) => Promise<unknown>,
  ): Promise<unknown> {
    if (!this.rules.some((rule) => rule.operation === operation && rule.matches(args))) return run(...args);
    let settle!: { resolve: (value: unknown) => void; reject: (error: unknown) => void };
    const answer = new Promise<unknown>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const options = args.find(
      (arg): arg is CallOptions => typeof arg === 'object' && arg !== null && 'signal' in arg,
    );
    options?.signal?.addEventListener('abort', () => settle.reject(options.signal!.reason), { once: true });
    // The request is on the wire: it lands when released, without the caller's signal.
    const withoutSignal = args.map((arg) => (arg === options ? {} : arg));
    this.held.push({
      operation,
      args,
      land: async () => {
        try {
          const result = await run(...withoutSignal);
          settle.resolve(result);
          return result;
        } catch (error) {
          settle.reject(error);
          throw error;
        }
      },
    });
    for (const wake of this.waiters.splice(0)) wake();
    return answer;
  }
}
