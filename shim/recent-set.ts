/**
 * A set that forgets old entries in bulk: it holds at least the last `capacity` values added
 * and at most twice that, in two generations; when the newer fills, the older is dropped
 * whole. Every operation is one or two Set lookups, where an LRU's per-entry bookkeeping was
 * a fifth of what learning a pushed commit cost. The learner remembers aborted commits here;
 * what local GC drops also goes by version time (shim/collected-ids.ts, which rotates sooner).
 */
export class RecentSet<T> {
  private current = new Set<T>();
  private previous = new Set<T>();

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`a RecentSet holds at least 1 value, not ${capacity}`);
  }

  has(value: T): boolean {
    return this.current.has(value) || this.previous.has(value);
  }

  add(value: T): this {
    if (this.current.has(value)) return this;
    this.current.add(value);
    if (this.current.size >= this.capacity) this.rotate();
    return this;
  }

  /** The newer generation becomes the older; the older is dropped whole. */
  protected rotate(): void {
    this.previous = this.current;
    this.current = new Set();
  }

  /** Values held now (between `capacity` and twice that once full). */
  get size(): number {
    return this.current.size + this.previous.size;
  }
}
