/**
 * The one door to the adapter: GuardedStorage implements the storage contract over any
 * adapter, and the node, membership, the collector and the CLI all call storage through it.
 * Every engine failure becomes a typed, retryable StorageUnavailableError (with the engine's
 * error as `cause`) and is counted; every call has a deadline and is abandoned when it passes
 * (one AbortSignal through the SDK's retries, so attempts are bounded by time, not by a
 * count); storage answering or not is reported (shim/storage-state.ts); a commit record that
 * cannot be read (CommitRecord.damaged) is reported and read as absent. Adapters stay thin;
 * this logic lives once, here. `guardStorage` gives a logical call of several storage calls
 * (an idempotency claim) one deadline of its own.
 */
import { setMaxListeners } from 'node:events';
import type {
  CallOptions,
  CommitRecord,
  Entry,
  EntryListOptions,
  EntrySwap,
  ListOptions,
  StorageAdapter,
  SwappingWriteOutcome,
  TermedWriteOutcome,
  VersionRef,
  VersionWrite,
  WriteTerms,
} from '../adapters/contract.js';
import { mapLimit } from '../adapters/map-limit.js';
import { AftError, isAbortError, StorageUnavailableError } from './errors.js';
import { storageStateOf } from './storage-state.js';
import { type NodeLogger, type NodeMetrics, noMetrics } from './telemetry.js';
import { DEFAULT_TIMING } from './timing.js';

export type StorageOperation =
  | 'putVersions'
  | 'getVersion'
  | 'putCommitRecord'
  | 'getCommitRecord'
  | 'putVersionsAndRecord'
  | 'putVersionsAndRecordBy'
  | 'putVersionsAndRecordSwapping'
  | 'listCommitRecords'
  | 'listCommitRecordIds'
  | 'deleteVersions'
  | 'deleteCommitRecords'
  | 'putEntry'
  | 'putEntries'
  | 'createEntry'
  | 'createEntries'
  | 'listEntries'
  | 'deleteEntries'
  /** The idempotency claim of a commit (a listing, record look-ups and a create). */
  | 'claimIdempotencyKey'
  | 'getEntry'
  | 'swapEntry'
  | 'time';

export interface GuardOptions {
  /** The caller's signal: its abort rejects with its own reason. */
  readonly signal?: AbortSignal | undefined;
  /** The call's deadline: past it the call is abandoned as STORAGE_UNAVAILABLE. */
  readonly timeoutMs?: number | undefined;
}

/** Entries the fallback of putEntries puts at once, on an engine with no batch of its own. */
const PUT_ENTRIES_IN_FLIGHT = 32;

/** Damaged record ids remembered as reported (then forgotten, and reported again once). */
const REPORTED_DAMAGE = 10_000;

/** How long past its deadline a close that ignores its signal is waited for. */
const CLOSE_ABANDON_AFTER_MS = 100;

/** Calls that start within this long of each other share one deadline signal. */
const DEADLINE_WINDOW_MS = 10;
/** The deadline signal shared by the calls that start in one window, and how many are running. */
interface DeadlineWindow {
  readonly endsAtMs: number;
  readonly signal: AbortSignal;
  inFlight: number;
}
const deadlineWindows = new Map<number, DeadlineWindow>();

/**
 * A signal that aborts `timeoutMs` after now, or up to DEADLINE_WINDOW_MS later, never
 * earlier: every call that starts in the same window with the same timeout shares it, so a
 * call costs neither an AbortController nor a timer of its own (together they were a fifth
 * of the protocol's CPU per transaction; AbortSignal.timeout also kept each timer alive for
 * the whole deadline). It aborts only while a call of its window is still running: under load
 * a window opens every 10 ms, and an abort of one whose calls all answered made an exception
 * (a stack trace) and ran every listener left on it, for nobody.
 */
function sharedDeadline(timeoutMs: number): DeadlineWindow {
  const nowMs = performance.now();
  const open = deadlineWindows.get(timeoutMs);
  if (open && nowMs < open.endsAtMs) return open;
  const controller = new AbortController();
  // Every call of the window listens on it: that is expected, not a leak.
  setMaxListeners(0, controller.signal);
  const window: DeadlineWindow = {
    endsAtMs: nowMs + DEADLINE_WINDOW_MS,
    signal: controller.signal,
    inFlight: 0,
  };
  setTimeout(() => {
    if (window.inFlight > 0)
      controller.abort(new DOMException(`the call took over ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs + DEADLINE_WINDOW_MS).unref();
  deadlineWindows.set(timeoutMs, window);
  return window;
}

export async function guardStorage<T>(
  adapter: StorageAdapter,
  metrics: NodeMetrics,
  operation: StorageOperation,
  call: (options: CallOptions) => Promise<T>,
  guard: GuardOptions = {},
): Promise<T> {
  metrics.storageCall?.(operation);
  const timeoutMs = guard.timeoutMs;
  const window = timeoutMs === undefined ? undefined : sharedDeadline(timeoutMs);
  const deadline = window?.signal;
  if (window) window.inFlight += 1;
  const either = deadline && guard.signal ? eitherAborts(guard.signal, deadline) : undefined;
  const signal = either?.signal ?? deadline ?? guard.signal;
  const state = storageStateOf(adapter);
  try {
    // A caller that gave up already makes no call (an engine may not look at its signal first).
    signal?.throwIfAborted();
    const answer = await call(signal ? { signal } : {});
    state?.answered();
    return answer;
  } catch (error) {
    if (error instanceof AftError) throw error;
    // The caller gave up (its client went away): not storage's failure, and its own reason.
    if (guard.signal?.aborted) throw error;
    state?.failed(error);
    if (isAbortError(error) || deadline?.aborted) {
      if (!deadline?.aborted) throw error;
      metrics.storageError(operation);
      throw new StorageUnavailableError(
        `storage (${adapter.name}) did not answer ${operation} within ${guard.timeoutMs} ms`,
        { cause: error },
      );
    }
    metrics.storageError(operation);
    const reason = error instanceof Error ? error.message : String(error);
    throw new StorageUnavailableError(`storage (${adapter.name}) failed in ${operation}: ${reason}`, {
      cause: error,
    });
  } finally {
    either?.release();
    if (window) window.inFlight -= 1;
  }
}

/**
 * A signal that aborts with the reason of whichever of `first` and `second` aborts first, and
 * `release`, which stops listening to them once the call is over. AbortSignal.any did this at
 * three times the cost, and kept every signal it made a dependant of the shared deadline
 * until that aborted, seconds later, and then aborted them all, long finished.
 */
function eitherAborts(first: AbortSignal, second: AbortSignal): { signal: AbortSignal; release(): void } {
  if (first.aborted) return { signal: first, release: () => undefined };
  if (second.aborted) return { signal: second, release: () => undefined };
  const controller = new AbortController();
  // One logical call may make many requests at once (a listing reads its records in parallel),
  // each listening on this signal: that is expected, not a leak.
  setMaxListeners(0, controller.signal);
  const onAbort = function (this: AbortSignal) {
    release();
    controller.abort(this.reason);
  };
  const release = () => {
    first.removeEventListener('abort', onAbort);
    second.removeEventListener('abort', onAbort);
  };
  // A caller's signal may be passed to many calls at once (a batch read), each listening here
  // until it ends: expected, not a leak. Said once per signal, not per call.
  if (!listenedTo.has(first)) {
    setMaxListeners(0, first);
    listenedTo.add(first);
  }
  first.addEventListener('abort', onAbort);
  second.addEventListener('abort', onAbort);
  return { signal: controller.signal, release };
}

/** Callers' signals whose listener bound was lifted. */
const listenedTo = new WeakSet<AbortSignal>();

/** The log line of a damaged commit record (GuardedStorageOptions.onDamagedRecord). */
export function reportDamagedRecord(logger: NodeLogger, versionId: string): void {
  logger.error(
    { versionId },
    'a commit record in storage cannot be read (damaged, or not written by aft): its commit stays invisible, and the record stays where it is for an operator to look at',
  );
}

/** Options of one guarded call: the contract's, and a deadline other than the default. */
export interface GuardedCallOptions extends CallOptions {
  readonly timeoutMs?: number;
}

export interface GuardedStorageOptions {
  readonly metrics?: NodeMetrics;
  /**
   * A commit record that cannot be read was found (CommitRecord.damaged): called once per
   * id (while fewer than REPORTED_DAMAGE ids are remembered), to log it.
   */
  readonly onDamagedRecord?: (versionId: string) => void;
  /** Deadline of a call that names none. @default DEFAULT_TIMING.storageCallTimeoutMs */
  readonly timeoutMs?: number;
}

export class GuardedStorage implements StorageAdapter {
  readonly name: string;
  private readonly metrics: NodeMetrics;
  private readonly timeoutMs: number;
  private readonly onDamagedRecord: ((versionId: string) => void) | undefined;
  /** The damaged records reported already. */
  private readonly reportedDamage = new Set<string>();

  init?: (options?: CallOptions) => Promise<void>;
  time?: (options?: GuardedCallOptions) => Promise<number>;
  durabilityWarnings?: (options?: CallOptions) => Promise<string[]>;
  connectionError?: () => Error | undefined;
  putVersionsAndRecord?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    options?: GuardedCallOptions,
  ) => Promise<boolean>;
  putVersionsAndRecordBy?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    terms: WriteTerms,
    options?: GuardedCallOptions,
  ) => Promise<TermedWriteOutcome>;
  putVersionsAndRecordSwapping?: (
    versions: readonly VersionWrite[],
    record: CommitRecord,
    swap: EntrySwap,
    options?: GuardedCallOptions,
  ) => Promise<SwappingWriteOutcome>;
  fitsVersionsAndRecord?: (versions: readonly VersionWrite[], record: CommitRecord) => boolean;
  readonly maxEntryBytes?: number;
  swapEntry?: (
    namespace: string,
    id: string,
    expected: Uint8Array | undefined,
    value: Uint8Array,
    options?: GuardedCallOptions,
  ) => Promise<boolean>;

  /** `adapter` guarded, or `adapter` itself when it is guarded already. */
  static of(adapter: StorageAdapter, options: GuardedStorageOptions = {}): GuardedStorage {
    return adapter instanceof GuardedStorage ? adapter : new GuardedStorage(adapter, options);
  }

  private constructor(
    readonly inner: StorageAdapter,
    options: GuardedStorageOptions,
  ) {
    this.name = inner.name;
    if (inner.maxEntryBytes !== undefined) this.maxEntryBytes = inner.maxEntryBytes;
    this.metrics = options.metrics ?? noMetrics;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMING.storageCallTimeoutMs;
    this.onDamagedRecord = options.onDamagedRecord;
    // The optional methods exist exactly where the engine's do (callers test for them).
    if (inner.time) this.time = (options) => this.call('time', options, (call) => inner.time!(call));
    if (inner.init) this.init = (options) => inner.init!(options);
    if (inner.durabilityWarnings) this.durabilityWarnings = (options) => inner.durabilityWarnings!(options);
    if (inner.connectionError) this.connectionError = () => inner.connectionError!();
    if (inner.putVersionsAndRecord) {
      this.putVersionsAndRecord = (versions, record, options) =>
        this.call('putVersionsAndRecord', options, (call) =>
          inner.putVersionsAndRecord!(versions, record, call),
        );
    }
    if (inner.putVersionsAndRecordBy) {
      this.putVersionsAndRecordBy = (versions, record, terms, options) =>
        this.call('putVersionsAndRecordBy', options, (call) =>
          inner.putVersionsAndRecordBy!(versions, record, terms, call),
        );
    }
    if (inner.putVersionsAndRecordSwapping) {
      this.putVersionsAndRecordSwapping = (versions, record, swap, options) =>
        this.call('putVersionsAndRecordSwapping', options, (call) =>
          inner.putVersionsAndRecordSwapping!(versions, record, swap, call),
        );
    }
    if (inner.fitsVersionsAndRecord) {
      this.fitsVersionsAndRecord = (versions, record) => inner.fitsVersionsAndRecord!(versions, record);
    }
    if (inner.swapEntry) {
      this.swapEntry = (namespace, id, expected, value, options) =>
        this.call('swapEntry', options, (call) => inner.swapEntry!(namespace, id, expected, value, call));
    }
  }

  putVersions(versions: readonly VersionWrite[], options?: GuardedCallOptions): Promise<void> {
    return this.call('putVersions', options, (call) => this.inner.putVersions(versions, call));
  }

  getVersion(ref: VersionRef, options?: GuardedCallOptions): Promise<Uint8Array | undefined> {
    return this.call('getVersion', options, (call) => this.inner.getVersion(ref, call));
  }

  putCommitRecord(record: CommitRecord, options?: GuardedCallOptions): Promise<boolean> {
    return this.call('putCommitRecord', options, (call) => this.inner.putCommitRecord(record, call));
  }

  /** The record stored under `versionId`; undefined where none is, or one is damaged (reported). */
  async getCommitRecord(versionId: string, options?: GuardedCallOptions): Promise<CommitRecord | undefined> {
    const record = await this.call('getCommitRecord', options, (call) =>
      this.inner.getCommitRecord(versionId, call),
    );
    return record?.damaged ? this.damaged(record) : record;
  }

  /**
   * The readable records past `after`: damaged ones are reported and left out, and a page of
   * nothing but damaged ones is listed past (the next one is read), so a page comes back short
   * of `limit` with one, but empty only at the end.
   */
  listCommitRecords(
    after: string | undefined,
    options?: ListOptions & GuardedCallOptions,
  ): Promise<CommitRecord[]> {
    return this.call('listCommitRecords', options, async (call) => {
      for (let from = after; ; ) {
        const page = await this.inner.listCommitRecords(from, { ...withLimit(options), ...call });
        if (!page.some((record) => record.damaged)) return page;
        const readable = page.filter((record) => (record.damaged ? this.damaged(record) : true));
        if (readable.length > 0) return readable;
        from = page[page.length - 1]!.versionId;
      }
    });
  }

  /** Reports a damaged record (once per id); undefined, so it reads as absent. */
  private damaged(record: CommitRecord): undefined {
    if (!this.reportedDamage.has(record.versionId)) {
      if (this.reportedDamage.size >= REPORTED_DAMAGE) this.reportedDamage.clear();
      this.reportedDamage.add(record.versionId);
      this.metrics.storageError('damagedRecord');
      this.onDamagedRecord?.(record.versionId);
    }
    return undefined;
  }

  listCommitRecordIds(
    after: string | undefined,
    options?: ListOptions & GuardedCallOptions,
  ): Promise<string[]> {
    return this.call('listCommitRecordIds', options, (call) =>
      this.inner.listCommitRecordIds(after, { ...withLimit(options), ...call }),
    );
  }

  deleteVersions(refs: readonly VersionRef[], options?: GuardedCallOptions): Promise<void> {
    return this.call('deleteVersions', options, (call) => this.inner.deleteVersions(refs, call));
  }

  deleteCommitRecords(versionIds: readonly string[], options?: GuardedCallOptions): Promise<void> {
    return this.call('deleteCommitRecords', options, (call) =>
      this.inner.deleteCommitRecords(versionIds, call),
    );
  }

  putEntry(namespace: string, id: string, value: Uint8Array, options?: GuardedCallOptions): Promise<void> {
    return this.call('putEntry', options, (call) => this.inner.putEntry(namespace, id, value, call));
  }

  /**
   * Several entries of one namespace in one guarded call: the engine's own batch where it has
   * one, else PUT_ENTRIES_IN_FLIGHT putEntry calls at a time under the one deadline.
   */
  putEntries(namespace: string, entries: readonly Entry[], options?: GuardedCallOptions): Promise<void> {
    const { inner } = this;
    if (entries.length === 0) return Promise.resolve();
    return this.call('putEntries', options, async (call) => {
      if (inner.putEntries) return inner.putEntries(namespace, entries, call);
      // Of two entries with one id, the last, as two putEntry calls one after the other leave
      // it (in flight together, either could land last).
      const last = new Map(entries.map(({ id, value }) => [id, value]));
      await mapLimit([...last], PUT_ENTRIES_IN_FLIGHT, ([id, value]) =>
        inner.putEntry(namespace, id, value, call),
      );
    });
  }

  createEntry(
    namespace: string,
    id: string,
    value: Uint8Array,
    options?: GuardedCallOptions,
  ): Promise<boolean> {
    return this.call('createEntry', options, (call) => this.inner.createEntry(namespace, id, value, call));
  }

  /**
   * Several entries of one namespace created in one guarded call, each only if absent: the
   * engine's own batch where it has one, else PUT_ENTRIES_IN_FLIGHT createEntry calls at a time
   * under the one deadline.
   */
  createEntries(namespace: string, entries: readonly Entry[], options?: GuardedCallOptions): Promise<void> {
    const { inner } = this;
    if (entries.length === 0) return Promise.resolve();
    return this.call('createEntries', options, async (call) => {
      if (inner.createEntries) return inner.createEntries(namespace, entries, call);
      await mapLimit(entries, PUT_ENTRIES_IN_FLIGHT, ({ id, value }) =>
        inner.createEntry(namespace, id, value, call),
      );
    });
  }

  getEntry(namespace: string, id: string, options?: GuardedCallOptions): Promise<Uint8Array | undefined> {
    return this.call('getEntry', options, (call) => this.inner.getEntry(namespace, id, call));
  }

  listEntries(namespace: string, options?: EntryListOptions & GuardedCallOptions): Promise<Entry[]> {
    const { after, limit } = options ?? {};
    return this.call('listEntries', options, (call) =>
      this.inner.listEntries(namespace, {
        ...(after !== undefined && { after }),
        ...(limit !== undefined && { limit }),
        ...call,
      }),
    );
  }

  deleteEntries(namespace: string, ids: readonly string[], options?: GuardedCallOptions): Promise<void> {
    return this.call('deleteEntries', options, (call) => this.inner.deleteEntries(namespace, ids, call));
  }

  /**
   * Closes the engine's connections, waiting for the engine at most one call's deadline: then
   * the adapter is told to stop waiting (its signal), and the node goes on without it. A
   * stalled engine held a node's shutdown as long as its adapter waited: Redis's QUIT until
   * the command timeout aft gives its client (20 s), an adapter that waits on the engine forever.
   */
  async close(): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let abandon: NodeJS.Timeout | undefined;
    // An adapter that does not look at its signal is left behind a moment later.
    const abandoned = new Promise<void>((resolve) => {
      abandon = setTimeout(resolve, this.timeoutMs + CLOSE_ABANDON_AFTER_MS);
    });
    try {
      await Promise.race([this.inner.close({ signal }), abandoned]);
    } finally {
      clearTimeout(abandon);
    }
  }

  private call<T>(
    operation: StorageOperation,
    options: GuardedCallOptions | undefined,
    run: (call: CallOptions) => Promise<T>,
  ): Promise<T> {
    return guardStorage(this.inner, this.metrics, operation, run, {
      signal: options?.signal,
      timeoutMs: options?.timeoutMs ?? this.timeoutMs,
    });
  }
}

function withLimit(options: ListOptions | undefined): ListOptions {
  return options?.limit === undefined ? {} : { limit: options.limit };
}
