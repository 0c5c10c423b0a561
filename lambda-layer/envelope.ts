/**
 * What wrapped functions tell each other when one invokes another (lambda-layer/invoke.ts):
 *
 *   - A synchronous call carries the caller's transaction in Lambda's ClientContext (the
 *     payload stays the caller's own): `custom["aft.txid"]`. A wrapped callee joins that
 *     transaction and answers `{ "aft.joined": JoinedAnswer }`: its value, plus the writes and
 *     deferred calls it buffered, which the caller takes over. A callee that fails answers a
 *     Lambda function error and none of its writes reach the transaction.
 *   - An asynchronous call is sent only after the root transaction commits, wrapped as
 *     `{ "aft.async": { idempotencyKey }, "event": payload }`: the callee runs its own
 *     transaction under that key, so the call applies once however often it is delivered.
 */

export const CLIENT_CONTEXT_TXID = 'aft.txid';
export const JOINED_ANSWER = 'aft.joined';
export const ASYNC_ENVELOPE = 'aft.async';

/** A buffered write: base64 bytes, or null for a delete. */
export interface EncodedWrite {
  readonly key: string;
  readonly value: string | null;
}

/** An asynchronous call deferred until the root transaction commits. */
export interface DeferredInvoke {
  readonly functionName: string;
  readonly payload: unknown;
  readonly idempotencyKey: string;
}

export interface JoinedAnswer {
  readonly value: unknown;
  readonly writes: readonly EncodedWrite[];
  readonly deferred: readonly DeferredInvoke[];
}

/** What a root transaction records with its idempotency key: its value and the calls to send after commit. */
export interface RecordedOutcome {
  readonly value: unknown;
  readonly deferred: readonly DeferredInvoke[];
}

/**
 * The error type a joined callee fails with when some of its writes had already joined the
 * transaction (it called another function synchronously first): the caller must not commit.
 */
export const PARTIAL_WRITES_ERROR = 'AftCalleeFailedAfterWrites';

export function joinedTxidOf(clientContext: unknown): string | undefined {
  const custom = (clientContext as { custom?: Record<string, unknown> } | undefined)?.custom;
  const txid = custom?.[CLIENT_CONTEXT_TXID];
  return typeof txid === 'string' && txid.length > 0 ? txid : undefined;
}

export function asyncEnvelopeOf(event: unknown): { idempotencyKey: string; event: unknown } | undefined {
  if (typeof event !== 'object' || event === null || !(ASYNC_ENVELOPE in event)) return undefined;
  const envelope = (event as Record<string, unknown>)[ASYNC_ENVELOPE] as { idempotencyKey?: unknown };
  if (typeof envelope?.idempotencyKey !== 'string') return undefined;
  return { idempotencyKey: envelope.idempotencyKey, event: (event as { event?: unknown }).event };
}

export function joinedAnswerOf(payload: unknown): JoinedAnswer | undefined {
  if (typeof payload !== 'object' || payload === null || !(JOINED_ANSWER in payload)) return undefined;
  return (payload as Record<string, JoinedAnswer>)[JOINED_ANSWER];
}
