/**
 * Reading the JSON aft keeps in storage where it may be damaged (commit records, intents,
 * claims, GC notes and observations): each reader checks the shape it needs and goes on
 * without what it cannot read, rather than failing at every try.
 */
/** Fatal: bytes that are not UTF-8 are damage, never a key with replacement characters. */
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The JSON value `stored` holds; undefined where it holds none (not UTF-8, or not JSON). */
export function parseStoredJson(stored: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof stored === 'string' ? stored : decoder.decode(stored));
  } catch {
    return undefined;
  }
}

export function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
