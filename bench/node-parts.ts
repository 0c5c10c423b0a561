/**
 * What each part of a transaction costs the node where it runs (issue 16, goal 1): the CPU
 * table's 4-request transaction from 32 clients, against `aft serve` on the in-process store
 * as shipped, with parts of it replaced by fixed answers (bench/stub-routes.ts), with global
 * GC off, and against the floor (bench/http-floor.ts). The node is busy all the time, so its
 * CPU per transaction is its work, not its wake-ups. Variants take turns, `BENCH_PARTS_ROUNDS`
 * rounds (default 8) of `BENCH_SECONDS` (default 3) each, in alternating order; the table gives
 * each variant's median and range; then the same transaction on a ShimNode in the bench's own
 * process, with no HTTP, its caches warm and then cold. This machine's speed moves by a third
 * between minutes: compare variants within a run.
 *
 *   node dist/bench/node-parts.js
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryAdapter } from '../adapters/memory.js';
import { AftClient } from '../lambda-layer/client.js';
import { ShimNode } from '../shim/node.js';
import { freePort } from '../test/servers/managed-process.js';
import { ownCpuMicros, processCpuMicros, throughput } from './measure.js';
import { benchTransaction, pinned } from './shim-process.js';

interface Variant {
  readonly name: string;
  readonly args: (port: number) => string[];
  readonly env?: NodeJS.ProcessEnv;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const serve = (port: number, preload = false) => [
  ...(preload ? ['--import', here('./stub-routes.js')] : []),
  here('../bin/aft.js'),
  'serve',
  '--port',
  String(port),
  '--storage',
  'memory:',
];

const VARIANTS: readonly Variant[] = [
  { name: 'aft as shipped', args: (port) => serve(port) },
  { name: 'global GC off', args: (port) => serve(port), env: { AFT_GC: 'off' } },
  { name: 'reads answered fixed', args: (port) => serve(port, true), env: { BENCH_STUB: 'read' } },
  {
    name: 'commits answered fixed (nothing written)',
    args: (port) => serve(port, true),
    env: { BENCH_STUB: 'commit' },
  },
  {
    name: 'reads, writes and commits answered fixed',
    args: (port) => serve(port, true),
    env: { BENCH_STUB: 'read,write,commit' },
  },
  {
    name: 'the floor (bare node:http, fixed bodies)',
    args: (port) => [here('./http-floor.js'), String(port)],
  },
];

async function started(variant: Variant): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(...pinned(variant.args(port)), {
    env: { ...process.env, AFT_LOG_LEVEL: 'warn', ...variant.env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  // The floor answers every path; aft's begin answers once the node is ready.
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${variant.name} exited with ${child.exitCode}`);
    const begun = await fetch(`${url}/v1/transactions`, { method: 'POST' }).then(
      (answer) => answer.ok,
      () => false,
    );
    if (begun) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function nodeCpuPerTransaction(variant: Variant, seconds: number): Promise<number> {
  const { url, child } = await started(variant);
  try {
    const client = new AftClient({ url });
    const run = () => benchTransaction(client, 1000, 'x'.repeat(256));
    for (let i = 0; i < 500; i++) await run();
    const before = processCpuMicros(child.pid!);
    const perSecond = await throughput(32, seconds * 1000, run);
    return (processCpuMicros(child.pid!) - before) / (perSecond * seconds);
  } finally {
    child.kill();
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

/** Touches `bytes` of memory, a cache line at a time: what serving other requests does to the CPU's caches. */
function cacheEvicter(bytes: number): () => void {
  const lines = new Float64Array(Math.max(1, bytes / 8));
  return () => {
    for (let i = 0; i < lines.length; i += 8) lines[i]! += 1;
  };
}

/**
 * The same transaction on a ShimNode in this process, over the in-process store, one at a
 * time: the protocol's work with no HTTP around it. With `evictBytes`, that much memory is
 * touched before each of its four calls (the time it takes alone is taken off): the protocol
 * as it runs between requests, its data structures no longer in the CPU's caches.
 */
async function inProcessCpuPerTransaction(seconds: number, evictBytes: number): Promise<number> {
  const node = await ShimNode.open({ storage: new MemoryAdapter() });
  const value = Buffer.from('x'.repeat(256));
  const pick = () => `bench/${Math.floor(Math.random() * 1000)}`;
  const evict = evictBytes > 0 ? cacheEvicter(evictBytes) : () => undefined;
  const run = async () => {
    evict();
    const { txid } = node.begin();
    evict();
    await node.read(txid, [pick(), pick(), pick(), pick()]);
    evict();
    node.write(txid, [
      { key: pick(), value },
      { key: pick(), value },
    ]);
    evict();
    await node.commit(txid);
  };
  try {
    const evictionStarted = ownCpuMicros();
    for (let i = 0; i < 4000; i++) evict();
    const evictionPerTransaction = (ownCpuMicros() - evictionStarted) / 1000;
    await throughput(1, 1000, run);
    const before = ownCpuMicros();
    const perSecond = await throughput(1, seconds * 1000, run);
    return (ownCpuMicros() - before) / (perSecond * seconds) - evictionPerTransaction;
  } finally {
    await node.close();
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_PARTS_ROUNDS ?? 8);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const figures = new Map<string, number[]>(VARIANTS.map((variant) => [variant.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order)
      figures.get(variant.name)!.push(await nodeCpuPerTransaction(variant, seconds));
  }
  console.log(
    `Node ${process.version}, ${new Date().toISOString()}; ${rounds} rounds of ${seconds} s, 32 clients, begin, read 4, write 2, commit (4 requests).\n`,
  );
  console.log('| the node | node CPU µs per transaction: median | range |');
  console.log('|---|---|---|');
  for (const [name, values] of figures) {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`| ${name} | ${median.toFixed(0)} | ${sorted[0]!.toFixed(0)}–${sorted.at(-1)!.toFixed(0)} |`);
  }
  const warm = await inProcessCpuPerTransaction(seconds, 0);
  const cold = await inProcessCpuPerTransaction(seconds, 1 << 20);
  console.log(
    `\nThe same transaction on a ShimNode in this process (the in-process store, no HTTP, one at a time): ${warm.toFixed(0)} µs of CPU per transaction; ${cold.toFixed(0)} µs with 1 MiB of other memory touched before each of its four calls (that touching's own time taken off).`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
