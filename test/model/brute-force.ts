/**
 * A brute-force model of read atomic isolation (protocol.md §1, §6), written from the
 * definitions and sharing no code with the shim: committed transactions are plain objects,
 * read sets plain maps, and every check enumerates everything.
 */

export const NOTHING = '';

export interface ModelCommit {
  readonly versionId: string;
  /** key -> value written; null is a delete. */
  readonly writes: ReadonlyMap<string, string | null>;
}

/** key -> version id read (NOTHING when the read found nothing). */
export type ModelReadSet = ReadonlyMap<string, string>;

/**
 * Whether reading `key` at `candidate` (a commit that wrote key), or at NOTHING, keeps the
 * transaction's reads atomic, given what it read so far. Checked both ways:
 *  - the candidate's transaction wrote l, and T read l at an older version (or nothing): T
 *    would see part of the candidate and miss the rest;
 *  - T read some l at version U, U also wrote key, and the candidate is older than U (or is
 *    nothing): T would see part of U and miss the rest.
 */
export function isValidRead(
  key: string,
  candidate: ModelCommit | undefined,
  readSet: ModelReadSet,
  commits: ReadonlyMap<string, ModelCommit>,
): boolean {
  const candidateId = candidate?.versionId ?? NOTHING;
  for (const [readKey, readVersion] of readSet) {
    if (candidate?.writes.has(readKey) && readVersion < candidateId) return false;
    if (readVersion === NOTHING) continue;
    const reader = commits.get(readVersion);
    if (reader?.writes.has(key) && candidateId < readVersion) return false;
  }
  return true;
}

/** The newest valid committed version of `key` (NOTHING when none is valid), by enumeration. */
export function newestValidRead(
  key: string,
  readSet: ModelReadSet,
  commits: ReadonlyMap<string, ModelCommit>,
): string {
  let best = NOTHING;
  for (const commit of commits.values()) {
    if (!commit.writes.has(key) || commit.versionId <= best) continue;
    if (isValidRead(key, commit, readSet, commits)) best = commit.versionId;
  }
  return best;
}

export interface ObservedRead {
  readonly key: string;
  /** The committed version read, NOTHING for none; undefined when it came from T's own writes. */
  readonly version: string | undefined;
}

/**
 * Every violation of G2 (no fractured reads) and G3 (repeatable reads) among one
 * transaction's reads of committed data, by checking every pair.
 */
export function anomaliesOf(
  reads: readonly ObservedRead[],
  commits: ReadonlyMap<string, ModelCommit>,
): string[] {
  const found: string[] = [];
  const committedReads = reads.filter(
    (read): read is ObservedRead & { version: string } => read.version !== undefined,
  );
  for (const first of committedReads) {
    for (const second of committedReads) {
      if (first.key === second.key && first.version !== second.version) {
        found.push(`non-repeatable read of ${first.key}: ${first.version} then ${second.version}`);
      }
      const writer = first.version === NOTHING ? undefined : commits.get(first.version);
      if (writer?.writes.has(second.key) && second.version < first.version) {
        found.push(
          `fractured read: ${first.key}@${first.version} but ${second.key}@${second.version || 'nothing'}, older than its writer`,
        );
      }
    }
  }
  return found;
}
