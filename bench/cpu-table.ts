/**
 * The CPU table alone (bench/cpu.ts), run `BENCH_CPU_RUNS` times (default 1), with no storage
 * servers: for a machine with cores to spare, where `npm run bench` cannot run whole (no
 * DynamoDB Local there). `BENCH_NODE_CPUS` pins each server it starts (the aft node and the
 * floors) to those cores; run the bench itself under `taskset` on others, so that each gets
 * cores of its own:
 *
 *   BENCH_NODE_CPUS=4 taskset -c 2 node dist/bench/cpu-table.js
 */
import { availableParallelism, cpus } from 'node:os';
import { benchCpu } from './cpu.js';

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_CPU_RUNS ?? 1);
  const transactions = Number(process.env.BENCH_CPU_TRANSACTIONS ?? 3000);
  const pinnedTo = process.env.BENCH_NODE_CPUS;
  console.log(
    `Node ${process.version}, ${new Date().toISOString()}; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${availableParallelism()} of them for the bench's clients; ${
      pinnedTo ? `servers pinned to cores ${pinnedTo}` : 'servers not pinned'
    }.\n`,
  );
  for (let run = 1; run <= runs; run++) {
    if (runs > 1) console.log(`#### Run ${run} of ${runs}\n`);
    console.log((await benchCpu(transactions)).join('\n'));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
