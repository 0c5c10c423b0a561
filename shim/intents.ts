/**
 * Commit intents (docs/protocol.md, "Commit"): `intents/<versionId>`, written before a
 * commit's record, so that other nodes find the commits in flight and the collector finds
 * the versions of a commit that never wrote its record.
 *
 * On an engine that cannot write versions and record in one atomic call, the intent also
 * carries the values: it is the commit's redo log. The record follows the intent at once
 * (two round trips in all), and the versions are written after the answer. Until they land,
 * a reader that finds a committed version missing reads it from the intent; a node that died
 * before writing them leaves the intent to the collector, which writes them, then deletes it.
 * The value: JSON `{ keys, values? }`, `values[i]` the base64 bytes of `keys[i]`'s version.
 */
import type { StorageAdapter, VersionWrite } from '../adapters/contract.js';
import { isStrings, parseStoredJson } from '../adapters/stored-json.js';
import { INTENTS_NAMESPACE } from './namespaces.js';

export { INTENTS_NAMESPACE };

export interface Intent {
  /** The keys the commit stores versions of (tombstones have none). */
  readonly keys: readonly string[];
  /** Their values, in the order of `keys`, where the intent is the commit's redo log. */
  readonly values?: readonly Uint8Array[];
}

const textEncoder = new TextEncoder();

/**
 * Whether a commit on this engine may go without an intent by the engine's clock: it applies its write by
 * a clock of its own, which refuses a record past its deadline (putVersionsAndRecordBy), and
 * tells that clock, which every node is held to (shim/membership.ts).
 */
export function writesWithoutIntents(
  storage: Pick<StorageAdapter, 'putVersionsAndRecordBy' | 'time'>,
): boolean {
  return storage.putVersionsAndRecordBy !== undefined && storage.time !== undefined;
}

/**
 * Whether commits on this engine may spend commit tickets instead of writing intents
 * (shim/commit-tickets.ts): its atomic write swaps an entry, and it swaps entries alone too
 * (how a judge refuses a ticket).
 */
export function spendsTickets(
  storage: Pick<
    StorageAdapter,
    'putVersionsAndRecordSwapping' | 'swapEntry' | 'putVersionsAndRecordBy' | 'time'
  >,
): boolean {
  return (
    storage.putVersionsAndRecordSwapping !== undefined &&
    storage.swapEntry !== undefined &&
    !writesWithoutIntents(storage)
  );
}

/** The intent of a commit storing `versions`, with their values when `withValues`. */
export function encodeIntent(versions: readonly VersionWrite[], withValues: boolean): Uint8Array {
  const keys = versions.map((version) => version.key);
  if (!withValues) return textEncoder.encode(JSON.stringify({ keys }));
  const values = versions.map((version) => Buffer.from(version.value).toString('base64'));
  return textEncoder.encode(JSON.stringify({ keys, values }));
}

/**
 * An intent as stored (its values still base64): what encodeIntent wrote, or undefined for an
 * entry that is not that (damaged in storage): whoever reads one goes on without it, as
 * without an intent, rather than failing (a garbage collection pass failed at every try, a
 * read answered 500).
 */
function parseIntent(bytes: Uint8Array): { keys: string[]; values?: string[] } | undefined {
  const parsed = parseStoredJson(bytes);
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { keys, values } = parsed as { keys?: unknown; values?: unknown };
  if (!isStrings(keys)) return undefined;
  if (values === undefined) return { keys };
  return isStrings(values) && values.length === keys.length ? { keys, values } : undefined;
}

/** An intent's keys, its values left undecoded; undefined for an entry that is not an intent. */
export function keysOfIntent(bytes: Uint8Array): readonly string[] | undefined {
  return parseIntent(bytes)?.keys;
}

/** An intent's keys and values; undefined for an entry that is not an intent (parseIntent). */
export function decodeIntent(bytes: Uint8Array): Intent | undefined {
  const parsed = parseIntent(bytes);
  if (parsed === undefined) return undefined;
  if (parsed.values === undefined) return { keys: parsed.keys };
  return {
    keys: parsed.keys,
    values: parsed.values.map((value) => new Uint8Array(Buffer.from(value, 'base64'))),
  };
}

/**
 * Whether the intent of a commit storing `versions` may carry their values: it fits the
 * engine's largest entry. Pure (an upper bound of encodeIntent's size, from the sizes alone),
 * so a repeated commit chooses as its first attempt did.
 */
export function intentMayHoldValues(
  versions: readonly VersionWrite[],
  maxEntryBytes: number | undefined,
): boolean {
  if (maxEntryBytes === undefined) return true;
  let bytes = 24;
  for (const { key, value } of versions) {
    // The key as JSON escapes it (at most 6 bytes per UTF-16 unit), the value in base64, and
    // the quotes and commas around both.
    bytes += 6 * key.length + 4 * Math.ceil(value.byteLength / 3) + 6;
  }
  return bytes <= maxEntryBytes;
}

/** The versions a redo-log intent holds (none for an intent of keys only). */
export function versionsOfIntent(versionId: string, intent: Intent): VersionWrite[] {
  const { values } = intent;
  if (values === undefined) return [];
  return intent.keys.map((key, index) => ({ key, versionId, value: values[index]! }));
}

/**
 * A committed version's bytes from its commit's intent, while the versions are on their way;
 * undefined when no intent holds them (none left: the versions were written before it went).
 */
export async function valueFromIntent(
  storage: Pick<StorageAdapter, 'getEntry'>,
  key: string,
  versionId: string,
  options: { readonly signal?: AbortSignal },
): Promise<Uint8Array | undefined> {
  const bytes = await storage.getEntry(INTENTS_NAMESPACE, versionId, options);
  if (bytes === undefined) return undefined;
  // Only the value asked for is decoded: a read of one key of a large commit.
  const parsed = parseIntent(bytes);
  const index = parsed === undefined ? -1 : parsed.keys.indexOf(key);
  const value = index < 0 ? undefined : parsed?.values?.[index];
  return value === undefined ? undefined : new Uint8Array(Buffer.from(value, 'base64'));
}
