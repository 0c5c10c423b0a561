/**
 * CPU time per transaction, of the node process and of the client process (issue 16's
 * measure: robust on a shared machine, unlike wall-clock figures). One `aft serve` on the
 * in-process store; one client runs the bench's transaction shape back to back: begin, read
 * 4, write 2, commit (4 requests), and the same in 2 requests (a begin that reads, a commit
 * that carries the writes). CPU is read from /proc/<pid>/stat for the node and from
 * process.cpuUsage() for the client.
 *
 *   npm run build && node dist/bench/cpu.js [transactions]
 */
import { readFileSync } from 'node:fs';
import { AftClient } from '../lambda-layer/client.js';
import { benchTransaction, startShimProcess } from './shim-process.js';

const TRANSACTIONS = Number(process.argv[2] ?? 3000);
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
  run: () => Promise<void>,
): Promise<{ name: string; node: number; client: number; tps: number }> {
  for (let i = 0; i < 300; i++) await run();
  const node = processCpuMicros(pid);
  const client = clientCpuMicros();
  const started = performance.now();
  for (let i = 0; i < TRANSACTIONS; i++) await run();
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    node: (processCpuMicros(pid) - node) / TRANSACTIONS,
    client: (clientCpuMicros() - client) / TRANSACTIONS,
    tps: TRANSACTIONS / seconds,
  };
}

const { url, child } = await startShimProcess('memory:');
try {
  const client = new AftClient({ url });
  await client.run(async (tx) => {
    await tx.putMany(Array.from({ length: KEYS }, (_, i) => ({ key: `bench/${i}`, value: VALUE })));
  });
  const rows = [
    await measure('begin, read 4, write 2, commit (4 requests)', child.pid!, () => fourRequests(client)),
    await measure('begin reading 4, commit writing 2 (2 requests)', child.pid!, () => twoRequests(client)),
  ];
  console.log(`Node ${process.version}; ${TRANSACTIONS} transactions each, one client, one at a time.\n`);
  console.log(
    '| transaction | node CPU µs per transaction | client CPU µs per transaction | tx/s, 1 client |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${row.node.toFixed(0)} | ${row.client.toFixed(0)} | ${row.tps.toFixed(0)} |`,
    );
  }
} finally {
  child.kill('SIGTERM');
}
