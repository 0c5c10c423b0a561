/**
 * What an idle node costs its engine (issue 17): 3 `aft serve` nodes on one store with no
 * load, defaults as shipped (pulls, heartbeats, GC leases). Storage calls per second per node,
 * read from each node's `aft_storage_calls_total`; on S3 and DynamoDB also the HTTP requests
 * the engine received (each billed), counted by a proxy in front of it. The count starts once
 * the nodes have been idle long enough to have backed off (shim/idle-backoff.ts): an idle
 * cluster stays idle for hours, and that is what it costs per hour. Every engine's nodes idle
 * at once, so the whole part takes warm-up + count, not that times the engines.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startNode, stopNodes } from './cluster.js';
import { countRequests } from './request-counter.js';
import { storageCallsOf } from './shim-process.js';

export interface IdleEngine {
  readonly name: string;
  storageUrl(): Promise<string>;
}

export interface IdleBenchOptions {
  /** How long the count lasts. */
  readonly seconds: number;
  /** How long the nodes idle before it starts. */
  readonly warmupSeconds: number;
}

async function idleRow(engine: IdleEngine, options: IdleBenchOptions): Promise<string> {
  const counter = await countRequests(await engine.storageUrl());
  const storage = counter?.storageUrl ?? (await engine.storageUrl());
  const nodes = [];
  try {
    for (let i = 0; i < 3; i += 1) nodes.push(await startNode(storage, []));
    await sleep(options.warmupSeconds * 1000);
    const before = await Promise.all(nodes.map(({ url }) => storageCallsOf(url)));
    const requestsBefore = counter?.requests() ?? 0;
    const started = performance.now();
    await sleep(options.seconds * 1000);
    const after = await Promise.all(nodes.map(({ url }) => storageCallsOf(url)));
    const elapsed = (performance.now() - started) / 1000;
    const perNode = (count: number) => count / elapsed / nodes.length;
    const byOperation = new Map<string, number>();
    for (const [i, calls] of after.entries()) {
      for (const [operation, count] of calls) {
        const delta = count - (before[i]!.get(operation) ?? 0);
        byOperation.set(operation, (byOperation.get(operation) ?? 0) + perNode(delta));
      }
    }
    const total = [...byOperation.values()].reduce((sum, rate) => sum + rate, 0);
    const biggest = [...byOperation]
      .filter(([, rate]) => rate >= 0.01)
      .sort((a, b) => b[1] - a[1])
      .map(([operation, rate]) => `${operation} ${rate.toFixed(2)}`)
      .join(', ');
    const requests = counter ? perNode(counter.requests() - requestsBefore).toFixed(2) : '–';
    return `| ${engine.name} | ${total.toFixed(2)} | ${requests} | ${biggest} |`;
  } finally {
    await stopNodes(nodes);
    await counter?.close();
  }
}

export async function benchIdle(
  engines: readonly IdleEngine[],
  options: IdleBenchOptions,
): Promise<string[]> {
  process.stderr.write(`bench: idle, ${engines.map(({ name }) => name).join(', ')}\n`);
  const rows = await Promise.all(engines.map((engine) => idleRow(engine, options)));
  return [
    `### An idle node's storage calls: 3 nodes, no load, counted for ${options.seconds} s after ${options.warmupSeconds} s idle, defaults as shipped`,
    '',
    '| engine | storage calls per second per node | engine requests per second per node | by operation |',
    '|---|---|---|---|',
    ...rows,
    '',
  ];
}
