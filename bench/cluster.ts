/**
 * The shim tier: throughput with 1, 2 and 3 nodes over one Redis, and the cost of garbage
 * collection (throughput with GC on and off, and stored versions over time, drawn as an SVG
 * plot). Nodes run as `aft serve` processes with the production time bounds, so GC can
 * collect a version about a minute after it was superseded.
 */

import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { AftClient } from '../lambda-layer/client.js';
import { benchTransaction, startShimProcess } from './shim-process.js';

const VALUE = new Uint8Array(256).fill(97);

/** The bench's one way to start a node (bench/shim-process.ts). */
export const startNode = startShimProcess;

export async function stopNodes(nodes: readonly { child: ChildProcess }[]): Promise<void> {
  await Promise.all(
    nodes.map(({ child }) => {
      child.kill('SIGTERM');
      return new Promise((resolve) => child.once('exit', resolve));
    }),
  );
}

/** Transactions/s of `clients` loops, each on one node (as behind a balancer with affinity). */
export async function measure(
  urls: readonly string[],
  clients: number,
  keys: number,
  durationMs: number,
): Promise<number> {
  const deadline = performance.now() + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const client = new AftClient({ url: urls[i % urls.length]! });
      while (performance.now() < deadline) {
        await benchTransaction(client, keys, VALUE);
        done += 1;
      }
    }),
  );
  return done / (durationMs / 1000);
}

async function countVersions(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    let count = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}v:*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}

export interface ClusterBenchOptions {
  readonly redisUrl: string;
  readonly seconds: number;
  /** How long each GC run lasts (long enough for GC to reach its steady state). */
  readonly gcSeconds: number;
  readonly plotPath: string;
}

export async function benchCluster(options: ClusterBenchOptions): Promise<string[]> {
  const lines: string[] = [];
  const runId = Date.now().toString(36);

  lines.push('### Shim nodes over one Redis: transactions/s (4 reads + 2 writes, 32 clients)', '');
  lines.push('| nodes | transactions/s |', '|---|---|');
  for (const count of [1, 2, 3]) {
    process.stderr.write(`bench: ${count} node(s)\n`);
    const storage = `${options.redisUrl}?prefix=nodes${count}-${runId}:`;
    const nodes = [];
    for (let i = 0; i < count; i += 1) nodes.push(await startNode(storage, ['--gc', 'off']));
    try {
      await measure(
        nodes.map((node) => node.url),
        8,
        1000,
        1000,
      );
      const rate = await measure(
        nodes.map((node) => node.url),
        32,
        1000,
        options.seconds * 1000,
      );
      lines.push(`| ${count} | ${rate.toFixed(0)} |`);
    } finally {
      await stopNodes(nodes);
    }
  }
  lines.push('');

  // GC on and off: one node, overwrites over 200 keys, stored versions sampled every 2 s.
  const series: { label: string; points: [number, number][]; rate: number }[] = [];
  for (const gc of ['on', 'off'] as const) {
    process.stderr.write(`bench: GC ${gc} (${options.gcSeconds} s)\n`);
    const prefix = `gc${gc}-${runId}:`;
    const storage = `${options.redisUrl}?prefix=${prefix}`;
    const node = await startNode(storage, ['--gc', gc, '--gc-interval-ms', '5000']);
    const points: [number, number][] = [];
    const started = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        points.push([(performance.now() - started) / 1000, await countVersions(options.redisUrl, prefix)]);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })();
    try {
      const rate = await measure([node.url], 8, 200, options.gcSeconds * 1000);
      series.push({ label: `GC ${gc}`, points, rate });
    } finally {
      sampling = false;
      await sampler;
      await stopNodes([node]);
    }
  }
  lines.push(
    `### Garbage collection: one node, 8 clients overwriting 200 keys for ${options.gcSeconds} s`,
    '',
    '| GC | transactions/s | stored versions at the end | peak |',
    '|---|---|---|---|',
  );
  for (const { label, points, rate } of series) {
    const last = points[points.length - 1]?.[1] ?? 0;
    const peak = Math.max(...points.map(([, count]) => count));
    lines.push(`| ${label.slice(3)} | ${rate.toFixed(0)} | ${last} | ${peak} |`);
  }
  lines.push(
    '',
    `Stored versions over time: [${options.plotPath.split('/').pop()}](${options.plotPath.split('/').pop()})`,
    '',
  );
  writeFileSync(options.plotPath, plot(series, 'seconds', 'versions stored in Redis'));
  return lines;
}

/** A line chart as SVG: one polyline per series, axes with a few ticks, a legend. */
function plot(
  series: readonly { label: string; points: readonly [number, number][] }[],
  xLabel: string,
  yLabel: string,
): string {
  const width = 640;
  const height = 360;
  const margin = { left: 70, right: 20, top: 20, bottom: 50 };
  const all = series.flatMap(({ points }) => points);
  const maxX = Math.max(1, ...all.map(([x]) => x));
  const maxY = Math.max(1, ...all.map(([, y]) => y));
  const sx = (x: number) => margin.left + (x / maxX) * (width - margin.left - margin.right);
  const sy = (y: number) => height - margin.bottom - (y / maxY) * (height - margin.top - margin.bottom);
  const colors = ['#1b7837', '#c2410c', '#1d4ed8'];
  const ticks = (max: number) => [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${yLabel} over ${xLabel}: ${series.map(({ label }) => label).join(', ')}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<line x1="${margin.left}" y1="${sy(0)}" x2="${width - margin.right}" y2="${sy(0)}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${sy(0)}" x2="${margin.left}" y2="${margin.top}" stroke="black"/>`,
    ...ticks(maxX).map(
      (x) => `<text x="${sx(x)}" y="${sy(0) + 16}" text-anchor="middle">${x.toFixed(0)}</text>`,
    ),
    ...ticks(maxY).map(
      (y) => `<text x="${margin.left - 6}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(0)}</text>`,
    ),
    `<text x="${(margin.left + width - margin.right) / 2}" y="${height - 12}" text-anchor="middle">${xLabel}</text>`,
    `<text transform="translate(16 ${(margin.top + height - margin.bottom) / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
    ...series.map(({ points }, i) => {
      const d = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${d}"/>`;
    }),
    ...series.map(
      ({ label }, i) =>
        `<text x="${margin.left + 12}" y="${margin.top + 14 + i * 16}" fill="${colors[i % colors.length]}">${label}</text>`,
    ),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
