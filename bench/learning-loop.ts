/**
 * What a node's own code spends per commit it learns, with no process around it (issue 17):
 * one ShimNode over the in-process store, on a simulated clock, takes a peer's stream lines
 * (decode, check, learn), pulls every simulated second (every tenth settles, listing the ids
 * of its stretch), and runs local GC every two. CPU time of those calls only, per commit.
 * Wake-ups, sockets and a learner's idle-process costs are not in it (bench/learning.ts
 * measures them); what is, is free of the machine's noise, so a change to the learning path
 * shows here first.
 */
import type { CommitRecord } from '../adapters/contract.js';
import { MemoryAdapter } from '../adapters/memory.js';
import { decodeCommitBatch, encodeCommitBatch } from '../server/http/commit-stream.js';
import { formatVersionId, newNodeId, TxidGenerator } from '../shim/ids.js';
import { ShimNode } from '../shim/node.js';
import { ownCpuMicros } from './measure.js';

export interface LearningLoopOptions {
  /** Commits a second the simulated peer makes. @default 4000 */
  readonly rate?: number;
  /** Simulated seconds per round. @default 20 */
  readonly seconds?: number;
  /** @default 5 */
  readonly rounds?: number;
}

const BATCH_MS = 10;
const KEYS = 1000;

/** One round: CPU µs per learned commit. */
async function round(rate: number, seconds: number): Promise<number> {
  let nowMs = Date.now();
  const storage = new MemoryAdapter();
  const node = await ShimNode.open({ storage, now: () => nowMs, localGcIntervalMs: 3_600_000 });
  const txids = new TxidGenerator(newNodeId(), () => nowMs);
  const perBatch = Math.max(1, Math.round((rate * BATCH_MS) / 1000));
  let spentMicros = 0;
  let commits = 0;
  try {
    for (let batch = 1; batch <= (seconds * 1000) / BATCH_MS; batch += 1) {
      const records: CommitRecord[] = [];
      for (let i = 0; i < perBatch; i += 1) {
        const txid = txids.next();
        const first = `bench/${Math.floor(Math.random() * KEYS)}`;
        const second = `bench/${(Number(first.slice(6)) + 1 + Math.floor(Math.random() * (KEYS - 1))) % KEYS}`;
        records.push({
          versionId: formatVersionId({ physicalMs: nowMs, logical: i }, txid),
          txid,
          writeSet: [first, second],
          deleted: [],
        });
      }
      // The peer's commit lands in storage before its push: not this node's work.
      for (const record of records) await storage.putCommitRecord(record);
      const line = encodeCommitBatch(records);
      const started = ownCpuMicros();
      node.learnPushedCommits(decodeCommitBatch(line)!);
      if ((batch * BATCH_MS) % 1000 === 0) await node.pull();
      if ((batch * BATCH_MS) % 2000 === 0) node.collectLocal();
      spentMicros += ownCpuMicros() - started;
      commits += records.length;
      nowMs += BATCH_MS;
    }
  } finally {
    await node.close();
  }
  return spentMicros / commits;
}

export async function benchLearningLoop(options: LearningLoopOptions = {}): Promise<string[]> {
  const rate = options.rate ?? 4000;
  const seconds = options.seconds ?? 20;
  const perCommit: number[] = [];
  for (let i = 0; i < (options.rounds ?? 5); i += 1) perCommit.push(await round(rate, seconds));
  const sorted = [...perCommit].sort((a, b) => a - b);
  return [
    `### The learning path in one process: ${rate} commits a second from one peer, ${seconds} simulated seconds a round`,
    '',
    'CPU time of `ShimNode` taking stream lines (decode, check, learn), pulling every second',
    '(every tenth pull settles) and collecting every two, per commit learned; no sockets, no',
    'wake-ups.',
    '',
    `| rounds | median µs per learned commit | least | most |`,
    '|---|---|---|---|',
    `| ${sorted.length} | ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} | ${sorted[0]!.toFixed(2)} | ${sorted[sorted.length - 1]!.toFixed(2)} |`,
    '',
  ];
}
