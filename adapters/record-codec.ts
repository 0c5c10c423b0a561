/**
 * The one byte encoding of a commit record, shared by every adapter that stores records as
 * opaque values (file, S3, Redis, DynamoDB). JSON, so an operator can read one with `cat`.
 */
import type { CommitRecord } from './contract.js';
import { isStrings, parseStoredJson } from './stored-json.js';

const encoder = new TextEncoder();

/** A plain copy holding only the contract's fields (no caller-owned arrays or extra fields). */
export function copyRecord(record: CommitRecord): CommitRecord {
  const copy = {
    versionId: record.versionId,
    txid: record.txid,
    writeSet: [...record.writeSet],
    deleted: [...record.deleted],
  };
  return record.aborted === true ? { ...copy, aborted: true } : copy;
}

export function encodeRecord(record: CommitRecord): Uint8Array {
  return encoder.encode(JSON.stringify(copyRecord(record)));
}

/** The record `stored` holds, or undefined for anything that is not one (damaged). */
function decodeRecord(stored: Uint8Array | string): CommitRecord | undefined {
  const parsed = parseStoredJson(stored) as Partial<CommitRecord> | null | undefined;
  if (
    typeof parsed?.versionId !== 'string' ||
    typeof parsed.txid !== 'string' ||
    !isStrings(parsed.writeSet) ||
    !isStrings(parsed.deleted) ||
    (parsed.aborted !== undefined && parsed.aborted !== true)
  ) {
    return undefined;
  }
  return copyRecord(parsed as CommitRecord);
}

/**
 * What an adapter answers for a record stored under `versionId` that it cannot read: bytes
 * that do not decode, a record of another shape, or one naming another id than the one it is
 * stored under (contract.ts, CommitRecord.damaged). Its write set is unknown, so empty.
 */
export function damagedRecord(versionId: string): CommitRecord {
  return { versionId, txid: '', writeSet: [], deleted: [], damaged: true };
}

/** The record stored under `versionId`: decoded, or damagedRecord when it does not decode as one. */
export function decodeStoredRecord(bytes: Uint8Array | string, versionId: string): CommitRecord {
  const record = decodeRecord(bytes);
  return record?.versionId === versionId ? record : damagedRecord(versionId);
}
