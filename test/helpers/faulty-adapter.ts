/**
 * Fault injection around a real adapter: the next call of an operation fails (throws) or
 * "crashes" (never returns, as if the process died there), before it touches storage,
 * halfway through a batch, or after storage applied it.
 */
import type { CallOptions, CommitRecord, StorageAdapter, VersionWrite } from '../../adapters/contract.js';

export type FaultOperation =
  | 'putEntry'
  | 'createEntry'
  | 'putVersions'
  | 'putCommitRecord'
  | 'putVersionsAndRecord'
  | 'putVersionsAndRecordBy'
  | 'putVersionsAndRecordSwapping'
  | 'getVersion'
  | 'listCommitRecords'
  | 'listCommitRecordIds';
export type FaultPhase = 'before' | 'halfway' | 'after';
export type FaultEffect = 'throw' | 'crash';

export interface Fault {
  readonly operation: FaultOperation;
  readonly phase: FaultPhase;
  readonly effect: FaultEffect;
  /** For an entry's write: only one in this namespace (heartbeats write entries all the time). */
  readonly namespace?: string;
}

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

export class FaultyAdapter implements StorageAdapter {
  readonly name: string;
  private armed: Fault | undefined;
  /** How many faults fired (their storage effect done, the call now failing or hanging). */
  fired = 0;

  /**
   * `atomic: false` hides the engine's putVersionsAndRecord: commits write an intent holding
   * the values, then the record. `maxEntryBytes` (small) keeps the values out of the intent:
   * commits write versions, then the record.
   */
  constructor(
    readonly inner: StorageAdapter,
    { atomic = true, maxEntryBytes }: { readonly atomic?: boolean; readonly maxEntryBytes?: number } = {},
  ) {
    this.name = `faulty-${inner.name}`;
    if (inner.time) this.time = (options) => inner.time!(options);
    const largestEntry = maxEntryBytes ?? inner.maxEntryBytes;
    if (largestEntry !== undefined) this.maxEntryBytes = largestEntry;
    if (inner.swapEntry) this.swapEntry = (...args) => inner.swapEntry!(...args);
    // Atomic where the engine is: halfway stores half the versions and no record, as a
    // script refused midway (out of memory) would.
    if (inner.putVersionsAndRecord && atomic) {
      const atomic = inner.putVersionsAndRecord.bind(inner);
      this.putVersionsAndRecord = async (versions, record, options) => {
        const fault = this.take('putVersionsAndRecord');
        if (!fault) return atomic(versions, record, options);
        if (fault.phase === 'halfway')
          await inner.putVersions(versions.slice(0, Math.ceil(versions.length / 2)), options);
        if (fault.phase === 'after') await atomic(versions, record, options);
        return this.fail(fault);
      };
      if (inner.putVersionsAndRecordBy) {
        const termed = inner.putVersionsAndRecordBy.bind(inner);
        this.putVersionsAndRecordBy = async (versions, record, terms, options) => {
          const fault = this.take('putVersionsAndRecordBy');
          if (!fault) return termed(versions, record, terms, options);
          if (fault.phase === 'halfway')
            await inner.putVersions(versions.slice(0, Math.ceil(versions.length / 2)), options);
          if (fault.phase === 'after') await termed(versions, record, terms, options);
          return this.fail(fault);
        };
      }
      if (inner.putVersionsAndRecordSwapping) {
        const swapping = inner.putVersionsAndRecordSwapping.bind(inner);
        this.putVersionsAndRecordSwapping = async (versions, record, swap, options) => {
          const fault = this.take('putVersionsAndRecordSwapping');
          if (!fault) return swapping(versions, record, swap, options);
          if (fault.phase === 'halfway')
            await inner.putVersions(versions.slice(0, Math.ceil(versions.length / 2)), options);
          if (fault.phase === 'after') await swapping(versions, record, swap, options);
          return this.fail(fault);
        };
      }
      if (inner.fitsVersionsAndRecord)
        this.fitsVersionsAndRecord = (versions, record) => inner.fitsVersionsAndRecord!(versions, record);
    }
  }

  putVersionsAndRecord?: StorageAdapter['putVersionsAndRecord'];
  putVersionsAndRecordBy?: StorageAdapter['putVersionsAndRecordBy'];
  putVersionsAndRecordSwapping?: StorageAdapter['putVersionsAndRecordSwapping'];
  time?: StorageAdapter['time'];
  fitsVersionsAndRecord?: StorageAdapter['fitsVersionsAndRecord'];
  readonly maxEntryBytes?: number;

  arm(fault: Fault): void {
    this.armed = fault;
  }

  disarm(): void {
    this.armed = undefined;
  }

  private take(operation: FaultOperation, namespace?: string): Fault | undefined {
    if (this.armed?.operation !== operation) return undefined;
    if (this.armed.namespace !== undefined && this.armed.namespace !== namespace) return undefined;
    const fault = this.armed;
    this.armed = undefined;
    return fault;
  }

  /** Called once the fault's storage effect (none, half, all) is done: it has fired. */
  private async fail(fault: Fault): Promise<never> {
    this.fired += 1;
    if (fault.effect === 'crash') return new Promise<never>(() => undefined);
    throw new InjectedFault(`injected ${fault.phase} ${fault.operation}`);
  }

  async putVersions(versions: readonly VersionWrite[], options?: CallOptions): Promise<void> {
    const fault = this.take('putVersions');
    if (!fault) return this.inner.putVersions(versions, options);
    if (fault.phase === 'halfway')
      await this.inner.putVersions(versions.slice(0, Math.ceil(versions.length / 2)), options);
    if (fault.phase === 'after') await this.inner.putVersions(versions, options);
    return this.fail(fault);
  }

  async putCommitRecord(record: CommitRecord, options?: CallOptions): Promise<boolean> {
    const fault = this.take('putCommitRecord');
    if (!fault) return this.inner.putCommitRecord(record, options);
    if (fault.phase !== 'before') await this.inner.putCommitRecord(record, options);
    return this.fail(fault);
  }

  async getVersion(
    ...args: Parameters<StorageAdapter['getVersion']>
  ): ReturnType<StorageAdapter['getVersion']> {
    const fault = this.take('getVersion');
    if (fault) return this.fail(fault);
    return this.inner.getVersion(...args);
  }

  async listCommitRecords(
    ...args: Parameters<StorageAdapter['listCommitRecords']>
  ): ReturnType<StorageAdapter['listCommitRecords']> {
    const fault = this.take('listCommitRecords');
    if (fault) return this.fail(fault);
    return this.inner.listCommitRecords(...args);
  }

  async listCommitRecordIds(
    ...args: Parameters<StorageAdapter['listCommitRecordIds']>
  ): ReturnType<StorageAdapter['listCommitRecordIds']> {
    const fault = this.take('listCommitRecordIds');
    if (fault) return this.fail(fault);
    return this.inner.listCommitRecordIds(...args);
  }

  getCommitRecord: StorageAdapter['getCommitRecord'] = (...args) => this.inner.getCommitRecord(...args);
  deleteVersions: StorageAdapter['deleteVersions'] = (...args) => this.inner.deleteVersions(...args);
  deleteCommitRecords: StorageAdapter['deleteCommitRecords'] = (...args) =>
    this.inner.deleteCommitRecords(...args);
  async putEntry(...args: Parameters<StorageAdapter['putEntry']>): ReturnType<StorageAdapter['putEntry']> {
    const fault = this.take('putEntry', args[0]);
    if (!fault) return this.inner.putEntry(...args);
    // One entry: halfway is the same as before.
    if (fault.phase === 'after') await this.inner.putEntry(...args);
    return this.fail(fault);
  }
  async createEntry(
    ...args: Parameters<StorageAdapter['createEntry']>
  ): ReturnType<StorageAdapter['createEntry']> {
    const fault = this.take('createEntry', args[0]);
    if (!fault) return this.inner.createEntry(...args);
    if (fault.phase === 'after') await this.inner.createEntry(...args);
    return this.fail(fault);
  }
  getEntry: StorageAdapter['getEntry'] = (...args) => this.inner.getEntry(...args);
  /** Where the engine has it (set in the constructor): serializable transactions need it. */
  swapEntry?: StorageAdapter['swapEntry'];
  listEntries: StorageAdapter['listEntries'] = (...args) => this.inner.listEntries(...args);
  deleteEntries: StorageAdapter['deleteEntries'] = (...args) => this.inner.deleteEntries(...args);
  close: StorageAdapter['close'] = async () => undefined;
}
