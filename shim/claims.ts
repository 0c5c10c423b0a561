/**
 * Serializable transactions' claims on keys (docs/protocol.md, "Serializable transactions").
 * One small entry per key, changed only by swapEntry (compare-and-set), so of two commits
 * that claim one key exactly one wins:
 *
 *   claims/<base64url SHA-256 of the key>  =  { holder?: versionId, last?: versionId }
 *
 * `holder` is the serializable transaction committing on the key now; `last`, the version of
 * the key the last serializable writer committed. A commit claims every key it read or
 * writes, and in the same swap validates what it read: no serializable commit wrote the key
 * after the version it read (`last` not newer). It writes its versions and record while it
 * holds them all, then hands each claim back with `last` moved to its own version where it
 * wrote. Claims are taken all at once with no waiting, so there is no deadlock: a claim held
 * by a commit still in flight is a conflict, and the transaction runs again.
 *
 * A holder that crashed holds its claims until it is decided: its record landed (it
 * committed: `last` follows it where it wrote) or an abort marker took its id. Whoever finds
 * a claim held past the orphan bound marks the holder aborted (shim/commit-outcome.ts) and
 * takes the claim over: a crashed committer blocks a key for at most the orphan bound.
 */
import { createHash } from 'node:crypto';
import type { CommitRecord } from '../adapters/contract.js';
import { parseStoredJson } from '../adapters/stored-json.js';
import { isAbortMarker, markAborted } from './commit-outcome.js';
import { ConflictError, StorageUnavailableError } from './errors.js';
import type { GuardedStorage } from './guarded-storage.js';
import { parseVersionId } from './ids.js';
import { CLAIMS_NAMESPACE } from './namespaces.js';
import { NOTHING_READ } from './read-atomic.js';
import { orphanAfterMs, type Timing } from './timing.js';

interface Claim {
  readonly holder?: string;
  readonly last?: string;
}

/** What a commit needs of one key: the version it read (NOTHING_READ: none), and whether it writes it. */
export interface KeyUse {
  readonly key: string;
  /** Undefined when the transaction did not read the key (it only writes it). */
  readonly read: string | undefined;
  readonly writes: boolean;
}

export interface ClaimContext {
  readonly storage: GuardedStorage;
  readonly timing: Timing;
  readonly now: () => number;
  /** Learns a commit found in storage (so a transaction run again reads it). */
  readonly learn: (record: CommitRecord) => void;
}

/** The claims a commit holds: for each key, the `last` it took it with. */
export type HeldClaims = ReadonlyMap<string, { readonly use: KeyUse; readonly last: string | undefined }>;

const encoder = new TextEncoder();

export function claimIdOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

/** Fixed field order: a claim's bytes are what swapEntry compares. */
function encodeClaim(claim: Claim): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      ...(claim.holder !== undefined && { holder: claim.holder }),
      ...(claim.last !== undefined && { last: claim.last }),
    }),
  );
}

/**
 * A claim as encodeClaim writes it; undefined for anything else (damaged in storage). Read
 * as no claim, one whose `last` was lost would let a commit that read an older version of
 * the key through.
 */
function decodeClaim(bytes: Uint8Array): Claim | undefined {
  const parsed = parseStoredJson(bytes);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { holder, last } = parsed as { holder?: unknown; last?: unknown };
  const versionOrNone = (value: unknown) =>
    value === undefined || (typeof value === 'string' && parseVersionId(value) !== undefined);
  if (!versionOrNone(holder) || !versionOrNone(last)) return undefined;
  return {
    ...(holder !== undefined && { holder: holder as string }),
    ...(last !== undefined && { last: last as string }),
  };
}

/**
 * Claims every key of `uses` for `holder` (a version id), validating each read. Throws
 * ConflictError after handing back whatever it took when any key is changed since it was
 * read, or held by a commit in flight.
 */
export async function acquireClaims(
  holder: string,
  uses: readonly KeyUse[],
  context: ClaimContext,
): Promise<HeldClaims> {
  const held = new Map<string, { use: KeyUse; last: string | undefined }>();
  const outcomes = await Promise.allSettled(
    uses.map(async (use) => {
      const last = await acquireOne(holder, use, context);
      held.set(use.key, { use, last });
    }),
  );
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) {
    await releaseClaims(holder, held, false, context);
    throw failed.reason;
  }
  return held;
}

/**
 * Hands the claims back: `last` moves to `holder` on the keys it wrote when it committed.
 * Best effort: a claim someone took over (having judged the holder decided) is left as is.
 */
export async function releaseClaims(
  holder: string,
  held: HeldClaims,
  committed: boolean,
  context: ClaimContext,
): Promise<void> {
  const { swapEntry } = context.storage;
  if (!swapEntry) return;
  await Promise.allSettled(
    [...held.values()].map(({ use, last }) =>
      swapEntry(
        CLAIMS_NAMESPACE,
        claimIdOf(use.key),
        encodeClaim({ holder, ...(last !== undefined && { last }) }),
        encodeClaim(committed && use.writes ? { last: holder } : last === undefined ? {} : { last }),
      ),
    ),
  );
}

const MAX_SWAP_ATTEMPTS = 5;

/** Claims one key; resolves with the `last` it found. */
async function acquireOne(holder: string, use: KeyUse, context: ClaimContext): Promise<string | undefined> {
  const { storage } = context;
  const id = claimIdOf(use.key);
  for (let attempt = 1; ; attempt += 1) {
    const bytes = await storage.getEntry(CLAIMS_NAMESPACE, id);
    const current = bytes === undefined ? undefined : decodeClaim(bytes);
    // What it held is lost: no commit of the key can be validated until an operator deletes it.
    if (bytes !== undefined && current === undefined) {
      throw new StorageUnavailableError(
        `the serializable claim on a key this transaction uses (${CLAIMS_NAMESPACE}/${id}) cannot be read (damaged in storage); serializable commits of that key fail until it is deleted`,
        { retryable: false, details: { claim: id } },
      );
    }
    // A repeated commit finds its own claim from the attempt before.
    if (current?.holder === holder) return current.last;
    const last =
      current?.holder === undefined ? current?.last : await lastAfter(current.holder, current, use, context);
    if (use.read !== undefined && last !== undefined && (use.read === NOTHING_READ || use.read < last)) {
      await learnCommit(last, context);
      throw new ConflictError(
        holder,
        use.key,
        `a serializable commit (${last}) wrote it after the version read`,
      );
    }
    if (use.writes && last !== undefined && holder <= last) {
      // The clock follows the commit it learns: the run again takes a later version id.
      await learnCommit(last, context);
      throw new ConflictError(holder, use.key, `a serializable commit (${last}) wrote it at a later version`);
    }
    const claimed = encodeClaim({ holder, ...(last !== undefined && { last }) });
    if (await storage.swapEntry!(CLAIMS_NAMESPACE, id, bytes, claimed)) return last;
    // A swap that failed may have landed (a retried call): the next read shows it as ours.
    if (attempt >= MAX_SWAP_ATTEMPTS) {
      throw new ConflictError(holder, use.key, 'its claim kept changing while this commit tried to take it');
    }
  }
}

/**
 * `last` once the claim's holder is decided: its version where its record landed and wrote
 * the key, else the claim's own. Throws ConflictError while the holder may still commit.
 */
async function lastAfter(
  holder: string,
  current: Claim,
  use: KeyUse,
  context: ClaimContext,
): Promise<string | undefined> {
  const { storage, timing } = context;
  let record = await storage.getCommitRecord(holder);
  if (record === undefined) {
    const ageMs = context.now() - (parseVersionId(holder)?.physicalMs ?? 0);
    if (ageMs <= orphanAfterMs(timing)) {
      throw new ConflictError(holder, use.key, `another serializable commit (${holder}) holds it`);
    }
    // Past the orphan bound its owner has given up or died: decide it, as a settling pull would.
    const decided = await markAborted(storage, holder);
    record = decided.state === 'committed' ? decided.record : undefined;
  }
  if (record === undefined || isAbortMarker(record)) return current.last;
  context.learn(record);
  return record.writeSet.includes(use.key) ? holder : current.last;
}

/** Learns the commit a conflict names, so the transaction run again reads past it. */
async function learnCommit(versionId: string, context: ClaimContext): Promise<void> {
  const record = await context.storage.getCommitRecord(versionId).catch(() => undefined);
  if (record && !isAbortMarker(record)) context.learn(record);
}

/** What a transaction's commit claims: every key it read, and every key it writes. */
export function keyUsesOf(
  reads: ReadonlyMap<string, string>,
  writes: ReadonlyMap<string, unknown>,
): KeyUse[] {
  const uses: KeyUse[] = [];
  for (const [key, read] of reads) uses.push({ key, read, writes: writes.has(key) });
  for (const key of writes.keys()) if (!reads.has(key)) uses.push({ key, read: undefined, writes: true });
  return uses;
}
