/**
 * CPU time per transaction, of the node process and of the client process (issue 16's
 * measure: robust on a shared machine, unlike wall-clock figures); a section of
 * `npm run bench` (BENCH_CPU_TRANSACTIONS sets how many). One `aft serve` on the
 * in-process store; one client runs the bench's transaction shape back to back: begin, read
 * 4, write 2, commit (4 requests), and the same in 2 requests (a begin that reads, a commit
 * that carries the writes). CPU is read from /proc/<pid>/stat for the node and from
 * process.cpuUsage() for the client.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AftClient } from '../lambda-layer/client.js';
import { freePort } from '../test/servers/managed-process.js';
import { ownCpuMicros, processCpuMicros, throughput } from './measure.js';
import { benchTransaction, benchTwoRequestTransaction, pinned, startShimProcess } from './shim-process.js';

const KEYS = 1000;
const VALUE = 'x'.repeat(256);
const pick = () => `bench/${Math.floor(Math.random() * KEYS)}`;

async function fourRequests(client: AftClient): Promise<void> {
  await benchTransaction(client, KEYS, VALUE);
}

async function twoRequests(client: AftClient): Promise<void> {
  await benchTwoRequestTransaction(client, KEYS, VALUE);
}

/** Clients looping at once for the loaded figures. */
const LOADED_CLIENTS = 32;
const LOADED_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;

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
  const [nodeSpent, clientSpent] = [processCpuMicros(pid) - node, ownCpuMicros() - client];
  // The same transactions from many clients at once: the node is busy all the time, so no
  // answer waits for a sleeping client's CPU to be woken, nor a request for the node's.
  const loadedNode = processCpuMicros(pid);
  const loadedStarted = performance.now();
  const loadedTps = await throughput(LOADED_CLIENTS, LOADED_MS, run);
  const loadedSeconds = (performance.now() - loadedStarted) / 1000;
  const loadedSpent = processCpuMicros(pid) - loadedNode;
  // throughput() counts every transaction that ended, those ending past its deadline too,
  // over its nominal duration.
  const loadedTransactions = (loadedTps * LOADED_MS) / 1000;
  return {
    name,
    node: nodeSpent / transactions,
    client: clientSpent / transactions,
    tps: transactions / seconds,
    loadedNode: loadedSpent / loadedTransactions,
    loadedBusy: loadedSpent / (loadedSeconds * 1_000_000),
    loadedTps,
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
  /** Node CPU µs per transaction with LOADED_CLIENTS looping. */
  readonly loadedNode: number;
  /** The node's CPU over wall time then (1 is a core). */
  readonly loadedBusy: number;
  readonly loadedTps: number;
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
  const floor = await startFloor();
  const { url, child } = await startShimProcess('memory:');
  let slowed: Awaited<ReturnType<typeof startFloor>> | undefined;
  try {
    await new AftClient({ url }).run(async (tx) => {
      await tx.putMany(Array.from({ length: KEYS }, (_, i) => ({ key: `bench/${i}`, value: VALUE })));
    });
    const aft = await rowsOf(url, child.pid!, transactions);
    const bare = await rowsOf(floor.url, floor.child.pid!, transactions);
    // A floor that first spins, per request, what aft spends above the floor one client at a
    // time: were the machine's charge the same for a slower server, it would cost exactly aft.
    const spinMicros = Math.max(0, Math.round((aft.rows[0]!.node - bare.rows[0]!.node) / 4));
    slowed = await startFloor(spinMicros);
    const slowedClient = new AftClient({ url: slowed.url });
    const slowedRow = await measure(aft.rows[0]!.name, slowed.child.pid!, transactions, () =>
      fourRequests(slowedClient),
    );
    const expected = bare.rows[0]!.node + 4 * spinMicros;
    const cell = (value: number, base: number) => `${value.toFixed(0)} (${(value / base).toFixed(1)}x)`;
    return [
      '### CPU per transaction: one node on the in-process store',
      '',
      `${transactions} transactions per row, one at a time, after 300 of warm-up; then ${LOADED_CLIENTS}`,
      `clients looping for ${LOADED_MS / 1000} s. The floor is bare \`node:http\` answering the same`,
      'requests with fixed bodies of the same size (bench/http-floor.ts), driven by the same',
      "client in the same run; the ratio in brackets is aft's figure over the floor's. The client",
      'is AftClient on `node:http` keep-alive.',
      '',
      `| transaction | node CPU µs per transaction, 1 client | floor | node CPU µs per transaction, ${LOADED_CLIENTS} clients | floor | node busy, ${LOADED_CLIENTS} clients: aft / floor | client CPU µs per transaction, 1 client | client on the floor | tx/s, 1 client | ${LOADED_CLIENTS} clients |`,
      '|---|---|---|---|---|---|---|---|---|---|',
      ...aft.rows.map((row, i) => {
        const base = bare.rows[i]!;
        const busy = (share: number) => `${(100 * share).toFixed(0)}%`;
        return `| ${row.name} | ${cell(row.node, base.node)} | ${base.node.toFixed(0)} | ${cell(row.loadedNode, base.loadedNode)} | ${base.loadedNode.toFixed(0)} | ${busy(row.loadedBusy)} / ${busy(base.loadedBusy)} | ${cell(row.client, base.client)} | ${base.client.toFixed(0)} | ${row.tps.toFixed(0)} | ${row.loadedTps.toFixed(0)} |`;
      }),
      '',
      `A cached read through AftClient (GET of a key the transaction read before), p50 over ${transactions}: aft ${aft.readP50.toFixed(3)} ms, the floor ${bare.readP50.toFixed(3)} ms.`,
      '',
      `The floor slowed by ${spinMicros} µs of busy work before each answer (what aft spends above it per request, one client at a time): ${slowedRow.node.toFixed(0)} µs per 4-request transaction one at a time, against the ${expected.toFixed(0)} its work adds up to; ${slowedRow.loadedNode.toFixed(0)} µs with ${LOADED_CLIENTS} clients. What a slower answer costs beyond its work (${(slowedRow.node - expected).toFixed(0)} µs here) is the machine's: a client whose CPU went idle while it waited is woken by the answer's write, and a node that went idle by the next request.`,
      '',
    ];
  } finally {
    for (const process of [child, floor.child, ...(slowed ? [slowed.child] : [])]) {
      process.kill('SIGTERM');
      if (process.exitCode === null) await new Promise((resolve) => process.once('exit', resolve));
    }
  }
}

/** A floor server (bench/http-floor.ts) on a free port, spinning `spinMicros` per request. */
async function startFloor(spinMicros = 0): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    ...pinned([fileURLToPath(new URL('./http-floor.js', import.meta.url)), String(port), String(spinMicros)]),
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  // Listening once it answers.
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${url}/v1/transactions`, { method: 'POST', body: '{}' });
      return { url, child };
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
