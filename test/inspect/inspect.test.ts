/**
 * `aft inspect`'s readings (server/inspect.ts) against a store laid out by hand, with a fixed
 * clock: each state a member, a version or a record can be in, judged as GC judges it, and
 * never a write to storage.
 */
import type { ListOptions, StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { damagedRecord } from '../../adapters/record-codec.js';
import { inspectKey, inspectMembers, inspectStats } from '../../server/inspect.js';
import { parseSince } from '../../server/inspect-cli.js';
import { followCommits, inspectCommits } from '../../server/inspect-commits.js';
import { abortMarker } from '../../shim/commit-outcome.js';
import { formatVersionId } from '../../shim/ids.js';
import { encodeMember } from '../../shim/membership.js';
import { NAMESPACES } from '../../shim/namespaces.js';

const NOW = 1_800_000_000_000;
const MINUTE = 60_000;
const bytes = (text: string) => new TextEncoder().encode(text);
let txSequence = 0;
const versionAt = (ms: number) => {
  txSequence += 1;
  return formatVersionId(
    { physicalMs: ms, logical: 0 },
    `aaaaaaaaaa-${ms.toString(36)}-${txSequence}-${'0'.repeat(32)}`,
  );
};

/** The storage, and every call that would change it. */
function readOnlyWatch(storage: MemoryAdapter): { storage: StorageAdapter; writes: string[] } {
  const writes: string[] = [];
  const changing = new Set([
    'putVersions',
    'putCommitRecord',
    'putVersionsAndRecord',
    'deleteVersions',
    'deleteCommitRecords',
    'putEntry',
    'createEntry',
    'swapEntry',
    'deleteEntries',
    'init',
  ]);
  const watched = new Proxy(storage, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (changing.has(String(name))) writes.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { storage: watched, writes };
}

async function commit(storage: MemoryAdapter, ms: number, values: Record<string, string | null>) {
  const versionId = versionAt(ms);
  const keys = Object.keys(values);
  const written = keys.filter((key) => values[key] !== null);
  await storage.putVersions(written.map((key) => ({ key, versionId, value: bytes(values[key]!) })));
  await storage.putCommitRecord({
    versionId,
    txid: versionId.slice(19),
    writeSet: keys,
    deleted: keys.filter((key) => values[key] === null),
  });
  return versionId;
}

async function intent(storage: MemoryAdapter, ms: number, key: string): Promise<string> {
  const versionId = versionAt(ms);
  await storage.putEntry(NAMESPACES.intents, versionId, bytes(JSON.stringify({ keys: [key] })));
  await storage.putVersions([{ key, versionId, value: bytes('never committed') }]);
  return versionId;
}

async function member(storage: MemoryAdapter, nodeId: string, heartbeatAtMs: number, extra: object = {}) {
  const record = {
    nodeId,
    url: `http://${nodeId}:7070`,
    seq: 7,
    heartbeatAtMs,
    lowWaterMs: NOW - 30_000,
    deadAfterMs: 10_000,
  };
  await storage.putEntry(NAMESPACES.members, nodeId, encodeMember({ ...record, ...extra }));
}

describe('aft inspect, read by read', () => {
  it('judges members live, dead (by heartbeat age, or unchanged as the collectors saw them) and fenced', async () => {
    const memory = new MemoryAdapter();
    await member(memory, 'live-node', NOW - 2_000);
    await member(memory, 'silent-node', NOW - 60_000);
    await member(memory, 'stuck-node', NOW - 1_000); // its clock says now, but its heartbeat never moves
    await member(memory, 'fenced-node', NOW - 500, { fenced: 'clock off by 9000 ms' });
    await memory.putEntry(
      NAMESPACES.gcObservations,
      'members',
      bytes(
        JSON.stringify({
          'stuck-node': { seq: 7, sinceMs: NOW - 5 * MINUTE },
          'live-node': { seq: 6, sinceMs: NOW - 5 * MINUTE },
        }),
      ),
    );
    const { storage, writes } = readOnlyWatch(memory);
    const members = await inspectMembers({ storage, now: () => NOW });
    const byId = Object.fromEntries(members.map((report) => [report.nodeId, report]));
    expect(byId['live-node']).toMatchObject({
      state: 'live',
      heartbeatAgeMs: 2_000,
      url: 'http://live-node:7070',
      seq: 7,
    });
    expect(byId['silent-node']).toMatchObject({ state: 'dead', heartbeatAgeMs: 60_000 });
    expect(byId['stuck-node']).toMatchObject({ state: 'dead' });
    expect(byId['fenced-node']).toMatchObject({ state: 'live', fenced: 'clock off by 9000 ms' });
    expect(writes).toEqual([]);
  });

  it.each(['null', 'not json', '{"live-node": {"seq": 7, "sinceMs": "x"}}'])(
    'judges members by heartbeat age alone where it cannot read the observations (%s)',
    async (text) => {
      const memory = new MemoryAdapter();
      await member(memory, 'live-node', NOW - 2_000);
      await member(memory, 'silent-node', NOW - 60_000);
      await memory.putEntry(NAMESPACES.gcObservations, 'members', bytes(text));
      const members = await inspectMembers({ storage: memory, now: () => NOW });
      expect(members.map(({ nodeId, state }) => [nodeId, state])).toEqual([
        ['live-node', 'live'],
        ['silent-node', 'dead'],
      ]);
    },
  );

  it('names each version of a key by its state, and which ones GC may collect now', async () => {
    const memory = new MemoryAdapter();
    await member(memory, 'live-node', NOW - 1_000, { lowWaterMs: NOW - 2 * MINUTE });
    const v1 = await commit(memory, NOW - 10 * MINUTE, { k: 'one', other: 'o' });
    const v2 = await commit(memory, NOW - 9 * MINUTE, { k: 'two' });
    const v3 = await commit(memory, NOW - 8 * MINUTE, { k: 'three' });
    const v4 = await commit(memory, NOW - 1 * MINUTE, { k: 'four' }); // above the low water
    // GC collected v1's bytes of k and remembers it; the record stays for `other`.
    await memory.deleteVersions([{ key: 'k', versionId: v1 }]);
    await memory.putEntry(NAMESPACES.gcCollected, v1, bytes(JSON.stringify(['k'])));
    const orphan = await intent(memory, NOW - 5 * MINUTE, 'k');
    const aborted = await intent(memory, NOW - 4 * MINUTE, 'k');
    await memory.putCommitRecord(abortMarker(aborted));
    const inFlight = await intent(memory, NOW - 2_000, 'k');

    const { storage, writes } = readOnlyWatch(memory);
    const report = await inspectKey({ storage, key: 'k', now: () => NOW });
    expect(report.lowWaterMs).toBe(NOW - 2 * MINUTE);
    expect(
      report.versions.map(({ versionId, state, bytes: size, collectable }) => ({
        versionId,
        state,
        size,
        collectable,
      })),
    ).toEqual([
      { versionId: v1, state: 'collected', size: undefined, collectable: false },
      { versionId: v2, state: 'superseded', size: 3, collectable: true },
      { versionId: v3, state: 'superseded', size: 5, collectable: false }, // newest at or below the low water
      { versionId: orphan, state: 'orphan', size: 15, collectable: true },
      { versionId: aborted, state: 'aborted', size: 15, collectable: true },
      { versionId: v4, state: 'visible', size: 4, collectable: false },
      { versionId: inFlight, state: 'in-flight', size: 15, collectable: false },
    ]);

    // A damaged note (not a list of keys) is read as no note, not a failure of the command.
    await memory.putEntry(NAMESPACES.gcCollected, v2, bytes('{"not":"keys"}'));
    expect((await inspectKey({ storage, key: 'k', now: () => NOW })).versions[1]).toMatchObject({
      versionId: v2,
      state: 'superseded',
    });

    await commit(memory, NOW - 30_000, { k: null });
    const deleted = await inspectKey({ storage, key: 'k', now: () => NOW });
    expect(deleted.versions.at(-2)).toMatchObject({ state: 'deleted' });
    expect(deleted.versions.find((version) => version.versionId === v4)).toMatchObject({
      state: 'superseded',
    });
    expect((await inspectKey({ storage, key: 'never', now: () => NOW })).versions).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('counts keys, versions, records, intents, claims and the GC backlog', async () => {
    const memory = new MemoryAdapter();
    await member(memory, 'live-node', NOW - 1_000, { lowWaterMs: NOW - 2 * MINUTE });
    await member(memory, 'dead-node', NOW - 10 * MINUTE);
    await commit(memory, NOW - 10 * MINUTE, { a: '1', b: '1' });
    await commit(memory, NOW - 9 * MINUTE, { a: '2' });
    await commit(memory, NOW - 8 * MINUTE, { a: '3', b: null });
    await intent(memory, NOW - 5 * MINUTE, 'c'); // an orphan
    const marked = await intent(memory, NOW - 4 * MINUTE, 'c');
    await memory.putCommitRecord(abortMarker(marked));
    await memory.putEntry(NAMESPACES.idempotency, 'claim-1', bytes('{}'));
    await memory.putEntry(NAMESPACES.claims, 'claim-a', bytes('{}'));
    const progress: string[] = [];
    const { storage, writes } = readOnlyWatch(memory);
    const stats = await inspectStats({
      storage,
      now: () => NOW,
      onProgress: ({ phase }) => progress.push(phase),
    });
    expect(stats).toEqual({
      members: 2,
      liveMembers: 1,
      commitRecords: 3,
      abortMarkers: 1,
      keys: 2,
      deletedKeys: 1,
      versions: 4, // a three times, b once (its tombstone has no bytes)
      intents: 2,
      idempotencyClaims: 1,
      claims: 1,
      lowWaterMs: NOW - 2 * MINUTE,
      // a's two older versions and b's first (superseded by its tombstone); the marked intent is past the bound too.
      gcBacklog: { versions: 3, orphanIntents: 2 },
      damagedRecords: [],
    });
    expect(progress).toContain('records');
    expect(progress.at(-1)).toBe('done');
    expect(writes).toEqual([]);
  });

  it('names the commit records it cannot read, and counts none of them, nor their intents as orphans', async () => {
    const memory = new MemoryAdapter();
    await member(memory, 'live-node', NOW - 1_000, { lowWaterMs: NOW - 2 * MINUTE });
    await commit(memory, NOW - 10 * MINUTE, { a: '1' });
    const damaged = await commit(memory, NOW - 9 * MINUTE, { a: '2' });
    // Its committer died before deleting its intent.
    await memory.putEntry(NAMESPACES.intents, damaged, bytes('{"keys":["a"]}'));
    // The in-process store holds no bytes to damage: this one answers its record as damaged.
    const damaging = Object.assign(Object.create(memory) as MemoryAdapter, {
      listCommitRecords: async (after: string | undefined, options?: ListOptions) =>
        (await memory.listCommitRecords(after, options)).map((record) =>
          record.versionId === damaged ? damagedRecord(damaged) : record,
        ),
    });
    const stats = await inspectStats({ storage: damaging, now: () => NOW });
    expect(stats).toMatchObject({
      commitRecords: 1,
      versions: 1,
      intents: 1,
      gcBacklog: { versions: 0, orphanIntents: 0 },
      damagedRecords: [damaged],
    });
  });

  it('lists commit records since a time, the newest up to a limit, markers marked', async () => {
    const memory = new MemoryAdapter();
    await commit(memory, NOW - 20 * MINUTE, { old: 'x' });
    const recent = await commit(memory, NOW - 5 * MINUTE, { a: '1', gone: null });
    const marked = versionAt(NOW - 4 * MINUTE);
    await memory.putCommitRecord(abortMarker(marked));
    const later = await commit(memory, NOW - 1 * MINUTE, { b: '2' });
    const { commits, skipped } = await inspectCommits({
      storage: memory,
      sinceMs: NOW - 15 * MINUTE,
      now: () => NOW,
    });
    expect(skipped).toBe(0);
    expect(commits.map(({ versionId, aborted }) => ({ versionId, aborted }))).toEqual([
      { versionId: recent, aborted: false },
      { versionId: marked, aborted: true },
      { versionId: later, aborted: false },
    ]);
    expect(commits[0]).toMatchObject({
      timeMs: NOW - 5 * MINUTE,
      keys: ['a', 'gone'],
      deleted: ['gone'],
      txid: recent.slice(19),
    });
    // The newest `limit` of them, and how many older ones were passed over.
    expect(await inspectCommits({ storage: memory, sinceMs: NOW - 15 * MINUTE, limit: 1 })).toEqual({
      commits: [expect.objectContaining({ versionId: later })],
      skipped: 2,
    });
  });

  it('follows commits from the newest already there as they land, a late record with an older version time included, each once', async () => {
    const memory = new MemoryAdapter();
    let clock = NOW;
    await commit(memory, NOW - 2_000, { z: '0' }); // older than the newest `limit`: not shown
    const first = await commit(memory, NOW - 1_000, { a: '1' });
    const seen: string[] = [];
    const stop = new AbortController();
    const following = followCommits({
      storage: memory,
      sinceMs: NOW - MINUTE,
      limit: 1,
      intervalMs: 10,
      now: () => clock,
      signal: stop.signal,
      onCommit: (report) => seen.push(report.versionId),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    clock += 5_000;
    const next = await commit(memory, clock - 100, { b: '2' });
    // Lands now, though its version time is 20 s back: a slow committer's record.
    const late = await commit(memory, clock - 20_000, { c: '3' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop.abort();
    await following;
    expect(seen).toEqual([first, late, next]);
  });
});

describe('--since', () => {
  it('takes a duration back from now or an ISO date, and nothing else', () => {
    expect(parseSince('90s', NOW)).toBe(NOW - 90_000);
    expect(parseSince('15m', NOW)).toBe(NOW - 15 * MINUTE);
    expect(parseSince('2h', NOW)).toBe(NOW - 120 * MINUTE);
    expect(parseSince('2026-11-28T00:00:00Z', NOW)).toBe(Date.parse('2026-11-28T00:00:00Z'));
    expect(() => parseSince('yesterday', NOW)).toThrow(/expected a duration/);
    expect(() => parseSince('15', NOW)).toThrow(/expected a duration/);
  });
});
