/**
 * Exactly-once commits by idempotency key (protocol.md, "Idempotency keys"). A function that
 * Lambda retries after its transaction committed must not apply its writes again; it must
 * get the first run's result back. So a transaction begun with an idempotency key claims that
 * key while it commits, and stores its result in the claim:
 *
 *   - The claim is an entry written put-if-absent after the versions and before the commit
 *     record. The transaction commits only through its record, so the claim's result is
 *     "recorded" exactly when the transaction is committed: the record is the one atomic step.
 *   - Claims of one key form generations: `<hash>.<epoch>.000000`, `.000001`, ... where the
 *     epoch is the claim's version time divided by the time-to-live. A generation is written
 *     only when every earlier one (in this epoch, the one before and, near its end, the next)
 *     is settled as dead (its transaction can no longer commit: whoever judged it dead put an
 *     abort marker at its record id, shim/commit-outcome.ts), abandoned or expired. So at most
 *     one transaction per key commits within the time-to-live. (Claims in two epochs cannot
 *     race through put-if-absent; claimKey's second look settles that case.)
 *   - Nothing deletes a claim of the current or the previous epoch, so a key's generations
 *     there have no gaps and are read one by one, by id, until the first absent one (no
 *     listing on the hot path). Garbage collection deletes whole older epochs, whose claims
 *     have all expired and into which nobody writes any more.
 *   - A lookup that finds the claim's record marks the claim committed, and so does garbage
 *     collection before it may delete records (gc/collector.ts): a claim's outcome stays
 *     known after its record is collected, and a commit costs no write besides the claim.
 */

import { createHash } from 'node:crypto';
import type { CallOptions, StorageAdapter } from '../adapters/contract.js';
import { abortMarker, isAbortMarker, markAborted } from './commit-outcome.js';
import { DuplicateCommittedError, DuplicateInProgressError } from './errors.js';
import type { GuardedStorage } from './guarded-storage.js';
import { parseVersionId } from './ids.js';
import { orphanAfterMs, type Timing } from './timing.js';

/** id = `<sha256 of the key, hex>.<epoch>.<generation, 6 digits>`, value = JSON of an IdempotencyClaim. */
export { IDEMPOTENCY_NAMESPACE } from './namespaces.js';

import { IDEMPOTENCY_NAMESPACE } from './namespaces.js';

export interface IdempotencyClaim {
  readonly key: string;
  readonly txid: string;
  readonly versionId: string;
  /** After this instant the claim no longer blocks a new run of the key. */
  readonly expiresAtMs: number;
  /** The handler's result, base64; null for none. */
  readonly result: string | null;
  /** Set once the commit record is known to exist; until then the record decides. */
  readonly committed: boolean;
  /** Set by a claimant that stood back before writing its record: the claim is dead. */
  readonly abandoned?: boolean;
}

/** Where a key stands, for a transaction that wants to begin or commit with it. */
export type KeyStanding =
  | { readonly state: 'free'; readonly nextId: string }
  | { readonly state: 'committed'; readonly claim: IdempotencyClaim }
  | { readonly state: 'pending'; readonly claim: IdempotencyClaim }
  | { readonly state: 'own'; readonly id: string; readonly claim: IdempotencyClaim };

export interface IdempotencyContext {
  /** Storage through its one door (shim/guarded-storage.ts). */
  readonly storage: GuardedStorage;
  readonly timing: Timing;
  readonly now: () => number;
  /** How long a committed key keeps its result; also the length of a claim epoch. */
  readonly idempotencyTtlMs: number;
}

const GENERATION_DIGITS = 6;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function claimId(hash: string, epoch: number, generation: number): string {
  return `${hash}.${epoch}.${String(generation).padStart(GENERATION_DIGITS, '0')}`;
}

/** The epoch of a claim id (its middle part), or undefined for an id of another shape. */
export function epochOfClaimId(id: string): number | undefined {
  const match = /^[0-9a-f]{64}\.(\d+)\.\d+$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

export function epochAt(ms: number, ttlMs: number): number {
  return Math.floor(ms / ttlMs);
}

export function encodeClaim(claim: IdempotencyClaim): Uint8Array {
  return textEncoder.encode(JSON.stringify(claim));
}

export function decodeClaim(value: Uint8Array): IdempotencyClaim | undefined {
  try {
    const claim = JSON.parse(textDecoder.decode(value)) as IdempotencyClaim;
    return typeof claim.txid === 'string' && typeof claim.versionId === 'string' ? claim : undefined;
  } catch {
    return undefined;
  }
}

/**
 * After this instant, a claim whose commit record is absent may be judged dead: whoever does
 * so first marks its record id aborted (shim/commit-outcome.ts), so no late record can follow.
 */
export function claimSettledAfterMs(claim: IdempotencyClaim, timing: Timing): number {
  return (parseVersionId(claim.versionId)?.physicalMs ?? 0) + orphanAfterMs(timing);
}

/**
 * The epochs whose claims bear on a claim or lookup in epoch `epoch`: the one before (its
 * claims may still be live), its own, and the next one once some node's clock may have
 * reached it. (Around a boundary, two runs of one key can have version times in different
 * epochs; each must see the other's claim.)
 */
function epochsAround(epoch: number, context: IdempotencyContext): number[] {
  const nextStartMs = (epoch + 1) * context.idempotencyTtlMs;
  const nextReached = context.now() + context.timing.maxClockSkewMs >= nextStartMs;
  return nextReached ? [epoch - 1, epoch, epoch + 1] : [epoch - 1, epoch];
}

/**
 * Reads one epoch's claims of `key` in generation order, by id, up to the first absent one.
 * Resolves with the first that stands in the way of `txid` (its own claim included), or
 * with the id of the next generation when none does.
 */
async function scanEpoch(
  key: string,
  hash: string,
  epoch: number,
  txid: string | undefined,
  context: IdempotencyContext,
  call: CallOptions,
): Promise<KeyStanding> {
  const { storage, now, timing } = context;
  for (let generation = 0; ; generation++) {
    const id = claimId(hash, epoch, generation);
    const value = await storage.getEntry(IDEMPOTENCY_NAMESPACE, id, call);
    if (value === undefined) return { state: 'free', nextId: id };
    const claim = decodeClaim(value);
    if (!claim || claim.key !== key) continue;
    if (claim.txid === txid) return { state: 'own', id, claim };
    if (claim.abandoned || claim.expiresAtMs <= now()) continue;
    if (claim.committed) return { state: 'committed', claim };
    let record = await storage.getCommitRecord(claim.versionId, call);
    if (record === undefined) {
      if (now() <= claimSettledAfterMs(claim, timing)) return { state: 'pending', claim };
      // Judged dead: the marker makes sure its record can never land after this look.
      const decided = await markAborted(storage, claim.versionId, call);
      record = decided.state === 'committed' ? decided.record : abortMarker(claim.versionId);
    }
    if (isAbortMarker(record)) continue;
    await markCommitted(id, claim, storage, call).catch(() => undefined);
    return { state: 'committed', claim: { ...claim, committed: true } };
  }
}

/**
 * Reads the claims of `key` in the epochs around that of `atMs` (the claimant's version
 * time, or now) and says where the key stands for `txid` (or for a new transaction when
 * `txid` is undefined). A claim's transaction committed when the claim says so or its record
 * exists; it is dead when it was abandoned, the record window has passed without a record,
 * or the claim expired.
 */
export async function standingOf(
  key: string,
  txid: string | undefined,
  context: IdempotencyContext,
  options: CallOptions & { atMs?: number } = {},
): Promise<KeyStanding> {
  const call = options.signal ? { signal: options.signal } : {};
  const current = epochAt(options.atMs ?? context.now(), context.idempotencyTtlMs);
  const hash = keyHash(key);
  let free: KeyStanding | undefined;
  for (const epoch of epochsAround(current, context)) {
    const standing = await scanEpoch(key, hash, epoch, txid, context, call);
    if (standing.state !== 'free') return standing;
    if (epoch === current) free = standing;
  }
  return free!;
}

/**
 * Claims `key` for a committing transaction, before its commit record is written. Resolves
 * with the claim's entry id; throws DuplicateCommittedError or DuplicateInProgressError when
 * another transaction holds the key.
 *
 * Around an epoch boundary two claimants may write to different epochs' generations, where
 * put-if-absent cannot make one of them lose. So a claimant that wrote while a neighbouring
 * epoch may still get claims reads those again: of two that both wrote, at least one sees the
 * other (each read follows its own write), and one that sees another live claim abandons its
 * own and stands back. Both may stand back; neither then commits, which is safe.
 */
export async function claimKey(
  claim: IdempotencyClaim,
  context: IdempotencyContext,
  options: CallOptions = {},
): Promise<string> {
  const atMs = parseVersionId(claim.versionId)?.physicalMs ?? context.now();
  for (;;) {
    const standing = await standingOf(claim.key, claim.txid, context, { ...options, atMs });
    switch (standing.state) {
      case 'own':
        if (standing.claim.abandoned) throw new DuplicateInProgressError(claim.key, claim.txid);
        await standBackFromNeighbours(standing.id, claim, atMs, context, options);
        return standing.id;
      case 'committed':
        throw new DuplicateCommittedError(claim.key, standing.claim.txid);
      case 'pending':
        throw new DuplicateInProgressError(claim.key, standing.claim.txid);
      case 'free':
        // Lost a race for this generation: look again (the winner may be dead already).
        if (
          await context.storage.createEntry(
            IDEMPOTENCY_NAMESPACE,
            standing.nextId,
            encodeClaim(claim),
            options,
          )
        ) {
          await standBackFromNeighbours(standing.nextId, claim, atMs, context, options);
          return standing.nextId;
        }
    }
  }
}

/**
 * After writing its claim, reads again the neighbouring epochs whose claimants may not have
 * seen it: the one before while its claims can still be written (within the record window
 * and skew after the boundary), and the next once a clock may have reached it. A live claim
 * there makes this claimant abandon its own and throw.
 */
async function standBackFromNeighbours(
  id: string,
  claim: IdempotencyClaim,
  atMs: number,
  context: IdempotencyContext,
  options: CallOptions,
): Promise<void> {
  const own = epochAt(atMs, context.idempotencyTtlMs);
  // A claim is followed by its record only if written within the record deadline of its
  // version time (shim/commit.ts), so past that (and the skew) the previous epoch is done.
  const previousStillWritten =
    context.now() <=
    own * context.idempotencyTtlMs + context.timing.recordDeadlineMs + context.timing.maxClockSkewMs;
  const neighbours = epochsAround(own, context).filter(
    (epoch) => epoch !== own && (epoch > own || previousStillWritten),
  );
  const call = options.signal ? { signal: options.signal } : {};
  const hash = keyHash(claim.key);
  for (const epoch of neighbours) {
    const standing = await scanEpoch(claim.key, hash, epoch, claim.txid, context, call);
    if (standing.state !== 'committed' && standing.state !== 'pending') continue;
    await context.storage.putEntry(
      IDEMPOTENCY_NAMESPACE,
      id,
      encodeClaim({ ...claim, abandoned: true }),
      options,
    );
    if (standing.state === 'committed') throw new DuplicateCommittedError(claim.key, standing.claim.txid);
    throw new DuplicateInProgressError(claim.key, standing.claim.txid);
  }
}

/** Records that a claim's transaction committed (only ever true, so a blind write is safe). */
export async function markCommitted(
  id: string,
  claim: IdempotencyClaim,
  storage: StorageAdapter,
  options: CallOptions = {},
): Promise<void> {
  await storage.putEntry(IDEMPOTENCY_NAMESPACE, id, encodeClaim({ ...claim, committed: true }), options);
}
