/** The core library: a shim node over a storage adapter, with no I/O but storage. */
export type {
  CallOptions,
  CommitRecord,
  StorageAdapter,
  VersionRef,
  VersionWrite,
} from '../adapters/contract.js';
export {
  ENGINE_PACKAGES,
  EnginePackageMissingError,
  loadEnginePackages,
} from '../adapters/engine-packages.js';
export { FileAdapter, type FileAdapterOptions } from '../adapters/file.js';
export { MemoryAdapter } from '../adapters/memory.js';
export { createAdapterFromUrl, openAdapterFromUrl } from '../adapters/url.js';
export { ConfigError, resolveConfig, SETTINGS, type ShimConfig, type ShimOptions } from './config.js';
export * from './errors.js';
export { formatVersionId, parseVersionId } from './ids.js';
export {
  type CommitResult,
  type NodeLimits,
  type ReadResult,
  ShimNode,
  type ShimNodeOptions,
  type TransactionInfo,
  type WriteItem,
} from './node.js';
export { chooseVersion, NOTHING_READ } from './read-atomic.js';
export type { NodeLogger, NodeMetrics } from './telemetry.js';
