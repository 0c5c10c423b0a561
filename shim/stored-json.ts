/**
 * Reading the small JSON entries aft keeps in storage (intents, claims, GC notes and
 * observations) where they may be damaged: each reader checks the shape it needs and goes on
 * without what it cannot read, rather than failing at every try.
 */
const decoder = new TextDecoder();

/** The JSON value `bytes` hold; undefined where they hold none (not UTF-8 JSON). */
export function parseStoredJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

export function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
