/**
 * The version ids local GC dropped that a settling pull may still list (shim/commit-learning.ts).
 * A settling pull lists every id from its node's claim (`knownThroughMs`) on and reads the
 * record of each one it does not know: an id dropped from the metadata and forgotten here
 * would cost a storage read per settling pull, and learning it again.
 *
 * So this holds what the pulls still list, by version time, however fast commits come: a
 * RecentSet whose generations also rotate once every id of the older sorts below the claim,
 * when no pull lists them again. A fixed count alone (it was 100,000) held 13 s of the commits
 * an 8-node tier's node learns, less than the 25 s a settling pull lists, and minutes of a
 * quiet node's.
 */
import { RecentSet } from './recent-set.js';

export class CollectedIds extends RecentSet<string> {
  private newerNewest = '';
  private olderNewest = '';

  /**
   * @param maxPerGeneration past this many ids in the newer generation, the older is dropped
   *   anyway: memory stays bounded while the claim cannot move (storage down, an intent in
   *   flight), at the cost of reading some records again.
   */
  constructor(maxPerGeneration = 500_000) {
    super(maxPerGeneration);
  }

  override add(versionId: string): this {
    // Before super.add, which may rotate this id into the older generation.
    if (versionId > this.newerNewest) this.newerNewest = versionId;
    return super.add(versionId);
  }

  /**
   * No pull lists ids below `floor` any more (a version id floor of the claim): the older
   * generation goes once all of it is below.
   */
  forgetBelow(floor: string): void {
    if (this.olderNewest < floor) this.rotate();
  }

  protected override rotate(): void {
    super.rotate();
    this.olderNewest = this.newerNewest;
    this.newerNewest = '';
  }
}
