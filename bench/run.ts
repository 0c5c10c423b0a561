/**
 * `npm run bench`: on every engine, a transaction of 4 reads and 2 writes through aft
 * against the same reads and writes sent straight to the engine, in one run. The storage
 * servers are started here as in the tests (Redis, a 3-master Redis Cluster, s3rver,
 * DynamoDB Local); each aft node runs as its own `aft serve` process, and the clients run
 * in this one, over HTTP keep-alive. Under the DynamoDB table, aft's 2-request transaction and
 * TransactGetItems + TransactWriteItems also run taking turns (issue 16, goal 4's ratio).
 *
 *   BENCH_ENGINES=redis,dynamodb   only these (memory, file, redis, redis-cluster, s3, dynamodb, none)
 *   BENCH_CLUSTER=off              skip the shim-tier part (1, 2, 3 nodes; GC on and off)
 *   BENCH_GC_SECONDS=150           how long each GC run lasts
 *   BENCH_SAMPLES=200              latency samples per workload
 *   BENCH_SECONDS=3                seconds per throughput figure
 *   BENCH_CPU_TRANSACTIONS=3000    transactions per row of the CPU table (0: skip it)
 *   BENCH_GC_PASS=off              skip what one GC pass costs as the records kept grow
 *   BENCH_REDIS_LISTING=off        skip listing a large namespace of entries on Redis in pages
 *   BENCH_TABLES=off               skip the per-engine tables (the engines still serve the idle part)
 *   BENCH_IDLE=off                 skip the storage calls of idle nodes (3 per engine)
 *   BENCH_IDLE_SECONDS=60          how long they are counted
 *   BENCH_IDLE_WARMUP_SECONDS=45   how long they idle first (past the pull back-off)
 *   BENCH_SERIALIZABLE=off         skip serializable beside read atomic (and one hot key)
 *   BENCH_LEARNING=off             skip what learning a peer's commit costs (1, 2 and 3 nodes, and the
 *                                  learning path in one process, and learning on a node that serves);
 *                                  BENCH_LEARNING=serving runs only the last
 *   BENCH_SERVING_LEARNED_RATE=7000  commits a second its emulated peers send the node that serves
 *   BENCH_SERVING_PAIRS=8          pairs of arms (control, learning) there
 *   BENCH_LEARNING_SECONDS=10      seconds of load (and of idle) per node count there
 *   BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   node flags for every aft serve it starts
 *
 * Prints Markdown tables; bench/RESULTS.md holds a copy with the reading.
 */
// The AWS SDK's notice that its future versions need Node 22 is not part of the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AftClient } from '../lambda-layer/client.js';
import { startTestServers } from '../test/servers/all.js';
import { ENGINES } from '../test/servers/engines.js';
import { S3RVER_BUCKET } from '../test/servers/s3.js';
import { benchCluster } from './cluster.js';
import { benchCpu } from './cpu.js';
import {
  type AwsEndpoint,
  adapterDirect,
  type DirectEngine,
  dynamoDbDirect,
  redisDirect,
  s3Direct,
  type Workload,
  type WorkloadShape,
} from './direct-engines.js';
import { benchGcPass } from './gc-pass.js';
import { benchIdle } from './idle.js';
import { benchLearning } from './learning.js';
import { benchLearningLoop } from './learning-loop.js';
import { benchServingLearning } from './learning-serving.js';
import {
  fmt,
  latencies,
  ownCpuMicros,
  processCpuMicros,
  settle,
  summarize,
  throughput,
  time,
} from './measure.js';
import { benchRedisListing } from './redis-listing.js';
import { benchSerializable } from './serializable.js';
import { benchTransaction, benchTwoRequestTransaction, startShimProcess } from './shim-process.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const THROUGHPUT_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
const CONCURRENCY = [1, 8, 32] as const;
const SHAPE: WorkloadShape = { keys: 1000, value: new Uint8Array(256).fill(97) };

interface BenchEngine {
  readonly name: string;
  readonly title: string;
  storageUrl(): Promise<string>;
  direct(): DirectEngine;
}

function awsOf(storageUrl: string): AwsEndpoint {
  const endpoint = decodeURIComponent(/endpoint=([^&]+)/.exec(storageUrl)?.[1] ?? '');
  const [, accessKeyId = '', secretAccessKey = ''] = /^[a-z0-9]+:\/\/([^:]*):([^@]*)@/.exec(storageUrl) ?? [];
  return { endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } };
}

function benchEngines(): BenchEngine[] {
  const env = (name: string) => process.env[name]!;
  return [
    {
      name: 'memory',
      title: 'memory (in-process map)',
      storageUrl: ENGINES.memory.freshStorageUrl,
      direct: () => adapterDirect('memory:', SHAPE),
    },
    {
      name: 'file',
      title: 'file (fsync on)',
      storageUrl: async () => `file:${mkdtempSync(join(tmpdir(), 'aft-bench-shim-'))}`,
      direct: () => adapterDirect(`file:${mkdtempSync(join(tmpdir(), 'aft-bench-direct-'))}`, SHAPE),
    },
    {
      name: 'redis',
      title: 'Redis 7, standalone',
      storageUrl: ENGINES.redis.freshStorageUrl,
      direct: () => redisDirect(env('AFT_TEST_REDIS_URL'), SHAPE),
    },
    {
      name: 'redis-cluster',
      title: 'Redis 7, cluster of 3 masters',
      storageUrl: ENGINES.redisCluster.freshStorageUrl,
      direct: () => redisDirect(env('AFT_TEST_REDIS_CLUSTER_URL'), SHAPE),
    },
    {
      name: 's3',
      title: 'S3 API (s3rver on local disk)',
      storageUrl: ENGINES.s3.freshStorageUrl,
      direct: () => s3Direct(awsOf(env('AFT_TEST_S3_URL')), S3RVER_BUCKET, SHAPE),
    },
    {
      name: 'dynamodb',
      title: 'DynamoDB (DynamoDB Local, in memory)',
      storageUrl: ENGINES.dynamodb.freshStorageUrl,
      direct: () => dynamoDbDirect(awsOf(env('AFT_TEST_DYNAMODB_URL')), 'bench-direct', SHAPE),
    },
  ];
}

const pick = () => `bench/${Math.floor(Math.random() * SHAPE.keys)}`;

async function aftTransaction(client: AftClient): Promise<void> {
  await benchTransaction(client, SHAPE.keys, SHAPE.value);
}

let runs = 0;
/** The same transaction, exactly-once: begun with an idempotency key, committed with its result. */
async function aftIdempotentTransaction(client: AftClient): Promise<void> {
  runs += 1;
  const tx = await client.beginIdempotent(`bench-${process.pid}-${runs}`);
  if (tx.replayed) throw new Error('a fresh idempotency key replayed');
  await tx.getMany([pick(), pick(), pick(), pick()]);
  await tx.putMany([
    { key: pick(), value: SHAPE.value },
    { key: pick(), value: SHAPE.value },
  ]);
  await tx.commit({ result: '{"ok":true}' });
}

interface EngineResult {
  readonly lines: string[];
  /** p50 of each aft request: begin, read, write, commit. */
  readonly requests: readonly number[];
}

async function benchEngine(engine: BenchEngine): Promise<EngineResult> {
  process.stderr.write(`bench: ${engine.name}\n`);
  const { url, child } = await startShimProcess(await engine.storageUrl());
  const client = new AftClient({ url });
  const direct = engine.direct();
  try {
    for (let i = 0; i < SHAPE.keys; i += 500) {
      await client.run(async (tx) => {
        await tx.putMany(
          Array.from({ length: 500 }, (_, j) => ({ key: `bench/${i + j}`, value: SHAPE.value })),
        );
      });
    }
    await direct.seed();

    // Each aft request on its own: begin, a read, a buffered write, a commit of 2 writes.
    const begin: number[] = [];
    const read: number[] = [];
    const write: number[] = [];
    const commit: number[] = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      let tx = await client.begin();
      await tx.abort();
      begin.push(await time(async () => (tx = await client.begin())));
      read.push(await time(() => tx.get(pick())));
      write.push(await time(() => tx.put(pick(), SHAPE.value)));
      await tx.put(pick(), SHAPE.value);
      commit.push(await time(() => tx.commit()));
    }

    const twoRequests = {
      label: '**aft, 2 requests**: begin reading 4, commit carrying 2 writes',
      run: () => benchTwoRequestTransaction(client, SHAPE.keys, SHAPE.value),
      node: true,
    } as const;
    const workloads: Array<{ label: string; run: () => Promise<unknown>; node?: true }> = [
      {
        label: '**aft**: begin, read 4, write 2, commit (4 HTTP requests)',
        run: () => aftTransaction(client),
        node: true,
      },
      twoRequests,
      {
        label: '**aft, exactly-once**: 4 requests with an idempotency key and a recorded result',
        run: () => aftIdempotentTransaction(client),
        node: true,
      },
      ...direct.workloads,
    ];
    // Warm the JIT of both processes first, so the first row is not the one that pays for it.
    for (let i = 0; i < Math.min(200, SAMPLES); i += 1) await aftTransaction(client);
    const lines = [
      `### ${engine.title}`,
      '',
      '| 4 reads + 2 writes | p50 ms | p99 ms | node CPU µs per tx | client CPU µs per tx | tx/s, 1 client | 8 clients | 32 clients | CPU at 32 clients: node / client |',
      '|---|---|---|---|---|---|---|---|---|',
    ];
    const pid = child.pid!;
    for (const workload of workloads) {
      // The node's work left from the row before (the collection of what its 32 clients
      // wrote) would be charged to this one: wait for it to finish.
      if (workload.node) await settle(pid);
      const { p50, p99 } = summarize(await latencies(SAMPLES, workload.run));
      const rates: string[] = [];
      let busy = '';
      let nodeCpu = '–';
      let clientCpu = '';
      for (const concurrency of CONCURRENCY) {
        const [node0, client0, started] = [processCpuMicros(pid), ownCpuMicros(), performance.now()];
        const rate = await throughput(concurrency, THROUGHPUT_MS, workload.run);
        rates.push(rate.toFixed(0));
        const [nodeSpent, clientSpent] = [processCpuMicros(pid) - node0, ownCpuMicros() - client0];
        if (concurrency === 1) {
          // CPU per transaction over the one-client figure: a transaction at a time, as the
          // latency samples, but seconds of them (the node's CPU is counted in 10 ms ticks).
          const transactions = (rate * THROUGHPUT_MS) / 1000;
          if (workload.node) nodeCpu = (nodeSpent / transactions).toFixed(0);
          clientCpu = (clientSpent / transactions).toFixed(0);
        }
        const wallMicros = (performance.now() - started) * 1000;
        const share = (micros: number) => `${((100 * micros) / wallMicros).toFixed(0)}%`;
        busy = `${workload.node ? share(nodeSpent) : '–'} / ${share(clientSpent)}`;
      }
      lines.push(
        `| ${workload.label} | ${fmt(p50)} | ${fmt(p99)} | ${nodeCpu} | ${clientCpu} | ${rates.join(' | ')} | ${busy} |`,
      );
    }
    lines.push('');
    for (const baseline of direct.workloads.filter((workload) => workload.sideBySide)) {
      lines.push(await sideBySide(twoRequests, baseline), '');
    }
    return { lines, requests: [begin, read, write, commit].map((samples) => summarize(samples).p50) };
  } finally {
    await direct.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

/**
 * aft's transaction and `baseline` taking turns, one at a time (which goes first alternates),
 * 2 x SAMPLES each: their p50s and ratio, from the same minutes of the machine.
 */
async function sideBySide(aft: Workload, baseline: Workload): Promise<string> {
  const aftMs: number[] = [];
  const baselineMs: number[] = [];
  for (let i = 0; i < 2 * SAMPLES; i += 1) {
    if (i % 2 === 0) aftMs.push(await time(aft.run));
    baselineMs.push(await time(baseline.run));
    if (i % 2 === 1) aftMs.push(await time(aft.run));
  }
  const [aftP50, baselineP50] = [summarize(aftMs).p50, summarize(baselineMs).p50];
  return `Side by side, taking turns (${aftMs.length} of each, which goes first alternating): ${aft.label.replace(/\*\*/g, '')} p50 ${fmt(aftP50)} ms; ${baseline.label} p50 ${fmt(baselineP50)} ms; aft / baseline ${(aftP50 / baselineP50).toFixed(2)}x.`;
}

async function main(): Promise<void> {
  const wanted = process.env.BENCH_ENGINES?.split(',').map((name) => name.trim());
  const engines = benchEngines().filter((engine) => !wanted || wanted.includes(engine.name));
  const output = [
    `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; values of ${SHAPE.value.byteLength} bytes over ${SHAPE.keys} keys; ${SAMPLES} latency samples, ${THROUGHPUT_MS / 1000} s per throughput figure.`,
    '',
  ];
  // The CPU table and the GC pass need no storage server: they run before any starts, so
  // no server's start-up (DynamoDB Local's JVM, the Redis Cluster forming) shares the cores.
  const cpuTransactions = Number(process.env.BENCH_CPU_TRANSACTIONS ?? 3000);
  if (cpuTransactions > 0) output.push(...(await benchCpu(cpuTransactions)));
  if (process.env.BENCH_GC_PASS !== 'off') output.push(...(await benchGcPass()));
  const servers = await startTestServers();
  Object.assign(process.env, servers.env);
  const requestRows: string[] = [];
  try {
    if (process.env.BENCH_REDIS_LISTING !== 'off')
      output.push(...(await benchRedisListing(process.env.AFT_TEST_REDIS_URL!)));
    for (const engine of process.env.BENCH_TABLES === 'off' ? [] : engines) {
      const result = await benchEngine(engine);
      output.push(...result.lines);
      requestRows.push(`| ${engine.name} | ${result.requests.map(fmt).join(' | ')} |`);
    }
    if (requestRows.length > 0) {
      output.push('### aft, each request alone: p50 ms, one client', '');
      output.push(
        '| engine | begin | read one key | write one key (buffered) | commit of 2 writes |',
        '|---|---|---|---|---|',
      );
      output.push(...requestRows, '');
    }
    if (process.env.BENCH_CLUSTER !== 'off') {
      output.push(
        ...(await benchCluster({
          redisUrl: process.env.AFT_TEST_REDIS_URL!,
          seconds: THROUGHPUT_MS / 1000 + 2,
          gcSeconds: Number(process.env.BENCH_GC_SECONDS ?? 150),
          plotPath: fileURLToPath(new URL('../../bench/gc-storage.svg', import.meta.url)),
        })),
      );
    }
    if (process.env.BENCH_IDLE !== 'off') {
      const idle = engines.filter((engine) => engine.name !== 'memory');
      output.push(
        ...(await benchIdle(idle, {
          seconds: Number(process.env.BENCH_IDLE_SECONDS ?? 60),
          warmupSeconds: Number(process.env.BENCH_IDLE_WARMUP_SECONDS ?? 45),
        })),
      );
    }
    if (process.env.BENCH_SERIALIZABLE !== 'off') {
      output.push(
        ...(await benchSerializable({
          redisUrl: process.env.AFT_TEST_REDIS_URL!,
          seconds: THROUGHPUT_MS / 1000,
        })),
      );
    }
    const learning = process.env.BENCH_LEARNING ?? 'on';
    if (learning !== 'off' && learning !== 'serving') {
      output.push(
        ...(await benchLearning({
          redisUrl: process.env.AFT_TEST_REDIS_URL!,
          seconds: Number(process.env.BENCH_LEARNING_SECONDS ?? 10),
        })),
        ...(await benchLearningLoop()),
      );
    }
    if (learning !== 'off') {
      output.push(
        ...(await benchServingLearning({
          redisUrl: process.env.AFT_TEST_REDIS_URL!,
          seconds: Number(process.env.BENCH_LEARNING_SECONDS ?? 10) / 2,
          rate: Number(process.env.BENCH_SERVING_LEARNED_RATE ?? 7000),
          pairs: Number(process.env.BENCH_SERVING_PAIRS ?? 8),
        })),
      );
    }
  } finally {
    await servers.stop();
  }
  process.stdout.write(`${output.join('\n')}\n`);
}

await main();
