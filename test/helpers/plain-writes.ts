/**
 * An adapter as an engine with no atomic write of versions and record (S3, files, Anna, a
 * Redis Cluster) would be: the same store, without putVersionsAndRecord. Commits there carry
 * their values in their intent, then write their record, and their versions after the answer
 * (shim/intents.ts). Tests of that path use it over the in-process store, which has the
 * atomic write.
 */
import type { StorageAdapter } from '../../adapters/contract.js';

export function withoutAtomicWrites<T extends StorageAdapter>(adapter: T): T {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      if (
        property === 'putVersionsAndRecord' ||
        property === 'putVersionsAndRecordBy' ||
        property === 'fitsVersionsAndRecord'
      )
        return undefined;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
