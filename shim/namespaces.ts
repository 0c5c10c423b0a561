/**
 * Every namespace of entries aft keeps in storage (adapters/contract.ts, "entries"), in one
 * place: two modules can never pick the same one, and an operator finds them all here.
 */
export const NAMESPACES = {
  /** Membership heartbeats: id = node id (shim/membership.ts). */
  members: 'members',
  /** Commit intents: id = version id, written before a commit's versions (shim/commit.ts). */
  intents: 'intents',
  /** Idempotency-key claims (shim/idempotency.ts). */
  idempotency: 'idempotency',
  /** The cluster's shared peer secret (shim/peer-secret.ts). */
  cluster: 'cluster',
  /**
   * Orphan versions the collector deleted while their abort marker is current: id = version
   * id, value = JSON array of keys. Without it every pass would delete those versions again
   * and spend its budget on them (gc/collector.ts).
   */
  gcCollected: 'gc-collected',
  /**
   * What collectors saw of the members: id `members`, value JSON `{ [nodeId]: { seq, sinceMs } }`,
   * `sinceMs` the observing collector's clock when it first saw that sequence number.
   */
  gcObservations: 'gc-observations',
  /** The lease of the node that runs this period's GC pass (gc/lease.ts). */
  gcLease: 'gc-lease',
  /**
   * Serializable transactions' claims on keys: id = base64url SHA-256 of the key, value JSON
   * `{ holder?, last? }`, changed only by swapEntry (shim/claims.ts).
   */
  claims: 'claims',
  /**
   * Transactions judged dead with no intent to mark: id = txid, value JSON `{ atMs }`. A
   * commit written without an intent (putVersionsAndRecordBy) is refused while its txid is
   * here (shim/commit.ts, shim/commit-learning.ts); the collector deletes them after the
   * outcome retention.
   */
  refusals: 'refusals',
  /**
   * Commit tickets (shim/commit-tickets.ts): id = `<version-id-shaped time>.<node id>-<n>`,
   * value `ready`, `refused` or `spent <version id>`, created put-if-absent by a node on an
   * engine whose atomic write swaps an entry (putVersionsAndRecordSwapping). A commit spends
   * one in that write instead of writing an intent; a settling pull refuses every one still
   * ready a known lag after its time, so no write that spends it can land after. The collector
   * deletes refused ones after the marker retention.
   */
  tickets: 'tickets',
} as const;

export const MEMBERS_NAMESPACE = NAMESPACES.members;
export const INTENTS_NAMESPACE = NAMESPACES.intents;
export const IDEMPOTENCY_NAMESPACE = NAMESPACES.idempotency;
export const CLUSTER_NAMESPACE = NAMESPACES.cluster;
export const COLLECTED_NAMESPACE = NAMESPACES.gcCollected;
export const OBSERVATIONS_NAMESPACE = NAMESPACES.gcObservations;
export const LEASE_NAMESPACE = NAMESPACES.gcLease;
export const REFUSALS_NAMESPACE = NAMESPACES.refusals;
export const CLAIMS_NAMESPACE = NAMESPACES.claims;
export const TICKETS_NAMESPACE = NAMESPACES.tickets;
