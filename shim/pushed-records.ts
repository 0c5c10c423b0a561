/**
 * What a node accepts of the commit records a peer pushes (docs/protocol.md, "Pushed
 * records"). A push is only a hint that saves waiting for the next pull: the peer route needs
 * the peer credential, and even a genuine peer is checked here, cheaply, record by record,
 * with no storage call. A record that fails is dropped (and logged by the caller); storage
 * stays the truth, and the node learns every real commit from it anyway.
 *
 * What no shape check can see (a well-formed record that storage does not hold, or holds with
 * another write set) is caught where it would matter: a read that lands on a pushed record's
 * tombstone, or finds its version missing, checks the record in storage first
 * (CommitLearner.verify).
 */
import type { CommitRecord } from '../adapters/contract.js';
import { isTxid, type ParsedVersionId, parseVersionId } from './ids.js';
import { keyProblem } from './limits.js';

export interface PushedRecordBounds {
  /** This node's wall clock now. */
  readonly nowMs: number;
  /** The most a peer's clock may be ahead of this node's (Timing.maxClockSkewMs). */
  readonly maxClockSkewMs: number;
  /** The longest key in UTF-8 bytes (the node's limit). */
  readonly maxKeyBytes: number;
}

/**
 * Why a pushed record is refused, or undefined when it may be learned. `parsed`: its version
 * id parsed already (the caller uses it again).
 */
export function refusalOf(
  record: CommitRecord,
  bounds: PushedRecordBounds,
  parsed: ParsedVersionId | undefined = parseVersionId(record.versionId),
): string | undefined {
  if (record.aborted) return 'peers push commits, never abort markers';
  if (!isTxid(record.txid)) return 'its txid is malformed';
  if (!parsed || parsed.txid !== record.txid) return "its version id does not carry the record's txid";
  // A version time further ahead than any live peer's clock may be is a forgery or a broken
  // clock: learning it would move this node's clock (and every later commit) into the future.
  if (parsed.physicalMs > bounds.nowMs + bounds.maxClockSkewMs) {
    return `its version time is ${parsed.physicalMs - bounds.nowMs} ms ahead of this node's clock (at most ${bounds.maxClockSkewMs} allowed)`;
  }
  const { writeSet, deleted } = record;
  if (writeSet.length === 0) return 'its write set is empty';
  for (const key of writeSet) {
    if (keyProblem(key, bounds.maxKeyBytes) !== undefined)
      return 'its write set holds a key outside the limits';
  }
  if (hasDuplicate(writeSet)) return 'its write set names a key twice';
  if (deleted.length > 0 && (hasDuplicate(deleted) || !isSubset(deleted, writeSet))) {
    return 'its deleted keys are not a subset of its write set';
  }
  return undefined;
}

/** Pairwise for the few keys most commits write, with a set beyond: no set per record. */
const PAIRWISE_UP_TO = 16;

function isSubset(keys: readonly string[], of: readonly string[]): boolean {
  if (of.length <= PAIRWISE_UP_TO) return keys.every((key) => of.includes(key));
  const all = new Set(of);
  return keys.every((key) => all.has(key));
}

/** Whether a key repeats. */
function hasDuplicate(keys: readonly string[]): boolean {
  if (keys.length > PAIRWISE_UP_TO) return new Set(keys).size !== keys.length;
  for (let i = 1; i < keys.length; i += 1) {
    for (let j = 0; j < i; j += 1) if (keys[i] === keys[j]) return true;
  }
  return false;
}
