/**
 * What serializable isolation costs (issue 18), beside read atomic, on one node over Redis:
 * the benchmarks' read-modify-write (read 4 keys of 1000, write 2 of them back, in 2
 * requests) at one client and at 8, and a counter every client decrements (all on one key):
 * p50, node CPU per committed transaction, throughput, and conflicts per committed one.
 */
import { AftClient } from '../lambda-layer/client.js';
import { Isolation } from '../wire/api.js';
import { AftError, ErrorCode } from '../wire/errors.js';
import { startNode, stopNodes } from './cluster.js';
import { fmt, processCpuMicros, summarize } from './measure.js';

const KEYS = 1000;
const CLIENTS = 8;

interface Outcome {
  readonly committed: number;
  readonly conflicts: number;
}

/** One read-modify-write: read 4 keys, write 2 of them back; conflicts counted, not retried. */
async function readModifyWrite(client: AftClient, isolation: Isolation, hot: boolean): Promise<Outcome> {
  const pick = () => (hot ? 'counter' : `bench/${Math.floor(Math.random() * KEYS)}`);
  const keys = hot ? ['counter'] : [pick(), pick(), pick(), pick()];
  const tx = await client.begin({ read: [...new Set(keys)], isolation });
  const written = [...new Set(keys)].slice(0, 2).map((key) => ({ key, value: `${Date.now()}` }));
  try {
    await tx.commit({ writes: written });
    return { committed: 1, conflicts: 0 };
  } catch (error) {
    if (error instanceof AftError && error.code === ErrorCode.CONFLICT) return { committed: 0, conflicts: 1 };
    throw error;
  }
}

async function loop(
  url: string,
  clients: number,
  seconds: number,
  isolation: Isolation,
  hot: boolean,
): Promise<{ committed: number; conflicts: number; latencies: number[] }> {
  const deadline = performance.now() + seconds * 1000;
  let committed = 0;
  let conflicts = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new AftClient({ url });
      while (performance.now() < deadline) {
        const started = performance.now();
        const outcome = await readModifyWrite(client, isolation, hot);
        if (outcome.committed) latencies.push(performance.now() - started);
        committed += outcome.committed;
        conflicts += outcome.conflicts;
      }
    }),
  );
  return { committed, conflicts, latencies };
}

export async function benchSerializable(options: { redisUrl: string; seconds: number }): Promise<string[]> {
  const rows: string[] = [];
  const runId = Date.now().toString(36);
  for (const hot of [false, true]) {
    for (const isolation of [Isolation.READ_ATOMIC, Isolation.SERIALIZABLE]) {
      process.stderr.write(`bench: ${isolation}${hot ? ', one hot key' : ''}\n`);
      const node = await startNode(`${options.redisUrl}?prefix=ser-${runId}-${hot}-${isolation}:`, [
        '--gc',
        'off',
      ]);
      try {
        await loop(node.url, CLIENTS, 1, isolation, hot);
        const one = await loop(node.url, 1, options.seconds, isolation, hot);
        const cpuBefore = processCpuMicros(node.child.pid!);
        const many = await loop(node.url, CLIENTS, options.seconds, isolation, hot);
        const cpu = (processCpuMicros(node.child.pid!) - cpuBefore) / Math.max(1, many.committed);
        const label = `${isolation}${hot ? ': 8 clients on one counter' : ''}`;
        rows.push(
          `| ${label} | ${fmt(summarize(one.latencies).p50)} | ${(one.committed / options.seconds).toFixed(0)} | ${(many.committed / options.seconds).toFixed(0)} | ${cpu.toFixed(0)} | ${(many.conflicts / Math.max(1, many.committed)).toFixed(2)} |`,
        );
      } finally {
        await stopNodes([node]);
      }
    }
  }
  return [
    `### Serializable beside read atomic: one node over Redis, read 4 of ${KEYS} keys and write 2 back (2 requests), ${options.seconds} s per figure`,
    '',
    'Conflicts are counted, not retried: each is a transaction a client would run again.',
    '',
    '| isolation | p50 ms, 1 client | tx/s, 1 client | committed tx/s, 8 clients | node CPU µs per committed tx, 8 clients | conflicts per committed tx, 8 clients |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ];
}
