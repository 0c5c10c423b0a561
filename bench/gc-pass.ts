/**
 * What one collector pass costs as the records kept for the outcome retention grow
 * (gc/commit-index.ts); a section of `npm run bench` (`BENCH_GC_PASS=off` skips it). Two
 * in-process stores hold the same R records, each writing 2 of 1000 keys as the bench's
 * transaction does, all collected once; then, five times, 1,000 more records land on both and
 * one pass runs on each: on one by a collector that keeps its index between passes (as
 * `aft serve` does), on the other by a fresh one (as every pass ran before: it lists all R
 * records and walks every key's versions). Then five more, a minute apart, where the kept
 * index's pass is a full listing. CPU time of this process per pass, median of 5; and the
 * heap the index holds (what grew without bound with throughput before `gc/commit-index.ts`
 * kept finished records as ids).
 */
import { memoryUsage } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { StorageAdapter } from '../adapters/contract.js';
import { MemoryAdapter } from '../adapters/memory.js';
import { collectGarbage } from '../gc/collector.js';
import { CommitIndex } from '../gc/commit-index.js';
import { formatVersionId, TxidGenerator } from '../shim/ids.js';
import { DEFAULT_TIMING, knownLagMs } from '../shim/timing.js';
import { ownCpuMicros } from './measure.js';

const KEYS = 1000;
const NEW_RECORDS = 1000;
const ROUNDS = 5;
const FULL_LISTING_EVERY_MS = 60_000;
const START = 1_900_000_000_000;
const VALUE = new Uint8Array(16);

/** Writes `count` records of 2 random keys, one a millisecond from `fromMs`, to every store. */
async function commitMany(
  stores: readonly StorageAdapter[],
  txids: TxidGenerator,
  fromMs: number,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const versionId = formatVersionId({ physicalMs: fromMs + i, logical: 0 }, txids.next());
    const first = Math.floor(Math.random() * KEYS);
    const keys = [`bench/${first}`, `bench/${(first + 1 + Math.floor(Math.random() * (KEYS - 1))) % KEYS}`];
    const record = { versionId, txid: versionId.split('.')[1]!, writeSet: keys, deleted: [] };
    for (const store of stores) {
      await store.putVersions(keys.map((key) => ({ key, versionId, value: VALUE })));
      await store.putCommitRecord(record);
    }
  }
}

async function cpuOfPass(storage: StorageAdapter, nowMs: number, index?: CommitIndex): Promise<number> {
  const before = ownCpuMicros();
  // No bound on a pass's deletes: the first pass collects all R, each later one all that is new.
  await collectGarbage({
    storage,
    now: () => nowMs,
    maxDeletes: Number.MAX_SAFE_INTEGER,
    ...(index && { index }),
  });
  return ownCpuMicros() - before;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Heap used after a full collection of V8's (exposed at run time: `npm run bench` runs without). */
function heapUsedAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return memoryUsage().heapUsed;
}

/** Runs a pass on each store, in turn which goes first; resolves with their CPU times. */
async function passesInTurn(
  round: number,
  kept: StorageAdapter,
  fresh: StorageAdapter,
  nowMs: number,
  index: CommitIndex,
): Promise<[number, number]> {
  // In turn which goes first, so neither always finds the heap the other left.
  if (round % 2 === 0) {
    const withIndex = await cpuOfPass(kept, nowMs, index);
    return [withIndex, await cpuOfPass(fresh, nowMs)];
  }
  const without = await cpuOfPass(fresh, nowMs);
  return [await cpuOfPass(kept, nowMs, index), without];
}

export async function benchGcPass(recordCounts: readonly number[] = [20_000, 200_000]): Promise<string[]> {
  const rows: string[] = [];
  for (const records of recordCounts) {
    const kept = new MemoryAdapter();
    const fresh = new MemoryAdapter();
    let index: CommitIndex | undefined = new CommitIndex({ fullListingEveryMs: FULL_LISTING_EVERY_MS });
    const txids = new TxidGenerator('benchgcpas', () => START);
    await commitMany([kept, fresh], txids, START, records);
    // Every record is past the known lag, none past the outcome retention (none is deleted).
    let atMs = START + records;
    let fullListingsAtMs = 0;
    const nowMs = () => atMs + fullListingsAtMs + knownLagMs(DEFAULT_TIMING) + 1;
    await cpuOfPass(kept, nowMs(), index);
    await cpuOfPass(fresh, nowMs());
    const withIndex: number[] = [];
    const without: number[] = [];
    const fullWithIndex: number[] = [];
    for (let round = 0; round < 2 * ROUNDS; round += 1) {
      await commitMany([kept, fresh], txids, atMs, NEW_RECORDS);
      atMs += NEW_RECORDS;
      // The second half, a minute apart: each pass with the index is a full listing.
      if (round >= ROUNDS) fullListingsAtMs += FULL_LISTING_EVERY_MS;
      const [a, b] = await passesInTurn(round, kept, fresh, nowMs(), index);
      (round < ROUNDS ? withIndex : fullWithIndex).push(a);
      without.push(b);
    }
    const withHeld = heapUsedAfterGc();
    const recordsHeld = index.size;
    index = undefined;
    const heldBytes = (withHeld - heapUsedAfterGc()) / recordsHeld;
    const [a, b, c] = [median(withIndex) / 1000, median(without) / 1000, median(fullWithIndex) / 1000];
    rows.push(
      `| ${records} | ${b.toFixed(1)} | ${a.toFixed(1)} | ${(b / a).toFixed(0)}x | ${c.toFixed(1)} | ${heldBytes.toFixed(0)} |`,
    );
  }
  return [
    `### One GC pass over ${NEW_RECORDS} new records, as those kept for the outcome retention grow`,
    '',
    `In-process store, records of 2 of ${KEYS} keys; CPU ms of one pass, median of ${ROUNDS} (of ${2 * ROUNDS} for`,
    `a fresh pass), each collecting what ${NEW_RECORDS} new records superseded; a full listing, a`,
    `minute after the one before, lists every id and reads the new records only; the heap the`,
    `index holds between passes, per record it knows, most of them with every key collected`,
    '(bench/gc-pass.ts).',
    '',
    '| records kept | a fresh pass (lists every record) | a pass with the kept index | ratio | a full listing with the kept index | index heap, bytes per record |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ];
}
