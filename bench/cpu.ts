/**
 * CPU time per transaction, of the node process and of the client process (issue 16's
 * measure: robust on a shared machine, unlike wall-clock figures); a section of
 * `npm run bench` (BENCH_CPU_TRANSACTIONS sets how many). One `aft serve` on the
 * in-process store; one client runs the bench's transaction shape back to back: begin, read
 * 4, write 2, commit (4 requests), and the same in 2 requests (a begin that reads, a commit
 * that carries the writes). CPU is read from /proc/<pid>/stat for the node and from
 * process.cpuUsage() for the client.
 */
import { readFileSync } from 'node:fs';
import { AftClient } from '../lambda-layer/client.js';
import { benchTransaction, startShimProcess } from './shim-process.js';

const KEYS = 1000;
const VALUE = 'x'.repeat(256);
const pick = () => `bench/${Math.floor(Math.random() * KEYS)}`;

/** utime + stime of a process, in microseconds (clock ticks of 10 ms on Linux). */
function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function clientCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function fourRequests(client: AftClient): Promise<void> {
  await benchTransaction(client, KEYS, VALUE);
}

async function twoRequests(client: AftClient): Promise<void> {
  const tx = await client.begin({ read: [pick(), pick(), pick(), pick()] });
  await tx.commit({
    writes: [
      { key: pick(), value: VALUE },
      { key: pick(), value: VALUE },
    ],
  });
}

async function measure(
  name: string,
  pid: number,
  transactions: number,
  run: () => Promise<void>,
): Promise<{ name: string; node: number; client: number; tps: number }> {
  for (let i = 0; i < 300; i++) await run();
  const node = processCpuMicros(pid);
  const client = clientCpuMicros();
  const started = performance.now();
  for (let i = 0; i < transactions; i++) await run();
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    node: (processCpuMicros(pid) - node) / transactions,
    client: (clientCpuMicros() - client) / transactions,
    tps: transactions / seconds,
  };
}

/** The CPU section of the bench: a Markdown table, one row per transaction shape. */
export async function benchCpu(transactions: number): Promise<string[]> {
  const { url, child } = await startShimProcess('memory:');
  try {
    const client = new AftClient({ url });
    await client.run(async (tx) => {
      await tx.putMany(Array.from({ length: KEYS }, (_, i) => ({ key: `bench/${i}`, value: VALUE })));
    });
    const rows = [
      await measure('begin, read 4, write 2, commit (4 requests)', child.pid!, transactions, () =>
        fourRequests(client),
      ),
      await measure('begin reading 4, commit writing 2 (2 requests)', child.pid!, transactions, () =>
        twoRequests(client),
      ),
    ];
    return [
      '### CPU per transaction: one node on the in-process store, one client',
      '',
      `${transactions} transactions per row, one at a time, after 300 of warm-up.`,
      '',
      '| transaction | node CPU µs per transaction | client CPU µs per transaction | tx/s, 1 client |',
      '|---|---|---|---|',
      ...rows.map(
        (row) =>
          `| ${row.name} | ${row.node.toFixed(0)} | ${row.client.toFixed(0)} | ${row.tps.toFixed(0)} |`,
      ),
      '',
    ];
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
