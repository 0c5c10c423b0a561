/**
 * What one collector pass costs as the records kept for the outcome retention grow
 * (gc/commit-index.ts); a section of `npm run bench` (`BENCH_GC_PASS=off` skips it). Two
 * in-process stores hold the same R records, each writing 2 of 1000 keys as the bench's
 * transaction does, all collected once; then, five times, 1,000 more records land on both and
 * one pass runs on each: on one by a collector that keeps its index between passes (as
 * `aft serve` does), on the other by a fresh one (as every pass ran before: it lists all R
 * records and walks every key's versions). CPU time of this process per pass, median of 5.
 */
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

export async function benchGcPass(recordCounts: readonly number[] = [20_000, 200_000]): Promise<string[]> {
  const rows: string[] = [];
  for (const records of recordCounts) {
    const kept = new MemoryAdapter();
    const fresh = new MemoryAdapter();
    const index = new CommitIndex({ fullListingEveryMs: Number.POSITIVE_INFINITY });
    const txids = new TxidGenerator('benchgcpas', () => START);
    await commitMany([kept, fresh], txids, START, records);
    // Every record is past the known lag, none past the outcome retention (none is deleted).
    let atMs = START + records;
    const nowMs = () => atMs + knownLagMs(DEFAULT_TIMING) + 1;
    await cpuOfPass(kept, nowMs(), index);
    await cpuOfPass(fresh, nowMs());
    const withIndex: number[] = [];
    const without: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      await commitMany([kept, fresh], txids, atMs, NEW_RECORDS);
      atMs += NEW_RECORDS;
      // In turn which goes first, so neither always finds the heap the other left.
      if (round % 2 === 0) {
        withIndex.push(await cpuOfPass(kept, nowMs(), index));
        without.push(await cpuOfPass(fresh, nowMs()));
      } else {
        without.push(await cpuOfPass(fresh, nowMs()));
        withIndex.push(await cpuOfPass(kept, nowMs(), index));
      }
    }
    const [a, b] = [median(withIndex) / 1000, median(without) / 1000];
    rows.push(`| ${records} | ${b.toFixed(1)} | ${a.toFixed(1)} | ${(b / a).toFixed(0)}x |`);
  }
  return [
    `### One GC pass over ${NEW_RECORDS} new records, as those kept for the outcome retention grow`,
    '',
    `In-process store, records of 2 of ${KEYS} keys; CPU ms of one pass, median of ${ROUNDS}, each`,
    `collecting what ${NEW_RECORDS} new records superseded (bench/gc-pass.ts).`,
    '',
    '| records kept | a fresh pass (lists every record) | a pass with the kept index | ratio |',
    '|---|---|---|---|',
    ...rows,
    '',
  ];
}
