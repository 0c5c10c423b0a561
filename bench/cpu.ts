/**
 * CPU time per transaction, of the node process and of the client process (issue 16's
 * measure: robust on a shared machine, unlike wall-clock figures); a section of
 * `npm run bench` (BENCH_CPU_TRANSACTIONS sets how many). One `aft serve` on the
 * in-process store; one client runs the bench's transaction shape back to back: begin, read
 * 4, write 2, commit (4 requests), and the same in 2 requests (a begin that reads, a commit
 * that carries the writes). CPU is read from /proc/<pid>/stat for the node and from
 * process.cpuUsage() for the client.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AftClient } from '../lambda-layer/client.js';
import { freePort } from '../test/servers/managed-process.js';
import { ownCpuMicros, processCpuMicros } from './measure.js';
import { benchTransaction, benchTwoRequestTransaction, startShimProcess } from './shim-process.js';

const KEYS = 1000;
const VALUE = 'x'.repeat(256);
const pick = () => `bench/${Math.floor(Math.random() * KEYS)}`;

async function fourRequests(client: AftClient): Promise<void> {
  await benchTransaction(client, KEYS, VALUE);
}

async function twoRequests(client: AftClient): Promise<void> {
  await benchTwoRequestTransaction(client, KEYS, VALUE);
}

async function measure(
  name: string,
  pid: number,
  transactions: number,
  run: () => Promise<void>,
): Promise<CpuRow> {
  for (let i = 0; i < 300; i++) await run();
  const node = processCpuMicros(pid);
  const client = ownCpuMicros();
  const started = performance.now();
  for (let i = 0; i < transactions; i++) await run();
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    node: (processCpuMicros(pid) - node) / transactions,
    client: (ownCpuMicros() - client) / transactions,
    tps: transactions / seconds,
  };
}

/** p50 of one cached single-key read (GET of a key the transaction read before), in ms. */
async function cachedReadP50(client: AftClient, samples: number): Promise<number> {
  const tx = await client.begin();
  const key = pick();
  await tx.get(key);
  for (let i = 0; i < 200; i++) await tx.get(key);
  const took: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await tx.get(key);
    took.push(performance.now() - started);
  }
  await tx.abort().catch(() => undefined);
  took.sort((a, b) => a - b);
  return took[Math.floor(took.length / 2)]!;
}

interface CpuRow {
  readonly name: string;
  readonly node: number;
  readonly client: number;
  readonly tps: number;
}

/** The rows of one server: the two transaction shapes, and a cached read's p50. */
async function rowsOf(
  url: string,
  pid: number,
  transactions: number,
): Promise<{ rows: CpuRow[]; readP50: number }> {
  const client = new AftClient({ url });
  return {
    rows: [
      await measure('begin, read 4, write 2, commit (4 requests)', pid, transactions, () =>
        fourRequests(client),
      ),
      await measure('begin reading 4, commit writing 2 (2 requests)', pid, transactions, () =>
        twoRequests(client),
      ),
    ],
    readP50: await cachedReadP50(client, transactions),
  };
}

/**
 * The CPU section of the bench: a Markdown table. Each row runs against aft and, in the same
 * run, against the floor (bench/http-floor.ts: bare node:http answering fixed bodies).
 */
export async function benchCpu(transactions: number): Promise<string[]> {
  const floorPort = await freePort();
  const floor = spawn(
    process.execPath,
    [fileURLToPath(new URL('./http-floor.js', import.meta.url)), String(floorPort)],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const { url, child } = await startShimProcess('memory:');
  try {
    await new AftClient({ url }).run(async (tx) => {
      await tx.putMany(Array.from({ length: KEYS }, (_, i) => ({ key: `bench/${i}`, value: VALUE })));
    });
    const aft = await rowsOf(url, child.pid!, transactions);
    const bare = await rowsOf(`http://127.0.0.1:${floorPort}`, floor.pid!, transactions);
    const cell = (value: number, base: number) => `${value.toFixed(0)} (${(value / base).toFixed(1)}x)`;
    return [
      '### CPU per transaction: one node on the in-process store, one client',
      '',
      `${transactions} transactions per row, one at a time, after 300 of warm-up. The floor is`,
      'bare `node:http` answering the same requests with fixed bodies of the same size',
      '(bench/http-floor.ts), driven by the same client in the same run; the ratio in brackets is',
      "aft's figure over the floor's. The client is AftClient on `node:http` keep-alive.",
      '',
      '| transaction | node CPU µs per transaction | floor | client CPU µs per transaction | client on the floor | tx/s, 1 client |',
      '|---|---|---|---|---|---|',
      ...aft.rows.map((row, i) => {
        const base = bare.rows[i]!;
        return `| ${row.name} | ${cell(row.node, base.node)} | ${base.node.toFixed(0)} | ${cell(row.client, base.client)} | ${base.client.toFixed(0)} | ${row.tps.toFixed(0)} |`;
      }),
      '',
      `A cached read through AftClient (GET of a key the transaction read before), p50 over ${transactions}: aft ${aft.readP50.toFixed(3)} ms, the floor ${bare.readP50.toFixed(3)} ms.`,
      '',
    ];
  } finally {
    for (const process of [child, floor]) {
      process.kill('SIGTERM');
      if (process.exitCode === null) await new Promise((resolve) => process.once('exit', resolve));
    }
  }
}
