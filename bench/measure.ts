/** Timing helpers: percentiles of latency samples, closed-loop throughput, CPU time. */
import { readFileSync } from 'node:fs';

/** utime and stime of a process, in microseconds (clock ticks of 10 ms on Linux). */
export function processCpuSplit(pid: number): { readonly user: number; readonly system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

/** utime + stime of a process, in microseconds. */
export function processCpuMicros(pid: number): number {
  const { user, system } = processCpuSplit(pid);
  return user + system;
}

/** CPU time of this process (the bench's clients), in microseconds. */
export function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
export interface Summary {
  readonly p50: number;
  readonly p99: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Latency samples of `fn`, one call at a time, after a short warm-up. */
export async function latencies(samples: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(20, samples); i += 1) await fn();
  const result: number[] = [];
  for (let i = 0; i < samples; i += 1) result.push(await time(fn));
  return result;
}

/** Calls completed per second by `concurrency` loops, each calling `fn` back to back. */
export async function throughput(
  concurrency: number,
  durationMs: number,
  fn: () => Promise<unknown>,
): Promise<number> {
  const deadline = performance.now() + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await fn();
        done += 1;
      }
    }),
  );
  return done / (durationMs / 1000);
}

export const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2));

/**
 * Waits until process `pid` is near idle (under a tenth of a core over a quarter second), or
 * `maxMs` passed: what it still does for earlier work is not charged to the next figure.
 */
export async function settle(pid: number, maxMs = 5_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (performance.now() < deadline) {
    const before = processCpuMicros(pid);
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (processCpuMicros(pid) - before <= 25_000) return;
  }
}
