/**
 * Abort markers (docs/protocol.md, "Abort markers"): a commit is decided by whichever lands
 * first at its record id, the real record (committed) or a marker (aborted). Whoever judges a
 * commit dead (the collector before it deletes orphan versions, a node before it claims to
 * know a stretch of time, a node answering for a transaction whose owner died, a lookup that
 * settles an idempotency claim) writes the marker put-if-absent first. So a record that
 * arrives late (held by the network, or written by a process that was paused) can never be
 * acknowledged after someone acted on its absence: its put-if-absent loses, and its
 * committer reports the transaction aborted.
 */
import type { CallOptions, CommitRecord, StorageAdapter } from '../adapters/contract.js';
import { DamagedRecordError } from './errors.js';
import { parseVersionId } from './ids.js';

/** The marker that takes a record id for an aborted commit. */
export function abortMarker(versionId: string): CommitRecord {
  return {
    versionId,
    txid: parseVersionId(versionId)?.txid ?? '',
    writeSet: [],
    deleted: [],
    aborted: true,
  };
}

export function isAbortMarker(record: CommitRecord | undefined): boolean {
  return record?.aborted === true;
}

/** How a commit that was judged dead turned out to stand. */
export type Decided =
  /** `created`: this call wrote the marker (else one was there already). */
  | { readonly state: 'aborted'; readonly created?: true }
  | { readonly state: 'committed'; readonly record: CommitRecord };

/**
 * Decides a commit whose record is absent as far as the caller knows: writes its abort
 * marker unless a record (real, or another marker) is there first, and answers what stands.
 */
export async function markAborted(
  storage: StorageAdapter,
  versionId: string,
  options: CallOptions = {},
): Promise<Decided> {
  if (await storage.putCommitRecord(abortMarker(versionId), options))
    return { state: 'aborted', created: true };
  const existing = await storage.getCommitRecord(versionId, options);
  // A record id is never deleted while anyone may still mark it (the collector keeps records
  // and markers for the outcome retention), so the loser of the put finds the winner, unless
  // what took the id cannot be read (GuardedStorage reads a damaged record as absent).
  if (existing === undefined || existing.damaged) throw new DamagedRecordError(versionId);
  return isAbortMarker(existing) ? { state: 'aborted' } : { state: 'committed', record: existing };
}

/**
 * markAborted, for a background pass that must go on past a commit it cannot decide:
 * undefined where the record id holds a damaged record (DamagedRecordError).
 */
export async function decideUnlessDamaged(
  storage: StorageAdapter,
  versionId: string,
  options: CallOptions = {},
): Promise<Decided | undefined> {
  try {
    return await markAborted(storage, versionId, options);
  } catch (error) {
    if (error instanceof DamagedRecordError) return undefined;
    throw error;
  }
}
