/**
 * A memory adapter whose every call waits at a gate until the test releases it, so a test
 * (or fast-check) decides in which order concurrent storage calls complete.
 */
import type { StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';

export class GatedAdapter implements StorageAdapter {
  readonly name = 'gated-memory';
  readonly inner = new MemoryAdapter();
  private readonly gates: (() => void)[] = [];
  /** Set (small), commits write their versions before their record, not in their intent. */
  readonly maxEntryBytes?: number;

  constructor(options: { readonly maxEntryBytes?: number } = {}) {
    if (options.maxEntryBytes !== undefined) this.maxEntryBytes = options.maxEntryBytes;
  }

  get pending(): number {
    return this.gates.length;
  }

  /** Lets the pending call at `index` (modulo the number pending) proceed. */
  release(index: number): void {
    if (this.gates.length === 0) return;
    const [open] = this.gates.splice(index % this.gates.length, 1);
    open?.();
  }

  releaseAll(): void {
    for (const open of this.gates.splice(0)) open();
  }

  private gate(): Promise<void> {
    return new Promise((resolve) => this.gates.push(resolve));
  }

  putVersions: StorageAdapter['putVersions'] = async (...args) => {
    await this.gate();
    return this.inner.putVersions(...args);
  };
  getVersion: StorageAdapter['getVersion'] = async (...args) => {
    await this.gate();
    return this.inner.getVersion(...args);
  };
  putCommitRecord: StorageAdapter['putCommitRecord'] = async (...args) => {
    await this.gate();
    return this.inner.putCommitRecord(...args);
  };
  getCommitRecord: StorageAdapter['getCommitRecord'] = (...args) => this.inner.getCommitRecord(...args);
  listCommitRecords: StorageAdapter['listCommitRecords'] = (...args) => this.inner.listCommitRecords(...args);
  listCommitRecordIds: StorageAdapter['listCommitRecordIds'] = (...args) =>
    this.inner.listCommitRecordIds(...args);
  deleteVersions: StorageAdapter['deleteVersions'] = (...args) => this.inner.deleteVersions(...args);
  deleteCommitRecords: StorageAdapter['deleteCommitRecords'] = (...args) =>
    this.inner.deleteCommitRecords(...args);
  putEntry: StorageAdapter['putEntry'] = (...args) => this.inner.putEntry(...args);
  createEntry: StorageAdapter['createEntry'] = (...args) => this.inner.createEntry(...args);
  getEntry: StorageAdapter['getEntry'] = (...args) => this.inner.getEntry(...args);
  listEntries: StorageAdapter['listEntries'] = (...args) => this.inner.listEntries(...args);
  deleteEntries: StorageAdapter['deleteEntries'] = (...args) => this.inner.deleteEntries(...args);
  close: StorageAdapter['close'] = async () => {
    this.releaseAll();
  };
}

/** Lets every queued promise callback and I/O callback run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
