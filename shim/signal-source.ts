/**
 * A storage call's signal as a caller may give it: a signal, or a function that makes one,
 * called only when storage is asked. An HTTP request's signal costs an AbortController and a
 * listener on its response, and a read the cache answers (most) never needs one.
 */
export type SignalSource = AbortSignal | (() => AbortSignal) | undefined;

/** The options of one storage call: the signal `source` gives, made now (the deadline is the storage door's). */
export function callOptions(source: SignalSource): { signal?: AbortSignal } {
  const signal = typeof source === 'function' ? source() : source;
  return signal ? { signal } : {};
}
