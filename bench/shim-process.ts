/** What the benchmarks share: an `aft serve` process, and the transaction they all run. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AftClient } from '../lambda-layer/client.js';
import { freePort } from '../test/servers/managed-process.js';
import { METRIC_NAMES } from '../wire/metrics.js';

/**
 * Starts `aft serve` on `storage` (with `extra` flags) and resolves once it is ready.
 * `BENCH_NODE_FLAGS` adds flags for node itself, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 * to see where a node's time goes (NODE_OPTIONS refuses --cpu-prof).
 */
export async function startShimProcess(
  storage: string,
  extra: readonly string[] = [],
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const bin = fileURLToPath(new URL('../bin/aft.js', import.meta.url));
  const child = spawn(
    ...pinned([...nodeFlags(), bin, 'serve', '--port', String(port), '--storage', storage, ...extra]),
    {
      env: { ...process.env, AFT_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`aft serve exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The command and arguments that run node with `args`: under `taskset -c $BENCH_NODE_CPUS` when
 * that is set, so that on a machine with cores to spare a server gets cores of its own, apart
 * from the bench's clients (taskset execs node: the child's pid is node's).
 */
export function pinned(args: readonly string[]): [string, string[]] {
  const cpus = process.env.BENCH_NODE_CPUS;
  return cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, [...args]];
}

function nodeFlags(): string[] {
  return (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

/** The benchmarks' transaction: begin, read 4 random keys of `keys`, write 2, commit (4 requests). */
export async function benchTransaction(
  client: AftClient,
  keys: number,
  value: Uint8Array | string,
): Promise<void> {
  const pick = () => `bench/${Math.floor(Math.random() * keys)}`;
  const tx = await client.begin();
  await tx.getMany([pick(), pick(), pick(), pick()]);
  await tx.putMany([
    { key: pick(), value },
    { key: pick(), value },
  ]);
  await tx.commit();
}

/** The same work in 2 requests, as withTransaction with `prefetch` does: a begin that reads 4, a commit that writes 2. */
export async function benchTwoRequestTransaction(
  client: AftClient,
  keys: number,
  value: Uint8Array | string,
): Promise<void> {
  const pick = () => `bench/${Math.floor(Math.random() * keys)}`;
  const tx = await client.begin({ read: [pick(), pick(), pick(), pick()] });
  await tx.commit({
    writes: [
      { key: pick(), value },
      { key: pick(), value },
    ],
  });
}

/** A node's storage calls so far, by operation, from its metrics. */
export async function storageCallsOf(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const calls = new Map<string, number>();
  const pattern = new RegExp(`^${METRIC_NAMES.storageCalls}\\{operation="([^"]+)"\\} (\\d+)`, 'gm');
  for (const [, operation, count] of text.matchAll(pattern)) calls.set(operation!, Number(count));
  return calls;
}
