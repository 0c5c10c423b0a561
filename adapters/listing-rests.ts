/**
 * The rest of listings in progress, for an engine that can only read a whole namespace at
 * once (Redis: one hash, read in id order only by HGETALL). A listing's first page reads it
 * all and keeps what follows the page here, under the id its next page starts after; that
 * page takes it instead of reading everything again (each page did: a namespace of n entries
 * listed in pages of p cost n²/p). What a later page returns is the namespace as the listing's
 * first page read it: an entry written since is not in it, as one written just after a page
 * passed its id is not in any listing. A rest is kept for `keepMs`, and only a call that
 * names the exact id its page ended at takes it; a first page (no `after`) reads anew. A
 * listing must not begin after an entry's id (the floors the nodes begin at are no ids): it
 * could take the older rest of another listing whose page ended there.
 */
/** A listing's entries in order, of which those from `from` on are still to be paged. */
export interface Rest<T> {
  readonly items: readonly T[];
  readonly from: number;
}

export class ListingRests<T> {
  private readonly rests = new Map<string, Rest<T> & { readonly untilMs: number }>();

  constructor(
    private readonly keepMs = 5_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** What follows the page of `namespace` that ended at `lastId`, or undefined. */
  take(namespace: string, lastId: string): Rest<T> | undefined {
    const key = `${namespace}\u0000${lastId}`;
    const rest = this.rests.get(key);
    if (!rest) return undefined;
    this.rests.delete(key);
    return rest.untilMs > this.now() ? { items: rest.items, from: rest.from } : undefined;
  }

  /** Keeps what follows a page of `namespace` that ended at `lastId`: `items` from `from` on. */
  keep(namespace: string, lastId: string, { items, from }: Rest<T>): void {
    const nowMs = this.now();
    // Rests of listings given up go at the next keep.
    for (const [key, rest] of this.rests) if (rest.untilMs <= nowMs) this.rests.delete(key);
    const key = `${namespace}\u0000${lastId}`;
    // Two listings whose pages ended at the same id: neither can tell whose rest it would take
    // (the older one lacks what landed since), so both read anew.
    if (this.rests.delete(key)) return;
    this.rests.set(key, { items, from, untilMs: nowMs + this.keepMs });
  }
}
