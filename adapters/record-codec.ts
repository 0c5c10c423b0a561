/**
 * The one byte encoding of a commit record, shared by every adapter that stores records as
 * opaque values (file, S3, Redis, DynamoDB). JSON, so an operator can read one with `cat`.
 */
import type { CommitRecord } from './contract.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

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

export function decodeRecord(bytes: Uint8Array | string): CommitRecord {
  const text = typeof bytes === 'string' ? bytes : decoder.decode(bytes);
  const parsed = JSON.parse(text) as Partial<CommitRecord>;
  if (
    typeof parsed.versionId !== 'string' ||
    typeof parsed.txid !== 'string' ||
    !Array.isArray(parsed.writeSet) ||
    !Array.isArray(parsed.deleted) ||
    (parsed.aborted !== undefined && parsed.aborted !== true)
  ) {
    throw new Error(`stored commit record is malformed: ${text.slice(0, 200)}`);
  }
  return copyRecord(parsed as CommitRecord);
}
