/**
 * Local garbage collection (protocol.md §8): which committed transactions a node may drop
 * from its metadata.
 *
 * A transaction T that began when the node's metadata held version v of key k never reads
 * k at a version older than v (docs/protocol.md proves it by induction over T's reads: v
 * stays valid for T, and the read rule picks the newest valid version). So a version u of
 * k is unneeded by every running transaction once a newer version of k was learned before
 * the oldest of them began; a transaction is dropped once that holds for every key it wrote.
 */
import type { Metadata } from './metadata.js';

/**
 * Version ids of the transactions whose every written key has a newer version learned at
 * or before `horizonSeq` (a value of `Metadata.learnedSeq`).
 */
export function supersededBefore(metadata: Metadata, horizonSeq: number): string[] {
  const unneededKeys = new Map<string, number>();
  for (const key of metadata.keysWithSeveralVersions()) {
    const versions = metadata.versionsOf(key);
    let newerKnown = false;
    for (let index = versions.length - 1; index >= 0; index -= 1) {
      const versionId = versions[index]!;
      if (newerKnown) unneededKeys.set(versionId, (unneededKeys.get(versionId) ?? 0) + 1);
      if ((metadata.learnedSeqOf(versionId) ?? Number.POSITIVE_INFINITY) <= horizonSeq) newerKnown = true;
    }
  }
  const removable: string[] = [];
  for (const [versionId, count] of unneededKeys) {
    if (count === metadata.writeSetOf(versionId)?.size) removable.push(versionId);
  }
  return removable;
}
