/**
 * Step 4 of a commit (docs/protocol.md, "Commit"): its record, written put-if-absent, with
 * its versions where the engine writes both atomically, and by the engine's clock where it
 * has one; then what stands at the record id decides the commit.
 */
import { type CommitRecord, TermedWriteOutcome, type VersionWrite } from '../adapters/contract.js';
import { CommitError, CommitFailure } from './commit-errors.js';
import { type Decided, isAbortMarker, markAborted } from './commit-outcome.js';
import { type CommitTicket, spentTicketValue, TICKET_READY, TICKET_REFUSED } from './commit-tickets.js';
import { AftError, DamagedRecordError, ErrorCode } from './errors.js';
import type { GuardedStorage } from './guarded-storage.js';
import { parseVersionId } from './ids.js';
import { REFUSALS_NAMESPACE, TICKETS_NAMESPACE } from './namespaces.js';
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
  return created ? { state: 'committed', record } : standingAt(record, context);
}

/** What stands at the record's id, which this commit's write found taken. */
async function standingAt(record: CommitRecord, { storage }: RecordContext): Promise<Decided> {
  // An earlier attempt of this same commit landed (its reply was lost), or a marker did.
  const existing = await storage.getCommitRecord(record.versionId);
  // Taken, yet nothing readable there: a damaged record (GuardedStorage reads one as absent).
  if (existing === undefined) throw new DamagedRecordError(record.versionId);
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

/**
 * The versions and record in one write that spends the commit's ticket (shim/commit-tickets.ts):
 * it lands only while the ticket is ready (not refused, not spent). Decided as putRecord;
 * throws JUDGED_DEAD when refused: nothing was written, and no repeat can be.
 */
export async function putRecordSpending(
  record: CommitRecord,
  versions: readonly VersionWrite[],
  ticket: CommitTicket,
  context: RecordContext,
): Promise<Decided> {
  const outcome = await context.storage.putVersionsAndRecordSwapping!(versions, record, {
    namespace: TICKETS_NAMESPACE,
    id: ticket.id,
    expected: TICKET_READY,
    value: spentTicketValue(record.versionId),
  });
  if (outcome === TermedWriteOutcome.REFUSED) {
    throw new CommitError(
      CommitFailure.JUDGED_DEAD,
      `commit of ${record.txid} was judged dead and refused before its record landed`,
      undefined,
    );
  }
  return outcome === TermedWriteOutcome.CREATED
    ? { state: 'committed', record }
    : standingAt(record, context);
}

/**
 * Decides a commit whose write's outcome is unknown and may no longer be sent again: refuses
 * its ticket, as a settling pull would (no write spending it lands after), then marks its
 * record id, which answers what landed before.
 */
export async function refuseTicket(
  record: CommitRecord,
  ticket: CommitTicket,
  context: RecordContext,
): Promise<Decided> {
  await context.storage.swapEntry!(TICKETS_NAMESPACE, ticket.id, TICKET_READY, TICKET_REFUSED);
  return markAborted(context.storage, record.versionId);
}

/** A refusal's value (shim/namespaces.ts, `refusals`): when it was written. */
export function refusalValue(atMs: number): Uint8Array {
  return textEncoder.encode(JSON.stringify({ atMs }));
}

const textEncoder = new TextEncoder();

/** Version ids embed the txid, so a record under this id from another transaction is a bug. */
export function checkOwnRecord(existing: CommitRecord | undefined, txid: string): void {
  if (existing?.txid !== txid) {
    throw new AftError(
      ErrorCode.INTERNAL,
      `commit record ${existing?.versionId} belongs to ${existing?.txid}`,
    );
  }
}
