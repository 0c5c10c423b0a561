/**
 * The one retry pause of aft: exponential backoff with full jitter (the AWS architecture
 * blog's scheme). The client and the Lambda layer retry requests with it, adapters their
 * partial batches and conflicts, a node its start-up; it lives here, beside the wire
 * contract, because the layer may carry nothing of the server.
 */
import { setTimeout as delay } from 'node:timers/promises';

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

/** Waits the backoff delay before retry number `attempt` (0-based). */
export function backoffPause(
  attempt: number,
  baseMs: number,
  capMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return sleep(backoffDelay(attempt, baseMs, capMs), signal);
}
