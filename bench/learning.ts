/**
 * What learning a peer's commit costs (issue 17): 1, 2 and 3 `aft serve` nodes over one Redis,
 * load on the first only. CPU per transaction served there; CPU per commit learned on each
 * other node, less what that node spends idle (heartbeats, pulls) over the same time; and how
 * soon a commit acknowledged by the first is visible to a read on another (freshness).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AftClient } from '../lambda-layer/client.js';
import { measure, startNode, stopNodes } from './cluster.js';
import { fmt, processCpuMicros, summarize } from './measure.js';
import { startPushSinks } from './push-sinks.js';
import { wakeCostMicros } from './wake-cost.js';

export interface LearningBenchOptions {
  readonly redisUrl: string;
  readonly seconds: number;
}

const CLIENTS = 8;
const KEYS = 1000;

/** Commits a fresh key on `writer`, then reads it on `reader` until it is there: the delays, ms. */
async function freshness(writer: AftClient, reader: AftClient, until: () => boolean): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; until(); i += 1) {
    const key = `fresh/${process.pid}/${i}/${Math.random()}`;
    const tx = await writer.begin();
    await tx.put(key, 'x');
    await tx.commit();
    const acknowledged = performance.now();
    for (;;) {
      const read = await reader.begin({ read: [key] });
      await read.abort();
      if (read.prefetched[0]?.value !== undefined) break;
      if (performance.now() - acknowledged > 5000) throw new Error(`${key} was not learned in 5 s`);
    }
    delays.push(performance.now() - acknowledged);
    await sleep(5);
  }
  return delays;
}

/** The peers each node of an 8-node tier pushes to. */
const PEERS_OF_8 = 7;

/**
 * CPU per transaction of one node pushing every commit to `peers` sinks that take its streams
 * and drop them (bench/push-sinks.ts): the pushing side of an 8-node tier, with no learner on
 * this machine's two cores competing with it.
 */
async function servedPushingTo(
  peers: number,
  storage: string,
  options: LearningBenchOptions,
): Promise<{ rate: number; served: number }> {
  process.stderr.write(`bench: learning, 1 node pushing to ${peers} sinks\n`);
  const sinks = await startPushSinks(peers);
  const node = await startNode(storage, ['--gc', 'off', '--peers', sinks.urls.join(',')]);
  try {
    // Until the node has found every sink and opened a stream to each.
    const deadline = performance.now() + 30_000;
    while (sinks.streams() < peers && performance.now() < deadline) await measure([node.url], 1, KEYS, 200);
    if (sinks.streams() < peers) throw new Error(`only ${sinks.streams()} of ${peers} sinks got a stream`);
    await measure([node.url], CLIENTS, KEYS, 1000);
    const before = processCpuMicros(node.child.pid!);
    const rate = await measure([node.url], CLIENTS, KEYS, options.seconds * 1000);
    return { rate, served: (processCpuMicros(node.child.pid!) - before) / (rate * options.seconds) };
  } finally {
    await stopNodes([node]);
    await sinks.close();
  }
}

/**
 * The share of linear throughput at `nodes` nodes that these costs predict, each node on its
 * own core and CPU the limit (as measured on 16 cores, issue 17): a node spends `served` per
 * transaction of its own with no peer, `pushed` more per peer it pushes that commit to, and
 * `learned` per commit of each other node.
 */
export function predictedShare(nodes: number, served: number, pushed: number, learned: number): number {
  return served / (served + (nodes - 1) * (pushed + learned));
}

export async function benchLearning(options: LearningBenchOptions): Promise<string[]> {
  const runId = Date.now().toString(36);
  const rows: string[] = [];
  const delays: number[] = [];
  const servedBy = new Map<number, number>();
  const learnedBy = new Map<number, number>();
  for (const count of [1, 2, 3]) {
    process.stderr.write(`bench: learning, ${count} nodes\n`);
    const storage = `${options.redisUrl}?prefix=learn${count}-${runId}:`;
    const nodes: Awaited<ReturnType<typeof startNode>>[] = [];
    for (let i = 0; i < count; i += 1) nodes.push(await startNode(storage, ['--gc', 'off']));
    try {
      const cpus = () => nodes.map(({ child }) => processCpuMicros(child.pid!));
      await measure([nodes[0]!.url], CLIENTS, KEYS, 1000);
      // Idle: what each node spends with no load, per second.
      let before = cpus();
      let started = performance.now();
      await sleep(options.seconds * 1000);
      const idlePerSecond = cpus().map(
        (cpu, i) => (cpu - before[i]!) / ((performance.now() - started) / 1000),
      );
      // Load on the first node; the others only learn its commits (and answer freshness reads).
      before = cpus();
      started = performance.now();
      let loading = true;
      // Freshness reads go to the second node, so with 3 nodes the third only learns.
      const probe =
        count === 3
          ? freshness(
              new AftClient({ url: nodes[0]!.url }),
              new AftClient({ url: nodes[1]!.url }),
              () => loading,
            )
          : Promise.resolve([]);
      const rate = await measure([nodes[0]!.url], CLIENTS, KEYS, options.seconds * 1000);
      loading = false;
      const probed = await probe;
      const elapsedSeconds = (performance.now() - started) / 1000;
      const spent = cpus().map((cpu, i) => cpu - before[i]!);
      // Every commit of the window: the load's and the probe's.
      const commits = rate * options.seconds + probed.length;
      const served = spent[0]! / commits;
      servedBy.set(count, served);
      if (count === 1) {
        rows.push(`| 1 | ${rate.toFixed(0)} | ${served.toFixed(0)} | – | – | – | – |`);
        continue;
      }
      // The last node only learns: no client calls it.
      const learner = count - 1;
      const learned = (spent[learner]! - idlePerSecond[learner]! * elapsedSeconds) / commits;
      learnedBy.set(count, learned);
      delays.push(...probed);
      rows.push(
        `| ${count} | ${rate.toFixed(0)} | ${served.toFixed(0)} | ${learned.toFixed(1)} | ${((100 * learned) / served).toFixed(1)}% | ${(idlePerSecond[learner]! / 1000).toFixed(1)} ms/s | ${(spent[learner]! / commits).toFixed(1)} |`,
      );
    } finally {
      await stopNodes(nodes);
    }
  }
  const { p50, p99 } = summarize(delays);
  const alone = servedBy.get(1)!;
  const pushing = await servedPushingTo(
    PEERS_OF_8,
    `${options.redisUrl}?prefix=learn-sinks-${runId}:`,
    options,
  );
  rows.push(
    `| 1, pushing to ${PEERS_OF_8} sinks | ${pushing.rate.toFixed(0)} | ${pushing.served.toFixed(0)} | – | – | – | – |`,
  );
  // What pushing to one more peer costs per commit: noise can make it negative, which would
  // flatter the prediction, so it counts as 0 then.
  const pushed = Math.max(0, (pushing.served - alone) / PEERS_OF_8);
  const learned = learnedBy.get(3)!;
  const shares = [2, 4, 8].map(
    (nodes) => `${nodes} nodes ${(100 * predictedShare(nodes, alone, pushed, learned)).toFixed(0)}%`,
  );
  process.stderr.write('bench: learning, the cost of a wake-up\n');
  const wakeEvery10 = await wakeCostMicros(10, options.seconds);
  const wakeEvery30 = await wakeCostMicros(30, options.seconds);
  return [
    `### Learning a peer's commit: nodes over one Redis, ${CLIENTS} clients on the first for ${options.seconds} s`,
    '',
    'CPU time of each `aft serve` process (`/proc/<pid>/stat`); a learner is the last node, which',
    'only learns (pushes, pulls), its idle CPU over the same time taken off; the last column',
    'takes nothing off (a lower idle CPU raises the fourth column, not this one).',
    '',
    '| nodes | tx/s on the first | node CPU µs per served tx | learner CPU µs per learned commit | learned / served | learner idle CPU | learner CPU µs per learned commit, idle included |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Freshness: with 3 nodes, a commit acknowledged by the first is read on the second after ${fmt(p50)} ms at p50 and ${fmt(p99)} ms at p99 (${delays.length} commits, under the load above).`,
    '',
    `A wake-up: a bare Node reader in a process of its own, woken by a batch line and only parsing it (bench/wake-cost.ts), spends ${wakeEvery10.toFixed(0)} µs of CPU per line when one comes every 10 ms, ${wakeEvery30.toFixed(0)} µs every 30 ms (the machine otherwise idle): what a node that only learns pays per batch besides its records, and a busy node does not (its loop is awake anyway).`,
    '',
    `Predicted share of linear throughput, one node per core with CPU the limit (a model, not a measurement: a node spends ${alone.toFixed(0)} µs per transaction alone, ${pushed.toFixed(1)} µs more per peer it pushes to (from the row with ${PEERS_OF_8} sinks), ${learned.toFixed(1)} µs per commit it learns (the 3-node row)): ${shares.join(', ')}.`,
    '',
  ];
}
