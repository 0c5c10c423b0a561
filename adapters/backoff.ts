/**
 * Retries with exponential backoff and full jitter (the AWS architecture blog's scheme), for
 * the few retries an adapter does itself: partial batch results and conditional-write
 * conflicts. Engine clients retry their own transport errors.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffOptions {
  /** Tries in all, the first included. @default 8 */
  readonly attempts?: number;
  /** @default 25 */
  readonly baseMs?: number;
  /** @default 2000 */
  readonly capMs?: number;
  readonly signal?: AbortSignal | undefined;
}

/** The delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt: number, baseMs = 25, capMs = 2000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/** Waits `ms`; rejects with the signal's own reason (not Node's AbortError) when it aborts first. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
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
