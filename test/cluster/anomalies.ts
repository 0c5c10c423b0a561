/**
 * Checks a reader transaction's observations for the anomalies aft rules out. Every value
 * written is a token naming the writing transaction and its whole write set, so a reader
 * can tell which other keys must be read at the same version or newer.
 */
export interface Token {
  readonly txid: string;
  readonly keys: readonly string[];
  /** Written by a transaction that its client then aborted: it must never be read. */
  readonly aborted?: boolean;
}

export interface Observation {
  readonly key: string;
  readonly version: string | null;
  readonly value: string | null;
}

/** Problems found in one transaction's reads (empty when there are none). */
export function anomaliesIn(observations: readonly Observation[]): string[] {
  const problems: string[] = [];
  const firstRead = new Map<string, Observation>();
  for (const observation of observations) {
    const earlier = firstRead.get(observation.key);
    if (earlier && earlier.version !== observation.version) {
      problems.push(
        `non-repeatable read of ${observation.key}: ${earlier.version} then ${observation.version}`,
      );
    }
    if (!earlier) firstRead.set(observation.key, observation);
  }
  for (const observation of firstRead.values()) {
    if (observation.value === null || observation.version === null) continue;
    const token = JSON.parse(observation.value) as Token;
    if (token.aborted) problems.push(`dirty read of ${observation.key}: written by aborted ${token.txid}`);
    for (const other of token.keys) {
      const seen = firstRead.get(other);
      if (seen && (seen.version ?? '') < observation.version) {
        problems.push(
          `fractured read: ${observation.key}@${observation.version} (${token.txid}) but ${other}@${seen.version}`,
        );
      }
    }
  }
  return problems;
}
