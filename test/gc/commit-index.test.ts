/**
 * The collector's index kept between passes (gc/commit-index.ts): a pass lists only the
 * records new since the last one, finds a record that landed behind that listing within the
 * clock skew, leaves one further behind to the next full listing, and lists everything again
 * after a pass that failed or a lease held by another node. Records and versions are written
 * straight to the in-process store, with version times the test picks.
 */
import { createHash } from 'node:crypto';
import { memoryUsage } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { CommitRecord, Entry, EntryListOptions, ListOptions } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import {
  COLLECTED_NAMESPACE,
  collectableBelow,
  collectGarbage,
  listAllEntries,
  OBSERVATIONS_NAMESPACE,
} from '../../gc/collector.js';
import { CommitIndex } from '../../gc/commit-index.js';
import { acquireLease } from '../../gc/lease.js';
import { collectWhileBehind } from '../../gc/rounds.js';
import { decodeClaim, encodeClaim, epochAt } from '../../shim/idempotency.js';
import { formatVersionId, parseVersionId, TxidGenerator } from '../../shim/ids.js';
import { encodeMember, MEMBERS_NAMESPACE } from '../../shim/membership.js';
import { IDEMPOTENCY_NAMESPACE, INTENTS_NAMESPACE } from '../../shim/namespaces.js';
import { DEFAULT_TIMING, knownLagMs, orphanAfterMs } from '../../shim/timing.js';

const TIMING = DEFAULT_TIMING;
const START = 1_900_000_000_000;
const txids = new TxidGenerator('aaaaaaaaaa', () => START);

/** The in-process store, counting the records its listings return. */
class CountingStore extends MemoryAdapter {
  recordsListed = 0;
  /** listEntries calls, by namespace. */
  readonly entryListings = new Map<string, number>();
  override async listEntries(namespace: string, options?: EntryListOptions): Promise<Entry[]> {
    this.entryListings.set(namespace, (this.entryListings.get(namespace) ?? 0) + 1);
    return super.listEntries(namespace, options);
  }
  /** putEntry and putEntries calls, by namespace. */
  readonly entryPuts = new Map<string, { one: number; many: number }>();
  private puts(namespace: string) {
    const counted = this.entryPuts.get(namespace) ?? { one: 0, many: 0 };
    this.entryPuts.set(namespace, counted);
    return counted;
  }
  override async putEntry(namespace: string, id: string, value: Uint8Array): Promise<void> {
    this.puts(namespace).one += 1;
    return super.putEntry(namespace, id, value);
  }
  override async putEntries(namespace: string, entries: readonly Entry[]): Promise<void> {
    this.puts(namespace).many += 1;
    return super.putEntries(namespace, entries);
  }
  override async listCommitRecords(
    after: string | undefined,
    options?: ListOptions,
  ): Promise<CommitRecord[]> {
    const page = await super.listCommitRecords(after, options);
    this.recordsListed += page.length;
    return page;
  }
}

/** Writes a committed version of each key at `atMs`, and its record; resolves with its id. */
async function commitAt(storage: MemoryAdapter, atMs: number, keys: readonly string[]): Promise<string> {
  const versionId = formatVersionId({ physicalMs: atMs, logical: 0 }, txids.next());
  await storage.putVersions(keys.map((key) => ({ key, versionId, value: new TextEncoder().encode(key) })));
  await storage.putCommitRecord({
    versionId,
    txid: versionId.split('.')[1]!,
    writeSet: [...keys],
    deleted: [],
  });
  return versionId;
}

const stored = (storage: MemoryAdapter) =>
  storage.storedVersions.map(({ key, versionId }) => `${key}@${versionId}`).sort();

/** A pass at `nowMs`: the low water is the known lag before it (no members are registered). */
const passAt = (storage: MemoryAdapter, nowMs: number, index?: CommitIndex) =>
  collectGarbage({ storage, now: () => nowMs, timing: TIMING, ...(index && { index }) });

const LAG = knownLagMs(TIMING);

describe('collectableBelow', () => {
  it('finds the newest version at or below the low water, as a scan from the newest would', () => {
    const scan = (versions: readonly string[], lowWaterMs: number) => {
      for (let index = versions.length - 1; index > 0; index -= 1)
        if (parseVersionId(versions[index]!)!.physicalMs <= lowWaterMs) return index;
      return 0;
    };
    fc.assert(
      fc.property(fc.array(fc.nat(50)), fc.integer({ min: -1, max: 51 }), (times, lowWater) => {
        const versions = times
          .sort((a, b) => a - b)
          .map((ms, i) => formatVersionId({ physicalMs: START + ms, logical: i }, 'tx'));
        expect(collectableBelow(versions, START + lowWater)).toBe(scan(versions, START + lowWater));
      }),
    );
  });
});

describe("the collector's index between passes", () => {
  it('lists only the records new since the pass before, and collects what they supersede', async () => {
    const storage = new CountingStore();
    const index = new CommitIndex();
    const first = await commitAt(storage, START, ['k0']);
    for (let i = 1; i < 50; i += 1) await commitAt(storage, START + i, [`k${i}`]);
    await passAt(storage, START + LAG + 100, index);
    expect(storage.recordsListed).toBe(50);
    const newer = await commitAt(storage, START + 200, ['k0']);
    storage.recordsListed = 0;
    const report = await passAt(storage, START + LAG + 300, index);
    // The new record alone (the look-back reads ids only).
    expect(storage.recordsListed).toBe(1);
    expect(report.versionsDeleted).toBe(1);
    expect(stored(storage)).not.toContain(`k0@${first}`);
    expect(stored(storage)).toContain(`k0@${newer}`);
    expect(storage.versionCount).toBe(50);
  });

  it('finds a record that landed behind the listing within the clock skew, in order', async () => {
    const storage = new MemoryAdapter();
    const index = new CommitIndex();
    const oldest = await commitAt(storage, START, ['k']);
    const newest = await commitAt(storage, START + 3000, ['k']);
    await passAt(storage, START + 100, index);
    // Landed after that listing, with a version time between the two (a commit in flight).
    const late = await commitAt(storage, START + 2500, ['k']);
    const report = await passAt(storage, START + 3000 + LAG, index);
    expect(report.versionsDeleted).toBe(2);
    expect(stored(storage)).toEqual([`k@${newest}`]);
    expect([oldest, late].some((versionId) => stored(storage).includes(`k@${versionId}`))).toBe(false);
  });

  it('leaves one that landed further behind to the next full listing', async () => {
    const storage = new MemoryAdapter();
    const index = new CommitIndex({ fullListingEveryMs: 60_000 });
    await commitAt(storage, START, ['k']);
    const newest = await commitAt(storage, START + 3 * TIMING.maxClockSkewMs, ['k']);
    await passAt(storage, START + 100, index);
    const late = await commitAt(storage, START + TIMING.maxClockSkewMs, ['k']);
    const after = START + 3 * TIMING.maxClockSkewMs + LAG;
    await passAt(storage, after, index);
    expect(stored(storage)).toEqual([`k@${late}`, `k@${newest}`].sort());
    await passAt(storage, START + 100 + 60_000, index);
    expect(stored(storage)).toEqual([`k@${newest}`]);
  });

  it('deletes a record only past the outcome retention, once all its keys are gone', async () => {
    const storage = new MemoryAdapter();
    const index = new CommitIndex();
    const first = await commitAt(storage, START, ['a', 'b']);
    await commitAt(storage, START + 10, ['a']);
    await passAt(storage, START + LAG + 20, index);
    // b is still current: the record stays, and remembers that a is gone.
    await commitAt(storage, START + 30, ['b']);
    const beforeRetention = await passAt(storage, START + LAG + 40, index);
    expect([beforeRetention.versionsDeleted, beforeRetention.recordsDeleted]).toEqual([1, 0]);
    const past = await passAt(storage, START + TIMING.outcomeRetentionMs + 1, index);
    expect(past.recordsDeleted).toBe(1);
    expect(await storage.getCommitRecord(first)).toBeUndefined();
    // Nothing of it is left for a later pass, nor in a full listing's notes.
    const again = await passAt(storage, START + TIMING.outcomeRetentionMs + 2);
    expect([again.versionsDeleted, again.recordsDeleted]).toEqual([0, 0]);
  });

  it('reads a namespace in as few calls as the engine answers (Redis reads all of one per call)', async () => {
    const storage = new CountingStore();
    for (let i = 0; i < 2500; i += 1)
      await storage.putEntry(COLLECTED_NAMESPACE, `note-${i}`, new TextEncoder().encode('[]'));
    await passAt(storage, START + LAG);
    // One listing, then the empty page that ends it; in pages of 1000 it was four.
    expect(storage.entryListings.get(COLLECTED_NAMESPACE)).toBe(2);
    // The notes of records that are gone are deleted.
    expect(await storage.listEntries(COLLECTED_NAMESPACE)).toEqual([]);
  });

  it('lists a namespace that one page answers whole, however large (Redis and the in-process store do)', async () => {
    const storage = new MemoryAdapter();
    const value = new TextEncoder().encode('[]');
    const ids = Array.from({ length: 200_000 }, (_, i) => `note-${String(i).padStart(6, '0')}`);
    await storage.putEntries(
      COLLECTED_NAMESPACE,
      ids.map((id) => ({ id, value })),
    );
    const listed = await listAllEntries(storage, COLLECTED_NAMESPACE, {});
    expect(listed.length).toBe(ids.length);
    expect(listed[listed.length - 1]!.id).toBe(ids[ids.length - 1]);
  });

  it("writes a pass's notes in a few calls of the engine's batch, not one call each", async () => {
    const storage = new CountingStore();
    const index = new CommitIndex();
    const firsts: string[] = [];
    for (let i = 0; i < 600; i += 1) firsts.push(await commitAt(storage, START + i, [`a${i}`, `b${i}`]));
    for (let i = 0; i < 600; i += 1) await commitAt(storage, START + 1000 + i, [`a${i}`]);
    storage.entryPuts.clear();
    const report = await passAt(storage, START + 2000 + LAG, index);
    expect(report.versionsDeleted).toBe(600);
    // Each first record stays (its b is current) and notes its a gone: 600 notes, 2 calls.
    expect(storage.entryPuts.get(COLLECTED_NAMESPACE)).toEqual({ one: 0, many: 2 });
    const notes = await storage.listEntries(COLLECTED_NAMESPACE);
    expect(notes.map(({ id, value }) => [id, JSON.parse(new TextDecoder().decode(value))])).toEqual(
      firsts.map((versionId, i) => [versionId, [`a${i}`]]),
    );
  });

  it('goes on past a note it cannot read (a damaged entry), deleting it, and finds again what it said', async () => {
    const storage = new CountingStore();
    const first = await commitAt(storage, START, ['a', 'b']);
    await commitAt(storage, START + 10, ['a']);
    const damaged = ['not json', '{}', '5', '["a", 7]'];
    for (const [i, text] of damaged.entries()) {
      const versionId =
        i === 0 ? first : formatVersionId({ physicalMs: START + 1 + i, logical: 0 }, txids.next());
      if (i > 0)
        await storage.putCommitRecord({
          versionId,
          txid: versionId.split('.')[1]!,
          writeSet: [`c${i}`],
          deleted: [],
        });
      await storage.putEntry(COLLECTED_NAMESPACE, versionId, new TextEncoder().encode(text));
    }
    const report = await passAt(storage, START + 20 + LAG);
    // a's first version is collected all the same (deleting it again would be no error).
    expect(report.versionsDeleted).toBe(1);
    const notes = await storage.listEntries(COLLECTED_NAMESPACE);
    // The damaged notes are gone; the record that stays has its note written anew.
    expect(notes.map(({ id, value }) => [id, new TextDecoder().decode(value)])).toEqual([[first, '["a"]']]);
  });

  it.each(['null', 'not json', '[1]', '{"n1": 5}', '{"n1": {"seq": 7, "sinceMs": "x"}}'])(
    'goes on past observations of the members it cannot read (%s), counting every member live',
    async (text) => {
      const storage = new MemoryAdapter();
      await commitAt(storage, START, ['a']);
      await commitAt(storage, START + 10, ['a']);
      const nowMs = START + 20 + LAG;
      const member = { nodeId: 'n1', url: 'http://n1', seq: 7, heartbeatAtMs: nowMs, lowWaterMs: START + 20 };
      await storage.putEntry(MEMBERS_NAMESPACE, 'n1', encodeMember(member));
      await storage.putEntry(OBSERVATIONS_NAMESPACE, 'members', new TextEncoder().encode(text));
      const report = await passAt(storage, nowMs);
      expect(report).toMatchObject({ liveNodes: 1, versionsDeleted: 1 });
      // Written anew: what this pass saw of the member.
      const saved = JSON.parse(
        new TextDecoder().decode(await storage.getEntry(OBSERVATIONS_NAMESPACE, 'members')),
      );
      expect(saved).toEqual({ n1: { seq: 7, sinceMs: nowMs } });
    },
  );

  it('goes on past an intent it cannot read, leaving it (and its record) in storage', async () => {
    const storage = new MemoryAdapter();
    const older = await commitAt(storage, START, ['k']);
    const newer = await commitAt(storage, START + 10, ['k']);
    const orphan = formatVersionId({ physicalMs: START + 20, logical: 0 }, txids.next());
    const damaged = new TextEncoder().encode('{"keys":5}');
    await storage.putEntries(INTENTS_NAMESPACE, [
      { id: newer, value: damaged },
      { id: orphan, value: damaged },
    ]);
    // Past the orphan bound and the outcome retention: before, every pass failed here.
    const report = await passAt(storage, START + TIMING.outcomeRetentionMs + orphanAfterMs(TIMING) + 1000);
    expect(report.versionsDeleted).toBe(1);
    expect(report.recordsDeleted).toBe(1);
    expect(await storage.getCommitRecord(older)).toBeUndefined();
    expect(report.unreadableIntents).toBe(2);
    expect((await storage.listEntries(INTENTS_NAMESPACE)).map(({ id }) => id).sort()).toEqual(
      [newer, orphan].sort(),
    );
    expect(await storage.getCommitRecord(orphan)).toBeUndefined();
  });

  it('settles the idempotency claims and deletes records on a full listing only, once a minute', async () => {
    const storage = new CountingStore();
    const index = new CommitIndex({ fullListingEveryMs: 60_000 });
    for (let i = 0; i < 5; i += 1) await commitAt(storage, START + i, ['k']);
    const listings = () => storage.entryListings.get(IDEMPOTENCY_NAMESPACE) ?? 0;
    // Half a minute before the records' outcome retention has passed.
    const first = await passAt(storage, START + TIMING.outcomeRetentionMs - 30_000, index);
    expect(listings()).toBe(1);
    expect([first.versionsDeleted, first.recordsDeleted]).toEqual([4, 0]);
    // Past it, but not a minute since the full listing: claims are not listed, records wait.
    const between = await passAt(storage, START + TIMING.outcomeRetentionMs + 10_000, index);
    expect(listings()).toBe(1);
    expect(between.recordsDeleted).toBe(0);
    const full = await passAt(storage, START + TIMING.outcomeRetentionMs + 30_000, index);
    expect(listings()).toBe(2);
    // The four superseded records; the newest stays, its key current.
    expect(full.recordsDeleted).toBe(4);
  });

  it('marks the claims it settles a page at a time, in a batch each, not one write each', async () => {
    const storage = new CountingStore();
    const ttlMs = 3_600_000;
    const claims = [];
    for (let i = 0; i < 1200; i += 1) {
      const versionId = await commitAt(storage, START + i, [`k${i}`]);
      const key = `order-${i}`;
      const hash = createHash('sha256').update(key).digest('hex');
      claims.push({
        id: `${hash}.${epochAt(START, ttlMs)}.0000`,
        value: encodeClaim({
          key,
          txid: versionId.split('.')[1]!,
          versionId,
          expiresAtMs: START + i + ttlMs,
          result: null,
          committed: false,
        }),
      });
    }
    await storage.putEntries(IDEMPOTENCY_NAMESPACE, claims);
    storage.entryPuts.clear();
    await passAt(storage, START + 1200 + orphanAfterMs(TIMING) + 1);
    // Two pages of claims (1,000 a page), each marked in one call.
    expect(storage.entryPuts.get(IDEMPOTENCY_NAMESPACE)).toEqual({ one: 0, many: 2 });
    const marked = await storage.listEntries(IDEMPOTENCY_NAMESPACE);
    expect(marked.map(({ value }) => decodeClaim(value)?.committed)).toEqual(claims.map(() => true));
  });

  it('lists everything again after a pass that failed halfway', async () => {
    const storage = new CountingStore();
    const index = new CommitIndex();
    for (let i = 0; i < 5; i += 1) await commitAt(storage, START + i, ['k']);
    const failing = Object.assign(Object.create(storage) as CountingStore, {
      deleteVersions: () => Promise.reject(new Error('injected: storage went away')),
    });
    await expect(passAt(failing, START + LAG + 10, index)).rejects.toThrow('injected');
    storage.recordsListed = 0;
    const report = await passAt(storage, START + LAG + 20, index);
    expect(storage.recordsListed).toBe(5);
    expect(report.versionsDeleted).toBe(4);
  });

  it('lists everything again once another node held the lease', async () => {
    const storage = new CountingStore();
    const index = new CommitIndex();
    for (let i = 0; i < 5; i += 1) await commitAt(storage, START + i, [`k${i}`]);
    let nowMs = START + LAG + 10;
    const round = {
      storage,
      index,
      holder: 'here',
      leaseMs: 1000,
      reserveMs: 0,
      now: () => nowMs,
      timing: TIMING,
    };
    await collectWhileBehind(round);
    nowMs += 2000;
    await acquireLease(storage, 'elsewhere', 1000, () => nowMs);
    expect(await collectWhileBehind(round)).toEqual([]);
    nowMs += 2000;
    storage.recordsListed = 0;
    await collectWhileBehind(round);
    expect(storage.recordsListed).toBe(5);
  });
});

/** V8's collector, exposed at run time (jest runs without --expose-gc). */
function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe("the collector's index under load: what it keeps for the outcome retention", () => {
  it('reads again, at a full listing, only the records it does not know', async () => {
    const storage = new CountingStore();
    const index = new CommitIndex({ fullListingEveryMs: 60_000 });
    for (let i = 0; i < 50; i += 1) await commitAt(storage, START + i, [`k${i % 10}`]);
    await passAt(storage, START + LAG + 100, index);
    expect(storage.recordsListed).toBe(50);
    // Landed behind the look-back of every incremental pass: only a full listing finds it.
    const late = await commitAt(storage, START + 60, ['k0']);
    await commitAt(storage, START + 70, ['k0']);
    storage.recordsListed = 0;
    const full = await passAt(storage, START + LAG + 100 + 60_000, index);
    // The 50 known ones were not read again (before, a full listing read every record, 15
    // minutes of them, each minute), and the late one was found and collected.
    expect(storage.recordsListed).toBeLessThan(50);
    expect(full.commitRecords).toBe(52);
    expect(stored(storage)).not.toContain(`k0@${late}`);
  });

  it('reads every new record at a full listing from an engine that answers short pages', async () => {
    // DynamoDB answers at most 1 MB a page, S3 1,000 keys: a page of ids may name more.
    class ShortPages extends MemoryAdapter {
      override listCommitRecords(after: string | undefined, options?: ListOptions): Promise<CommitRecord[]> {
        return super.listCommitRecords(after, { ...options, limit: Math.min(options?.limit ?? 5, 5) });
      }
    }
    const storage = new ShortPages();
    const index = new CommitIndex({ fullListingEveryMs: 60_000 });
    for (let i = 0; i < 10; i += 1) await commitAt(storage, START + i, [`k${i}`]);
    await passAt(storage, START + LAG + 100, index);
    for (let i = 0; i < 40; i += 1) await commitAt(storage, START + 1000 + i, [`k${i % 10}`]);
    // And more than a few landed late, behind all it listed: the full listing's sweep finds them.
    for (let i = 0; i < 20; i += 1) await commitAt(storage, START - 100 + i, [`late${i}`]);
    const full = await passAt(storage, START + LAG + 100 + 60_000, index);
    expect(full.commitRecords).toBe(70);
    expect(full.versionsDeleted).toBe(40);
  });

  it('keeps a record whose keys are all gone in a few bytes, not the whole record', async () => {
    const gc = forceGc();
    const storage = new MemoryAdapter();
    const count = 20_000;
    // Each record superseded by the next: all but the newest are finished.
    for (let i = 0; i <= count; i += 1) await commitAt(storage, START + i, ['hot', 'warm']);
    let index: CommitIndex | undefined = new CommitIndex();
    const nowMs = START + count + LAG;
    const report = await collectGarbage({
      storage,
      now: () => nowMs,
      timing: TIMING,
      index,
      maxDeletes: 2 * count,
    });
    expect([report.versionsDeleted, report.recordsDeleted]).toEqual([2 * count, 0]);
    gc();
    const withIndex = memoryUsage().heapUsed;
    expect(report.commitRecords).toBe(count + 1);
    index = undefined;
    gc();
    const bytesPerRecord = (withIndex - memoryUsage().heapUsed) / count;
    // (The store stays alive through both measures.)
    expect(storage.versionCount).toBe(2);
    // A finished record is a map entry (its id, shared with the store here, and its flags):
    // ~50 bytes. The index held ~480 here (the record, a Set of its gone keys, three set
    // entries); over Redis, ~600 bytes of live heap a commit: 1.2 GB at 15 minutes of 2,200 a second.
    expect(bytesPerRecord).toBeLessThan(120);
  });
});
