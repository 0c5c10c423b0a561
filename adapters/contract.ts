/**
 * The storage contract (protocol.md §3). The shim's logic lives in the core; an adapter only
 * maps these few operations onto one engine, the way that engine does them fastest. Every
 * adapter passes the conformance suite in `test/conformance/`.
 *
 * Keys are UTF-8 strings of 1..1024 bytes and may hold any character (`/`, `%`, spaces,
 * non-ASCII, NUL). Version ids are ASCII strings of `[0-9A-Za-z._-]`, at most 128
 * characters, whose plain string order is version order. Values are any bytes, empty included.
 *
 * Errors: an adapter throws whatever its engine throws; the core turns it into a typed
 * `StorageUnavailableError`. An aborted `signal` rejects with the signal's reason.
 */

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ListOptions extends CallOptions {
  /** At most this many records (the adapter may return fewer; an empty page means the end). */
  readonly limit?: number;
}

export interface VersionRef {
  readonly key: string;
  readonly versionId: string;
}

export interface VersionWrite extends VersionRef {
  readonly value: Uint8Array;
}

/**
 * The record that makes a transaction committed: it exists in storage if and only if the
 * transaction committed. `writeSet` lists every key the transaction wrote; `deleted` is the
 * subset written as tombstones, which have no stored version (a tombstone has no bytes).
 */
export interface CommitRecord {
  readonly versionId: string;
  readonly txid: string;
  readonly writeSet: readonly string[];
  readonly deleted: readonly string[];
  /**
   * An abort marker (docs/protocol.md, "Abort markers"): whoever judged the transaction dead
   * took its record id first, so its real record can never be written. A marker's write set
   * is empty. Adapters store and list it like any record.
   */
  readonly aborted?: true;
  /**
   * A record stored under `versionId` that its adapter cannot read: bytes that do not decode,
   * or a record naming another id (damaged at rest, or written by something other than aft).
   * Adapters answer and list it so, with an empty txid, write set and deletions (its real
   * ones are unknown), so that a listing goes on past it; GuardedStorage reports it and
   * treats it as absent (docs/protocol.md, "Storage", damaged records). Adapters never store one.
   */
  readonly damaged?: true;
}

/**
 * A small mutable record for cooperation between shim nodes: membership heartbeats, commit
 * intents, the garbage collector's lease. Named by a namespace and an id, both
 * `[0-9A-Za-z._-]{1,128}`.
 */
export interface Entry {
  readonly id: string;
  readonly value: Uint8Array;
}

export interface EntryListOptions extends ListOptions {
  /** Only entries whose id sorts after this one. */
  readonly after?: string;
}

/** An entry by namespace and id. */
export interface EntryRef {
  readonly namespace: string;
  readonly id: string;
}

/** The conditions of putVersionsAndRecordBy. */
export interface WriteTerms {
  /** The latest time, by the engine's clock (ms since the epoch), at which the write may land. */
  readonly deadlineMs: number;
  /** An entry whose existence refuses the write. */
  readonly unless: EntryRef;
}

export const TermedWriteOutcome = {
  CREATED: 'created',
  TAKEN: 'taken',
  REFUSED: 'refused',
  LATE: 'late',
} as const;
export type TermedWriteOutcome = (typeof TermedWriteOutcome)[keyof typeof TermedWriteOutcome];

/** The condition of putVersionsAndRecordSwapping: an entry swapped in the same atomic step. */
export interface EntrySwap extends EntryRef {
  /** What the entry must hold, byte for byte (absent or anything else refuses the write). */
  readonly expected: Uint8Array;
  /** What it holds after (at most MAX_SWAPPED_ENTRY_BYTES, as swapEntry's). */
  readonly value: Uint8Array;
}

/** What putVersionsAndRecordSwapping did: as putVersionsAndRecordBy, never 'late'. */
export type SwappingWriteOutcome = Exclude<TermedWriteOutcome, typeof TermedWriteOutcome.LATE>;

export interface StorageAdapter {
  /** A short engine name for logs and metrics, e.g. `file`. */
  readonly name: string;

  /** Writes immutable versions, all of them durable when the promise resolves. */
  putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void>;

  /** Reads one version's bytes, or undefined when it is not stored. */
  getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined>;

  /**
   * Writes a commit record if none with its version id exists (atomically, across processes
   * and machines). Resolves true when this call created it, false when one existed already.
   */
  putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean>;

  getCommitRecord(versionId: string, options?: CallOptions): Promise<CommitRecord | undefined>;

  /**
   * Optional, where the engine writes several items atomically (a DynamoDB transaction, a
   * Redis script on one server): writes `versions` and then `record` as one operation, the
   * record put-if-absent. When a record (or an abort marker) already holds the record's
   * version id, nothing at all is written and it resolves false; true when this call wrote
   * them. Either all of it lands or none. Where absent, the core writes the versions, then
   * the record: one storage round trip more per commit.
   */
  putVersionsAndRecord?(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: CallOptions,
  ): Promise<boolean>;

  /**
   * Optional, where the engine applies a write by a clock of its own (a Redis script reads
   * `TIME`) and tells it (`time`): putVersionsAndRecord with two more conditions, checked in
   * the same atomic step. The outcome: 'taken' when a record or an abort marker holds the
   * record's id already (checked first: a repeat of a write that landed learns so, whatever
   * the clock); else 'refused' when the entry `terms.unless` exists; else 'late' when the
   * engine's clock reads past `terms.deadlineMs`; else 'created': this call wrote them all.
   * Where it is present a commit writes no intent: storage refuses a record past its deadline
   * itself (docs/protocol.md, "Commit"). Fits as putVersionsAndRecord does.
   */
  putVersionsAndRecordBy?(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    terms: WriteTerms,
    options?: CallOptions,
  ): Promise<TermedWriteOutcome>;

  /**
   * Optional, where the engine writes several items atomically and can condition one on an
   * entry's value (DynamoDB's TransactWriteItems; with swapEntry): putVersionsAndRecord that
   * lands only while the entry `swap` names holds `swap.expected`, and swaps it to
   * `swap.value` with it, as swapEntry would. The outcome: 'taken' when a record or an abort
   * marker holds the record's id already (checked first, as putVersionsAndRecordBy does); else
   * 'refused' when the entry holds anything else or is absent; else 'created': this call wrote
   * them all. Where it is present a commit may go without an intent, spending a commit ticket
   * written ahead (shim/commit-tickets.ts). Fits as putVersionsAndRecord does
   * (fitsVersionsAndRecord counts room for the swap too).
   */
  putVersionsAndRecordSwapping?(
    versions: readonly VersionWrite[],
    record: CommitRecord,
    swap: EntrySwap,
    options?: CallOptions,
  ): Promise<SwappingWriteOutcome>;

  /**
   * Optional, with putVersionsAndRecord: whether these fit one atomic write of the engine
   * (DynamoDB: 100 items and 4 MB). Absent: they always do. Pure, so a repeated commit
   * chooses as the first attempt did.
   */
  fitsVersionsAndRecord?(versions: readonly VersionWrite[], record: CommitRecord): boolean;

  /**
   * Optional: the largest entry value, in bytes, the engine stores in one write (DynamoDB:
   * 350 KB of its 400 KB item). Absent: any a transaction can fill. A commit whose values
   * would make its intent larger writes its versions before its record instead of carrying
   * them in its intent (shim/intents.ts).
   */
  readonly maxEntryBytes?: number;

  /**
   * Commit records whose version id sorts after `after` (all of them when undefined), in
   * ascending version order, at most `limit` of them. Page by passing the last id as `after`.
   */
  listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]>;

  /**
   * The ids of commit records after `after`, ascending, at most `limit`, without reading the
   * records: for a caller that knows most of them already (a node's overlapping pull). Every
   * id listCommitRecords would return is listed; so may be ids whose record is not readable
   * (deleted meanwhile, or, on an engine that indexes a record before writing it, not yet
   * written), so the caller reads the records it wants and skips the absent ones.
   */
  listCommitRecordIds(after: string | undefined, options?: ListOptions): Promise<string[]>;

  /**
   * Deletes versions, which no reader needs again (the collector deletes only superseded
   * ones); deleting one that is not stored is not an error. Where an engine keeps a commit's
   * values in its record (DynamoDB, small values), they may stay readable until the record is
   * deleted: what it names, nobody reads.
   */
  deleteVersions(refs: readonly VersionRef[], options?: CallOptions): Promise<void>;

  /** Deletes commit records; deleting one that is not stored is not an error. */
  deleteCommitRecords(versionIds: readonly string[], options?: CallOptions): Promise<void>;

  /** Creates or replaces an entry. */
  putEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<void>;

  /**
   * Creates or replaces several entries of one namespace, each as putEntry would. Not atomic
   * together: after a failure any of them may have landed. Optional: where an engine writes
   * many in one request (a Redis HSET, DynamoDB's BatchWriteItem, one directory sync), the
   * core's GuardedStorage calls it; elsewhere it puts them one by one, several at a time.
   */
  putEntries?(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void>;

  /** Creates an entry if none with this id exists (atomically); true when this call created it. */
  createEntry(namespace: string, id: string, value: Uint8Array, options?: CallOptions): Promise<boolean>;

  /**
   * Creates several entries of one namespace, each only if none with its id exists (an
   * existing one stays as it is), as createEntry would; resolves once every one is there. Not
   * atomic together: after a failure any of them may have landed. Optional: where an engine
   * creates many in one request (DynamoDB's TransactWriteItems of conditional puts), the
   * core's GuardedStorage calls it; elsewhere it creates them one by one, several at a time.
   */
  createEntries?(namespace: string, entries: readonly Entry[], options?: CallOptions): Promise<void>;

  /**
   * Replaces an entry's value only if it is `expected` now, byte for byte (`expected`
   * undefined: only if there is no entry, as createEntry does), atomically against every other
   * write of the entry; true when this call replaced it. For small values (a claim, a pointer;
   * at most MAX_SWAPPED_ENTRY_BYTES). Like createEntry, false may follow a write that landed
   * (an engine retrying a call whose first attempt succeeded): a caller that must know reads
   * the entry and recognizes a value only it writes. Optional: the groundwork of serializable
   * transactions (issue 18), which need it; Anna has none.
   */
  swapEntry?(
    namespace: string,
    id: string,
    expected: Uint8Array | undefined,
    value: Uint8Array,
    options?: CallOptions,
  ): Promise<boolean>;

  /** One entry's value, or undefined when there is none. */
  getEntry(namespace: string, id: string, options?: CallOptions): Promise<Uint8Array | undefined>;

  /** A namespace's entries in ascending id order, at most `limit` of them. */
  listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]>;

  /** Deletes entries; deleting one that is not stored is not an error. */
  deleteEntries(namespace: string, ids: readonly string[], options?: CallOptions): Promise<void>;

  /**
   * Creates what the engine needs to hold aft's data (a directory, a bucket, tables),
   * idempotently: calling it on a store that is ready changes nothing. `aft storage init`
   * calls it; the shim never does, so production needs no create permissions.
   */
  init?(options?: CallOptions): Promise<void>;

  /**
   * The engine's own clock, in ms since the epoch, where the engine tells time (Redis TIME).
   * Each node compares its clock with it (shim/membership.ts). Absent where the engine has none.
   */
  time?(options?: CallOptions): Promise<number>;

  /**
   * Ways the engine, as configured, may lose writes it acknowledged (Redis without AOF, or
   * with a policy that evicts keys), one sentence each. `aft storage init` and `aft serve`
   * print them. Absent where the adapter cannot tell.
   */
  durabilityWarnings?(options?: CallOptions): Promise<string[]>;

  /**
   * While the adapter has no connection: why its last attempt failed (a client that fails
   * commands with "max retries reached" keeps the real cause, ECONNREFUSED, to itself).
   */
  connectionError?(): Error | undefined;

  /**
   * Releases connections and handles. The adapter is unusable afterwards. Once `signal`
   * aborts, it waits for the engine no longer (a stalled engine's connection is cut, not
   * drained): the core gives a close one storage call's deadline.
   */
  close(options?: CallOptions): Promise<void>;
}

export const MAX_KEY_BYTES = 1024;
/** The largest value `swapEntry` takes. */
export const MAX_SWAPPED_ENTRY_BYTES = 4096;

/** Throws a TypeError for a swapped value over MAX_SWAPPED_ENTRY_BYTES. */
export function assertSwappable(...values: readonly (Uint8Array | undefined)[]): void {
  for (const value of values) {
    if (value !== undefined && value.byteLength > MAX_SWAPPED_ENTRY_BYTES) {
      throw new TypeError(
        `swapEntry takes values of at most ${MAX_SWAPPED_ENTRY_BYTES} bytes, not ${value.byteLength}`,
      );
    }
  }
}
export const ENTRY_NAME_PATTERN = /^[0-9A-Za-z._-]{1,128}$/;

/** Throws a TypeError for a namespace or entry id outside the contract. */
export function assertEntryName(...names: readonly string[]): void {
  assertEntryNames(names);
}

/** assertEntryName for a batch of any size (spread into arguments, a large one overflows the stack). */
export function assertEntryNames(names: Iterable<string>): void {
  for (const name of names) {
    if (!ENTRY_NAME_PATTERN.test(name)) throw new TypeError(`invalid entry name ${JSON.stringify(name)}`);
  }
}
export const VERSION_ID_PATTERN = /^[0-9A-Za-z._-]{1,128}$/;

/** Throws a TypeError for a version id outside the contract; adapters call it before using one in a path. */
export function assertVersionId(versionId: string): void {
  if (!VERSION_ID_PATTERN.test(versionId))
    throw new TypeError(`invalid version id ${JSON.stringify(versionId)}`);
}

/** The ids of a putVersionsAndRecord, checked before anything is written. */
export function assertWriteIds(versions: readonly VersionRef[], record: CommitRecord): void {
  assertVersionId(record.versionId);
  for (const { versionId } of versions) assertVersionId(versionId);
}
