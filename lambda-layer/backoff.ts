/** Retry pauses of the layer's client and wrapper (the layer carries none of adapters/). */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)]
 * (full jitter); rejects with the signal's own reason (not Node's AbortError) when it aborts
 * first.
 */
export async function backoffPause(
  attempt: number,
  baseMs: number,
  capMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await delay(Math.random() * Math.min(capMs, baseMs * 2 ** attempt), undefined, signal ? { signal } : {});
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}
