/**
 * What an idle node costs its engine (issue 17): 3 `aft serve` nodes on one store with no
 * load, defaults as shipped (pulls, heartbeats, GC leases); storage calls per second per node,
 * read from each node's `aft_storage_calls_total`. On S3 and DynamoDB each call is billed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { METRIC_NAMES } from '../wire/metrics.js';
import { startNode, stopNodes } from './cluster.js';

export interface IdleEngine {
  readonly name: string;
  storageUrl(): Promise<string>;
}

/** A node's storage calls so far, by operation. */
async function callsOf(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const calls = new Map<string, number>();
  const pattern = new RegExp(`^${METRIC_NAMES.storageCalls}\\{operation="([^"]+)"\\} (\\d+)`, 'gm');
  for (const [, operation, count] of text.matchAll(pattern)) calls.set(operation!, Number(count));
  return calls;
}

export async function benchIdle(engines: readonly IdleEngine[], seconds: number): Promise<string[]> {
  const rows: string[] = [];
  for (const engine of engines) {
    process.stderr.write(`bench: idle, ${engine.name}\n`);
    const storage = await engine.storageUrl();
    const nodes = [];
    for (let i = 0; i < 3; i += 1) nodes.push(await startNode(storage, []));
    try {
      await sleep(3000);
      const before = await Promise.all(nodes.map(({ url }) => callsOf(url)));
      const started = performance.now();
      await sleep(seconds * 1000);
      const after = await Promise.all(nodes.map(({ url }) => callsOf(url)));
      const elapsed = (performance.now() - started) / 1000;
      const byOperation = new Map<string, number>();
      for (const [i, calls] of after.entries()) {
        for (const [operation, count] of calls) {
          const delta = count - (before[i]!.get(operation) ?? 0);
          byOperation.set(operation, (byOperation.get(operation) ?? 0) + delta / elapsed / nodes.length);
        }
      }
      const total = [...byOperation.values()].reduce((sum, rate) => sum + rate, 0);
      const biggest = [...byOperation]
        .filter(([, rate]) => rate >= 0.05)
        .sort((a, b) => b[1] - a[1])
        .map(([operation, rate]) => `${operation} ${rate.toFixed(1)}`)
        .join(', ');
      rows.push(`| ${engine.name} | ${total.toFixed(1)} | ${biggest} |`);
    } finally {
      await stopNodes(nodes);
    }
  }
  return [
    `### An idle node's storage calls: 3 nodes, no load, ${seconds} s, defaults as shipped`,
    '',
    '| engine | storage calls per second per node | by operation |',
    '|---|---|---|',
    ...rows,
    '',
  ];
}
