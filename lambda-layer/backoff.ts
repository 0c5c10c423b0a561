/** Retry pauses of the layer's client and wrapper (the layer carries none of adapters/). */

/**
 * Waits before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)]
 * (full jitter); rejects with the signal's reason when it aborts first.
 */
export function backoffPause(
  attempt: number,
  baseMs: number,
  capMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const delay = Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delay);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
