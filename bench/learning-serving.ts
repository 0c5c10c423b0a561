/**
 * What learning a peer's commit costs a node that serves (issue 17). In a loaded tier every
 * node serves and learns: its event loop is awake anyway, so a batch costs no wake-up, and no
 * idle pace applies. Two loaded `aft serve` nodes on this machine's two cores slow each other
 * more than learning costs, so the peers here are emulated: seven streams from the bench
 * process, as the seven peers of a node of an 8-node tier open, each sending a batch every
 * 10 ms (the most often a sender pushes) of records it first wrote to storage, as a peer's
 * commits land before their push. The node serves its own clients meanwhile.
 *
 * The control is the same work with the node left out: the emulated peers write their
 * records under another prefix and send their batches to sinks, so the machine is as busy
 * in both arms and only the node's learning differs. The arms alternate; each pair gives the
 * node's CPU per learned commit: what it spent beyond its served transactions at the
 * control's CPU per transaction, over the commits it was sent.
 */
import { randomBytes } from 'node:crypto';
import type { CommitRecord, StorageAdapter } from '../adapters/contract.js';
import { createAdapterFromUrl } from '../adapters/url.js';
import { encodeCommitBatch } from '../server/http/commit-stream.js';
import { PeerStreams } from '../server/http/peer-streams.js';
import { formatVersionId, newNodeId, TxidGenerator } from '../shim/ids.js';
import { measure, startNode, stopNodes } from './cluster.js';
import { predictedShare } from './learning.js';
import { processCpuMicros } from './measure.js';
import { startPushSinks } from './push-sinks.js';

export interface ServingLearningOptions {
  readonly redisUrl: string;
  /** Seconds of load per arm. */
  readonly seconds: number;
  /** Commits a second the seven emulated peers make together. @default 3500 */
  readonly rate?: number;
  /** Pairs of arms (control, learning). @default 4 */
  readonly pairs?: number;
}

const PEERS = 7;
const CLIENTS = 8;
const KEYS = 1000;
const BATCH_MS = 10;

/** Seven emulated peers: each commits its share of `rate` to a store and pushes it to a node. */
function emulatePeers(token: string, rate: number) {
  const peers = Array.from({ length: PEERS }, () => ({
    txids: new TxidGenerator(newNodeId()),
    streams: new PeerStreams({ token: () => token }),
  }));
  let target = '';
  let storage: StorageAdapter | undefined;
  let sent = 0;
  let made = 0;
  let startedMs = performance.now();
  let logical = 0;
  const tick = async () => {
    // Batches sized by the time gone, not per tick: the bench process's loop is busy with its
    // clients, so its timers run late.
    const due = Math.floor(((performance.now() - startedMs) * rate) / 1000) - made;
    if (due <= 0 || storage === undefined) return;
    const store = storage;
    made += due;
    await Promise.all(
      peers.map(async ({ txids, streams }, peer) => {
        const count = Math.floor(due / PEERS) + (peer < due % PEERS ? 1 : 0);
        if (count === 0) return;
        const nowMs = Date.now();
        const records: CommitRecord[] = [];
        for (let i = 0; i < count; i += 1) {
          const txid = txids.next();
          const first = Math.floor(Math.random() * KEYS);
          const second = (first + 1 + Math.floor(Math.random() * (KEYS - 1))) % KEYS;
          logical = (logical + 1) % 1000;
          records.push({
            versionId: formatVersionId({ physicalMs: nowMs, logical }, txid),
            txid,
            // Keys no client of the node reads: their versions are never written.
            writeSet: [`peer/${first}`, `peer/${second}`],
            deleted: [],
          });
        }
        await Promise.all(records.map((record) => store.putCommitRecord(record)));
        if (streams.send(target, encodeCommitBatch(records)) === 'sent') sent += records.length;
      }),
    );
  };
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  return {
    /** Commits to `store` and pushes to `url` from now on, counting what was sent from zero. */
    pushTo(url: string, store: StorageAdapter): void {
      target = url;
      storage = store;
      sent = 0;
      made = 0;
      startedMs = performance.now();
      timer ??= setInterval(() => {
        running = running.then(tick, tick);
      }, BATCH_MS);
    },
    sent: () => sent,
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
      for (const { streams } of peers) streams.close();
    },
  };
}

/** Until every emulated peer has its stream open to `url` (its first batches go nowhere). */
async function streamsOpen(sent: () => number, url: string, load: () => Promise<unknown>): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (let before = sent(); performance.now() < deadline; before = sent()) {
    await load();
    if (sent() > before + 100) return;
  }
  throw new Error(`no stream to ${url} carried batches in 30 s`);
}

interface Arm {
  readonly served: number;
  readonly cpu: number;
  readonly learned: number;
}

export async function benchServingLearning(options: ServingLearningOptions): Promise<string[]> {
  const rate = options.rate ?? 3500;
  const runId = Date.now().toString(36);
  const token = randomBytes(32).toString('base64url');
  const storageUrl = `${options.redisUrl}?prefix=learnserve-${runId}:`;
  const node = await startNode(storageUrl, ['--gc', 'off', '--peer-tokens', token]);
  const sinks = await startPushSinks(1);
  const learning = createAdapterFromUrl(storageUrl);
  const control = createAdapterFromUrl(`${options.redisUrl}?prefix=learnserve-control-${runId}:`);
  const peers = emulatePeers(token, rate);
  const sink = sinks.urls[0]!;
  const pid = node.child.pid!;
  const load = (ms: number) => measure([node.url], CLIENTS, KEYS, ms);
  const arm = async (url: string): Promise<Arm> => {
    peers.pushTo(url, url === node.url ? learning : control);
    await load(1000);
    const before = processCpuMicros(pid);
    const sentBefore = peers.sent();
    const rateServed = await load(options.seconds * 1000);
    return {
      served: rateServed * options.seconds,
      cpu: processCpuMicros(pid) - before,
      learned: url === node.url ? peers.sent() - sentBefore : 0,
    };
  };
  const rows: string[] = [];
  const perLearned: number[] = [];
  const servedCosts: number[] = [];
  let extraCpu = 0;
  let learnedAll = 0;
  try {
    process.stderr.write('bench: learning on a serving node, opening the emulated peers\n');
    peers.pushTo(node.url, learning);
    await streamsOpen(peers.sent, node.url, () => load(500));
    peers.pushTo(sink, control);
    await streamsOpen(peers.sent, sink, () => load(500));
    for (let pair = 1; pair <= (options.pairs ?? 4); pair += 1) {
      process.stderr.write(`bench: learning on a serving node, pair ${pair}\n`);
      // In turn first and second (control, learning, learning, control, ...): a drift of the
      // machine over the run charges neither arm more than the other.
      let off: Arm;
      let on: Arm;
      if (pair % 2 === 1) {
        off = await arm(sink);
        on = await arm(node.url);
      } else {
        on = await arm(node.url);
        off = await arm(sink);
      }
      extraCpu += on.cpu - on.served * (off.cpu / off.served);
      learnedAll += on.learned;
      servedCosts.push(off.cpu / off.served);
      const servedCost = off.cpu / off.served;
      const learnedCost = (on.cpu - on.served * servedCost) / on.learned;
      perLearned.push(learnedCost);
      const share = predictedShare(8, servedCost, 0, Math.max(0, learnedCost));
      rows.push(
        `| ${pair} | ${(off.served / options.seconds).toFixed(0)} | ${servedCost.toFixed(0)} | ${(on.served / options.seconds).toFixed(0)} | ${(on.learned / options.seconds).toFixed(0)} | ${(on.cpu / on.served).toFixed(0)} | ${learnedCost.toFixed(1)} | ${((100 * learnedCost) / servedCost).toFixed(1)}% | ${(100 * share).toFixed(0)}% |`,
      );
    }
  } finally {
    await peers.stop();
    await stopNodes([node]);
    await sinks.close();
    await learning.close();
    await control.close();
  }
  const sorted = [...perLearned].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const pooled = extraCpu / learnedAll;
  const served = servedCosts.reduce((sum, cost) => sum + cost, 0) / servedCosts.length;
  return [
    `### Learning on a node that serves: one node over Redis, ${CLIENTS} clients, ${PEERS} emulated peers committing ${rate} a second together`,
    '',
    `Each pair: ${options.seconds} s with the peers' batches sent to a sink (the control) and`,
    `${options.seconds} s with them sent to the node, in turn first; CPU of the \`aft serve\` process`,
    '(`/proc/<pid>/stat`). Learned commit: what the node spent beyond its transactions at the',
    "control's CPU per transaction, over the commits sent to it. The last column is the share",
    'of linear throughput that an 8-node tier of such nodes is predicted to reach, one node',
    'per core, each learning 7 commits per transaction it serves (a model, not a measurement).',
    '',
    '| pair | control: tx/s | control: node CPU µs per tx | learning: tx/s | commits learned per s | learning: node CPU µs per tx | node CPU µs per learned commit | learned / served | predicted share of linear, 8 nodes |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Over the ${sorted.length} pairs: ${pooled.toFixed(1)} µs per learned commit (all the learning arms' CPU beyond their transactions over all the commits sent; per pair, median ${median.toFixed(1)}, least ${sorted[0]!.toFixed(1)}, most ${sorted[sorted.length - 1]!.toFixed(1)}), ${((100 * pooled) / served).toFixed(1)}% of the ${served.toFixed(0)} µs the node spent per transaction in the control arms on average. An 8-node tier of such nodes is predicted to reach ${(100 * predictedShare(8, served, 0, Math.max(0, pooled))).toFixed(0)}% of linear throughput (a model, not a measurement; pushing costs the pusher nothing measurable, the learning table's row with ${PEERS} sinks).`,
    '',
  ];
}
