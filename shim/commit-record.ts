/**
 * Step 4 of a commit (docs/protocol.md, "Commit"): its record, written put-if-absent, with
 * its versions where the engine writes both atomically, and by the engine's clock where it
 * has one; then what stands at the record id decides the commit.
 */
import { type CommitRecord, TermedWriteOutcome, type VersionWrite } from '../adapters/contract.js';
import { CommitError, CommitFailure } from './commit-errors.js';
import { type Decided, isAbortMarker } from './commit-outcome.js';
import { AftError, ErrorCode } from './errors.js';
import type { GuardedStorage } from './guarded-storage.js';
import { parseVersionId } from './ids.js';
import { REFUSALS_NAMESPACE } from './namespaces.js';
import type { Timing } from './timing.js';

/** What writing a record needs of the commit's context. */
export interface RecordContext {
  readonly storage: GuardedStorage;
  readonly timing: Timing;
}

/**
 * Writes the record put-if-absent (with `atomicVersions` in the same atomic write, when
 * given); when one is there already, answers what stands there.
 */
export async function putRecord(
  record: CommitRecord,
  atomicVersions: readonly VersionWrite[] | undefined,
  termed: boolean,
  context: RecordContext,
): Promise<Decided> {
  const { storage } = context;
  const created = termed
    ? await putRecordByDeadline(record, atomicVersions ?? [], context)
    : atomicVersions
      ? await storage.putVersionsAndRecord!(atomicVersions, record)
      : await storage.putCommitRecord(record);
  if (created) return { state: 'committed', record };
  // An earlier attempt of this same commit landed (its reply was lost), or a marker did.
  const existing = await storage.getCommitRecord(record.versionId);
  if (isAbortMarker(existing)) return { state: 'aborted' };
  checkOwnRecord(existing, record.txid);
  return { state: 'committed', record: existing! };
}

/**
 * The versions and record in one write the engine applies only by the intent deadline, by its
 * own clock, and only while the txid is not refused (a look-up judged the transaction dead,
 * shim/commit-learning.ts). True when written, false when the record id is taken; throws
 * DEADLINE_PASSED or JUDGED_DEAD when refused: nothing was written, and no repeat can be.
 */
async function putRecordByDeadline(
  record: CommitRecord,
  versions: readonly VersionWrite[],
  { storage, timing }: RecordContext,
): Promise<boolean> {
  const versionMs = parseVersionId(record.versionId)?.physicalMs ?? 0;
  const outcome = await storage.putVersionsAndRecordBy!(versions, record, {
    deadlineMs: versionMs + timing.intentDeadlineMs,
    unless: { namespace: REFUSALS_NAMESPACE, id: record.txid },
  });
  if (outcome === TermedWriteOutcome.LATE) {
    throw new CommitError(
      CommitFailure.DEADLINE_PASSED,
      `commit of ${record.txid} reached storage past its ${timing.intentDeadlineMs} ms deadline; it is aborted`,
      undefined,
    );
  }
  if (outcome === TermedWriteOutcome.REFUSED) {
    throw new CommitError(
      CommitFailure.JUDGED_DEAD,
      `commit of ${record.txid} was judged dead and refused before its record landed`,
      undefined,
    );
  }
  return outcome === TermedWriteOutcome.CREATED;
}

/** Version ids embed the txid, so a record under this id from another transaction is a bug. */
export function checkOwnRecord(existing: CommitRecord | undefined, txid: string): void {
  if (existing?.txid !== txid) {
    throw new AftError(
      ErrorCode.INTERNAL,
      `commit record ${existing?.versionId} belongs to ${existing?.txid}`,
    );
  }
}
