/**
 * The data cache: values of committed versions, least recently used first out, bounded in
 * bytes (protocol.md §5; the original's cache had no bound). Versions are immutable, so an
 * entry never needs invalidating, only evicting.
 */
import { LRUCache } from 'lru-cache';

/** Per-entry bookkeeping the byte bound charges on top of the value and key. */
const ENTRY_OVERHEAD_BYTES = 64;

export class VersionCache {
  private readonly entries: LRUCache<string, Uint8Array>;

  constructor(readonly maxBytes: number) {
    this.entries = new LRUCache<string, Uint8Array>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (value, cacheKey) => value.byteLength + cacheKey.length * 2 + ENTRY_OVERHEAD_BYTES,
    });
  }

  get(key: string, versionId: string): Uint8Array | undefined {
    return this.entries.get(cacheKey(key, versionId));
  }

  set(key: string, versionId: string, value: Uint8Array): void {
    if (this.maxBytes <= 0) return;
    // lru-cache refuses (and does not store) an entry larger than the whole cache.
    this.entries.set(cacheKey(key, versionId), value);
  }

  delete(key: string, versionId: string): void {
    this.entries.delete(cacheKey(key, versionId));
  }

  get sizeBytes(): number {
    return this.entries.calculatedSize;
  }

  get entryCount(): number {
    return this.entries.size;
  }
}

// Version ids hold no NUL, so the pair is unambiguous.
function cacheKey(key: string, versionId: string): string {
  return `${versionId}\u0000${key}`;
}
