/**
 * The version ids local GC dropped that a settling pull may still list (shim/commit-learning.ts).
 * A settling pull lists every id from its node's claim (`knownThroughMs`) on and reads the
 * record of each one it does not know: an id dropped from the metadata and forgotten here
 * would cost a storage read per settling pull, and learning it again.
 *
 * So this holds what the pulls still list, by version time, however fast commits come: ids
 * go to the newer of two generations; once every id of the older sorts below the claim, no
 * pull lists them again, the older is dropped and the newer takes its place. A fixed count
 * (it was 100,000) held 13 s of the commits an 8-node tier's node learns, less than the
 * 25 s a settling pull lists, and minutes of a quiet node's.
 */
export class CollectedIds {
  private newer = new Set<string>();
  private newerNewest = '';
  private older = new Set<string>();
  private olderNewest = '';

  /**
   * @param maxPerGeneration past this many ids in the newer generation, the older is dropped
   *   anyway: memory stays bounded while the claim cannot move (storage down, an intent in
   *   flight), at the cost of reading some records again.
   */
  constructor(private readonly maxPerGeneration = 500_000) {
    if (!(maxPerGeneration >= 1))
      throw new RangeError(`a generation holds at least 1 id, not ${maxPerGeneration}`);
  }

  add(versionId: string): this {
    this.newer.add(versionId);
    if (versionId > this.newerNewest) this.newerNewest = versionId;
    if (this.newer.size >= this.maxPerGeneration) this.rotate();
    return this;
  }

  has(versionId: string): boolean {
    return this.newer.has(versionId) || this.older.has(versionId);
  }

  /**
   * No pull lists ids below `floor` any more (a version id floor of the claim): the older
   * generation goes once all of it is below.
   */
  forgetBelow(floor: string): void {
    if (this.olderNewest < floor) this.rotate();
  }

  /** Ids held now. */
  get size(): number {
    return this.newer.size + this.older.size;
  }

  private rotate(): void {
    this.older = this.newer;
    this.olderNewest = this.newerNewest;
    this.newer = new Set();
    this.newerNewest = '';
  }
}
