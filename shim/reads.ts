/**
 * A node's reads (docs/protocol.md, "Reading"): the read rule chooses each key's version
 * (shim/read-atomic.ts), then the values come from the cache or storage, a bounded number at
 * a time, never more bytes in one answer than a transaction may write.
 */
import { mapLimit } from '../adapters/map-limit.js';
import type { ReadItem } from '../wire/api.js';
import type { VersionCache } from './cache.js';
import type { CommitLearner } from './commit-learning.js';
import { StorageUnavailableError, TooLargeError } from './errors.js';
import type { GuardedStorage } from './guarded-storage.js';
import { valueFromIntent } from './intents.js';
import type { NodeLimits } from './limits.js';
import type { Metadata } from './metadata.js';
import { chooseVersion, NOTHING_READ } from './read-atomic.js';
import { callOptions, type SignalSource } from './signal-source.js';
import type { NodeMetrics } from './telemetry.js';
import type { BufferedValue, Transaction } from './transaction.js';

export interface ReadContext {
  /** Storage through its one door (shim/guarded-storage.ts). */
  readonly storage: GuardedStorage;
  readonly metadata: Metadata;
  readonly cache: VersionCache;
  readonly learner: CommitLearner;
  readonly metrics: NodeMetrics;
  readonly limits: NodeLimits;
}

/** One key of a batch read: its buffered write, or the committed version the read rule chose. */
interface ReadChoice {
  readonly key: string;
  readonly buffered?: BufferedValue;
  readonly version?: string;
  /** Chosen by this batch (not read before by the transaction, nor buffered). */
  readonly chosenNow: boolean;
}

/** A read chose a pushed record that storage does not confirm; it is gone from the metadata now. */
class PushedRecordDropped extends Error {}

/** Versions one batch read fetches from storage at once. */
const READS_IN_FLIGHT = 64;
/** A batch is chosen again at most this often after dropping pushed records. */
const MAX_READ_ATTEMPTS = 4;

/**
 * Reads `keys` for `txn`. A pushed record storage does not confirm is dropped as the read
 * finds it; the batch's choices may have leaned on it, so they are undone and made again
 * without it. Reads of earlier batches never chose it (they would have found it then).
 */
export async function readVersions(
  txn: Transaction,
  keys: readonly string[],
  context: ReadContext,
  signal: SignalSource,
): Promise<ReadItem[]> {
  for (let attempt = 1; ; attempt++) {
    const choices = chooseVersions(txn, keys, context.metadata);
    try {
      return await readChoices(choices, context, signal);
    } catch (error) {
      if (!(error instanceof PushedRecordDropped) || attempt >= MAX_READ_ATTEMPTS) throw error;
      for (const choice of choices) if (choice.chosenNow) txn.forgetRead(choice.key);
    }
  }
}

/** The read rule for each key, recorded in the read set before the next key is chosen. */
function chooseVersions(txn: Transaction, keys: readonly string[], metadata: Metadata): ReadChoice[] {
  return keys.map((key): ReadChoice => {
    const buffered = txn.writes.get(key);
    if (buffered !== undefined) return { key, buffered, chosenNow: false };
    const chosenNow = !txn.readSet.has(key);
    const version = chooseVersion(key, txn.readSet, metadata);
    txn.recordRead(key, version ?? NOTHING_READ);
    return version === undefined ? { key, chosenNow } : { key, version, chosenNow };
  });
}

/**
 * Reads the chosen versions, a bounded number at a time, and refuses an answer whose values
 * add up past the transaction limit: one request never holds more than a transaction may
 * write, whatever the client asks for.
 */
function readChoices(
  choices: readonly ReadChoice[],
  context: ReadContext,
  signal: SignalSource,
): Promise<ReadItem[]> {
  const maxBytes = context.limits.maxTransactionBytes;
  let answerBytes = 0;
  const tooLarge = () =>
    new TooLargeError(`a read may return at most ${maxBytes} bytes of values: read fewer keys at once`);
  return mapLimit(choices, READS_IN_FLIGHT, async (choice) => {
    if (answerBytes > maxBytes) throw tooLarge();
    const result = await readChoice(choice, context, signal);
    answerBytes += result.value?.byteLength ?? 0;
    if (answerBytes > maxBytes) throw tooLarge();
    return result;
  });
}

async function readChoice(choice: ReadChoice, context: ReadContext, signal: SignalSource): Promise<ReadItem> {
  const { key, buffered, version } = choice;
  if (buffered !== undefined) return { key, value: buffered ?? undefined, version: undefined };
  if (version === undefined) return { key, value: undefined, version };
  if (context.metadata.isTombstone(key, version)) {
    // A pushed tombstone would hide the key with no storage call to notice: check it first.
    if (!(await context.learner.verify(version, signal))) throw new PushedRecordDropped();
    return { key, value: undefined, version };
  }
  const value = await fetchVersion(key, version, context, signal);
  if (value !== undefined) return { key, value, version };
  if (!(await context.learner.verify(version, signal))) throw new PushedRecordDropped();
  // Committed, and its versions not written yet: they are in its intent (shim/intents.ts).
  const pending = await fetchFromIntent(key, version, context, signal);
  if (pending !== undefined) return { key, value: pending, version };
  context.metrics.storageError('getVersion');
  throw new StorageUnavailableError(`committed version ${version} of a key is missing from storage`);
}

/** A version's bytes, from the cache or storage; undefined when storage does not hold it. */
async function fetchVersion(
  key: string,
  versionId: string,
  { cache, metrics, storage }: ReadContext,
  signal: SignalSource,
): Promise<Uint8Array | undefined> {
  const cached = cache.get(key, versionId);
  if (cached) {
    metrics.cacheHit();
    return cached;
  }
  metrics.cacheMiss();
  const value = await storage.getVersion({ key, versionId }, callOptions(signal));
  if (value !== undefined) cache.set(key, versionId, value);
  return value;
}

/**
 * A committed version storage did not hold when asked: from its commit's intent, or, where the
 * intent went meanwhile (the versions were written first), from storage again.
 */
async function fetchFromIntent(
  key: string,
  versionId: string,
  { cache, metrics, storage }: ReadContext,
  signal: SignalSource,
): Promise<Uint8Array | undefined> {
  const options = callOptions(signal);
  const pending = await valueFromIntent(storage, key, versionId, options);
  if (pending !== undefined) metrics.readFromIntent?.();
  const value = pending ?? (await storage.getVersion({ key, versionId }, options));
  if (value !== undefined) cache.set(key, versionId, value);
  return value;
}
