/**
 * `npm run bench`: aft over HTTP against the same reads and writes sent straight to the
 * store, on the memory and file stores, in one run. The shim runs as its own process
 * (`aft serve`), the clients in this one, over HTTP keep-alive.
 *
 * Prints Markdown tables; bench/RESULTS.md holds a copy with the reading.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StorageAdapter } from '../adapters/contract.js';
import { FileAdapter } from '../adapters/file.js';
import { MemoryAdapter } from '../adapters/memory.js';
import { AftClient } from '../lambda-layer/client.js';
import { formatVersionId } from '../shim/ids.js';

const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const THROUGHPUT_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
const CONCURRENCY = [1, 8, 32];
const KEYS = 1000;
const VALUE = new Uint8Array(256).fill(97);

interface Summary {
  p50: number;
  p99: number;
}

function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function throughput(concurrency: number, fn: () => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + THROUGHPUT_MS;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await fn();
        done += 1;
      }
    }),
  );
  return done / (THROUGHPUT_MS / 1000);
}

const key = () => `bench/${Math.floor(Math.random() * KEYS)}`;
let directSequence = 0;

/** The same storage work as one aft transaction, done straight on the store: 4 reads, 2 writes. */
async function directTransaction(store: StorageAdapter, versions: string[]): Promise<void> {
  await Promise.all(
    Array.from({ length: 4 }, () =>
      store.getVersion({ key: key(), versionId: versions[Math.floor(Math.random() * versions.length)]! }),
    ),
  );
  directSequence += 1;
  const versionId = formatVersionId(
    { physicalMs: Date.now(), logical: directSequence % 1000 },
    `direct-${directSequence}`,
  );
  await store.putVersions([
    { key: key(), versionId, value: VALUE },
    { key: key(), versionId, value: VALUE },
  ]);
}

async function aftTransaction(client: AftClient): Promise<void> {
  const tx = await client.begin();
  await tx.getMany([key(), key(), key(), key()]);
  await tx.putMany([
    { key: key(), value: VALUE },
    { key: key(), value: VALUE },
  ]);
  await tx.commit();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startShimProcess(storage: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('../bin/aft.js', import.meta.url)),
      'serve',
      '--port',
      String(port),
      '--storage',
      storage,
    ],
    { env: { ...process.env, AFT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const fmt = (ms: number) => ms.toFixed(2);

async function benchStore(name: string, storageUrl: string, direct: StorageAdapter): Promise<string[]> {
  const lines: string[] = [];
  // Seed both sides with one version of every key.
  const seedVersion = formatVersionId({ physicalMs: 1, logical: 0 }, 'seed');
  await direct.putVersions(
    Array.from({ length: KEYS }, (_, i) => ({ key: `bench/${i}`, versionId: seedVersion, value: VALUE })),
  );
  const { url, child } = await startShimProcess(storageUrl);
  const client = new AftClient({ url });
  for (let i = 0; i < KEYS; i += 500) {
    await client.run(async (tx) => {
      await tx.putMany(Array.from({ length: 500 }, (_, j) => ({ key: `bench/${i + j}`, value: VALUE })));
    });
  }

  const begin: number[] = [];
  const read: number[] = [];
  const write: number[] = [];
  const commit: number[] = [];
  const whole: number[] = [];
  const directRead: number[] = [];
  const directWrite: number[] = [];
  const directWhole: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i += 1) {
    let tx = await client.begin();
    begin.push(await time(async () => (tx = await client.begin())));
    read.push(await time(() => tx.get(key())));
    write.push(await time(() => tx.put(key(), VALUE)));
    await tx.put(key(), VALUE);
    commit.push(await time(() => tx.commit()));
    whole.push(await time(() => aftTransaction(client)));
    directRead.push(await time(() => direct.getVersion({ key: key(), versionId: seedVersion })));
    directSequence += 1;
    const versionId = formatVersionId({ physicalMs: Date.now(), logical: 0 }, `lat-${directSequence}`);
    directWrite.push(await time(() => direct.putVersions([{ key: key(), versionId, value: VALUE }])));
    directWhole.push(await time(() => directTransaction(direct, [seedVersion])));
  }
  const row = (label: string, samples: number[], directSamples?: number[]) => {
    const s = summarize(samples);
    const d = directSamples ? summarize(directSamples) : undefined;
    return `| ${label} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${d ? fmt(d.p50) : '–'} | ${d ? fmt(d.p99) : '–'} |`;
  };
  lines.push(`### ${name}: latency (ms), ${LATENCY_SAMPLES} samples each, one client`);
  lines.push('');
  lines.push('| operation | aft p50 | aft p99 | store direct p50 | store direct p99 |');
  lines.push('|---|---|---|---|---|');
  lines.push(row('begin', begin));
  lines.push(row('read one key', read, directRead));
  lines.push(row('write one key (buffered)', write, directWrite));
  lines.push(row('commit of 2 writes', commit));
  lines.push(row('transaction: 4 reads + 2 writes', whole, directWhole));
  lines.push('');
  lines.push(
    `### ${name}: throughput (transactions/s of 4 reads + 2 writes, ${THROUGHPUT_MS / 1000} s each)`,
  );
  lines.push('');
  lines.push('| clients | aft over HTTP | store direct |');
  lines.push('|---|---|---|');
  for (const concurrency of CONCURRENCY) {
    const viaAft = await throughput(concurrency, () => aftTransaction(client));
    const viaStore = await throughput(concurrency, () => directTransaction(direct, [seedVersion]));
    lines.push(`| ${concurrency} | ${viaAft.toFixed(0)} | ${viaStore.toFixed(0)} |`);
  }
  lines.push('');
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return lines;
}

async function main(): Promise<void> {
  const output: string[] = [];
  output.push(
    `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, values of ${VALUE.byteLength} bytes over ${KEYS} keys.`,
  );
  output.push('');
  output.push(...(await benchStore('memory', 'memory:', new MemoryAdapter())));
  const shimDirectory = mkdtempSync(join(tmpdir(), 'aft-bench-shim-'));
  const directDirectory = mkdtempSync(join(tmpdir(), 'aft-bench-direct-'));
  try {
    output.push(
      ...(await benchStore(
        'file (fsync on)',
        `file:${shimDirectory}`,
        new FileAdapter({ directory: directDirectory }),
      )),
    );
  } finally {
    rmSync(shimDirectory, { recursive: true, force: true });
    rmSync(directDirectory, { recursive: true, force: true });
  }
  process.stdout.write(`${output.join('\n')}\n`);
}

await main();
