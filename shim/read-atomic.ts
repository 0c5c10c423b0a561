/**
 * The read rule of protocol.md §6, a pure function over the metadata and a transaction's
 * read set. It chooses which committed version of a key a transaction may read so that its
 * reads stay read-atomic: no fractured reads, repeatable reads, only committed data.
 *
 * The read set maps every key the transaction has read to the version it read, or to
 * NOTHING_READ when the read found no version. NOTHING_READ sorts below every version id,
 * so a later version of that key conflicts with the earlier empty read, exactly like a
 * later version of a key that was read with a value.
 */
import type { MetadataView } from './metadata.js';

/** The read-set entry of a key that was read and had no visible version. */
export const NOTHING_READ = '';

export type ReadSet = ReadonlyMap<string, string>;

/**
 * The newest version of `key` that is valid for a transaction holding `readSet`, or undefined
 * when the transaction must see no version. The caller records the answer in the read set
 * (NOTHING_READ for undefined) before any other read of the same transaction is chosen.
 */
export function chooseVersion(key: string, readSet: ReadSet, metadata: MetadataView): string | undefined {
  const alreadyRead = readSet.get(key);
  if (alreadyRead !== undefined) return alreadyRead === NOTHING_READ ? undefined : alreadyRead;

  // Lower bound: the newest version already read whose transaction also wrote `key`. Reading
  // anything older of `key` would fracture that transaction's writes.
  let lower: string | undefined;
  for (const versionId of readSet.values()) {
    if (versionId === NOTHING_READ || (lower !== undefined && versionId <= lower)) continue;
    if (metadata.writeSetOf(versionId)?.has(key)) lower = versionId;
  }

  const versions = metadata.versionsOf(key);
  for (let index = versions.length - 1; index >= 0; index--) {
    const candidate = versions[index]!;
    if (lower !== undefined && candidate < lower) break;
    if (isValid(candidate, readSet, metadata)) return candidate;
  }
  // `lower` is always valid (every pair in the read set is mutually consistent); it is only
  // reached here if the index no longer lists it.
  return lower;
}

/**
 * A candidate version t is valid when the transaction has read no key of t's write set at an
 * older version than t: otherwise it would see part of t and miss the rest.
 */
function isValid(candidate: string, readSet: ReadSet, metadata: MetadataView): boolean {
  const writeSet = metadata.writeSetOf(candidate);
  if (!writeSet) return false;
  if (writeSet.size <= readSet.size) {
    for (const written of writeSet) {
      const read = readSet.get(written);
      if (read !== undefined && read < candidate) return false;
    }
  } else {
    for (const [readKey, read] of readSet) {
      if (read < candidate && writeSet.has(readKey)) return false;
    }
  }
  return true;
}
