/**
 * The global collector's lease: one collector at a time, per period of `leaseMs`. The first
 * to create the entry named after the period holds it for that period; there is nothing to
 * renew or release. Exclusivity only saves duplicate work: a pass is safe whoever runs it,
 * since every deletion it makes is justified by what storage holds.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import { GuardedStorage } from '../shim/guarded-storage.js';

export { LEASE_NAMESPACE } from '../shim/namespaces.js';

import { LEASE_NAMESPACE } from '../shim/namespaces.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Lease {
  /** Whether `holder` holds the lease for the current period. */
  readonly held: boolean;
  /** Who holds it. */
  readonly holder: string;
  /** When the period ends (ms since the epoch). */
  readonly untilMs: number;
}

export async function acquireLease(
  storage: StorageAdapter,
  holder: string,
  leaseMs: number,
  now: () => number = Date.now,
): Promise<Lease> {
  storage = GuardedStorage.of(storage);
  const period = Math.floor(now() / leaseMs);
  const id = String(period).padStart(16, '0');
  const untilMs = (period + 1) * leaseMs;
  if (await storage.createEntry(LEASE_NAMESPACE, id, encoder.encode(holder))) {
    // Leases of past periods are of no use to anyone.
    const old = await storage.listEntries(LEASE_NAMESPACE);
    const past = old.map((entry) => entry.id).filter((entryId) => entryId < id);
    if (past.length > 0) await storage.deleteEntries(LEASE_NAMESPACE, past);
    return { held: true, holder, untilMs };
  }
  // One read of the period's entry: every node asks every GC interval, and a listing is 8
  // queries on DynamoDB.
  const current = await storage.getEntry(LEASE_NAMESPACE, id);
  const currentHolder = current ? decoder.decode(current) : '';
  return { held: currentHolder === holder, holder: currentHolder, untilMs };
}
