/**
 * The few retries an adapter does itself (partial batch results, conditional-write
 * conflicts), paced by the one backoff (wire/backoff.ts). Engine clients retry their own
 * transport errors.
 */
import { backoffDelay, sleep } from '../wire/backoff.js';

export { backoffDelay, sleep };

export interface BackoffOptions {
  /** Tries in all, the first included. @default 8 */
  readonly attempts?: number;
  /** @default 25 */
  readonly baseMs?: number;
  /** @default 2000 */
  readonly capMs?: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Calls `step` until it reports done, sleeping a jittered, growing delay between calls.
 * `step` gets the attempt number and returns true when there is nothing left to do.
 */
export async function retryUntilDone(
  what: string,
  step: (attempt: number) => Promise<boolean>,
  options: BackoffOptions = {},
): Promise<void> {
  const attempts = options.attempts ?? 8;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    options.signal?.throwIfAborted();
    if (await step(attempt)) return;
    if (attempt + 1 < attempts)
      await sleep(backoffDelay(attempt, options.baseMs, options.capMs), options.signal);
  }
  throw new Error(`${what}: still unfinished after ${attempts} attempts`);
}

/** Rejects with the signal's reason when it aborts first; the underlying call is not cancelled. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
