/**
 * The collector's loop in `aft serve` (`--gc on`): every gcIntervalMs, whoever holds this
 * period's lease runs bounded passes, back to back while they leave a backlog
 * (gc/rounds.ts). While nothing happens (no activity on this node, and the last round deleted
 * nothing, or another node held the lease) the wait doubles up to 5 minutes
 * (shim/idle-backoff.ts): an idle cluster's nodes no longer try the lease, and its holder no
 * longer lists the store, every 10 seconds. What becomes collectable with time alone (records
 * past the outcome retention, idempotency keys past their time to live) is collected at most
 * that much later.
 */
import { CommitIndex } from '../gc/commit-index.js';
import { collectWhileBehind, type GcRoundOptions } from '../gc/rounds.js';
import { IdleBackoff } from '../shim/idle-backoff.js';
import type { NodeLogger } from '../shim/telemetry.js';
import type { PrometheusMetrics } from './http/metrics.js';

const IDLE_MAX_MS = 5 * 60_000;

export interface GcLoopOptions {
  readonly intervalMs: number;
  /** Whether a round may start now (the node loaded its metadata, and is not fenced). */
  readonly ready: () => boolean;
  /** What each round is given (lease, bounds, storage); `onPass` is the loop's. */
  readonly round: Omit<GcRoundOptions, 'onPass'>;
  readonly metrics: PrometheusMetrics;
  readonly logger: NodeLogger;
}

export interface GcLoop {
  /** Something happened on this node: back to the base interval. */
  noteActivity(): void;
  stop(): void;
}

export function startGcLoop(options: GcLoopOptions): GcLoop {
  const { metrics, logger } = options;
  const backoff = new IdleBackoff(options.intervalMs, Math.max(options.intervalMs, IDLE_MAX_MS));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // What this node's passes learned of the records, for the next (gc/commit-index.ts).
  const index = new CommitIndex();
  const schedule = (waitMs: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(run, waitMs);
    timer.unref();
  };
  async function run(): Promise<void> {
    timer = undefined;
    // Not ready, or another node's lease: nothing found here.
    let found = 0;
    try {
      if (options.ready()) {
        await collectWhileBehind({
          ...options.round,
          index,
          onPass: (report) => {
            const deleted = report.versionsDeleted + report.orphanVersionsDeleted + report.recordsDeleted;
            metrics.gcDeleted.inc({ kind: 'versions' }, report.versionsDeleted);
            metrics.gcDeleted.inc({ kind: 'orphans' }, report.orphanVersionsDeleted);
            metrics.gcDeleted.inc({ kind: 'records' }, report.recordsDeleted);
            metrics.gcBacklog.set(report.backlog);
            if (deleted > 0) logger.info({ ...report }, 'garbage collected');
            found += deleted + report.backlog;
          },
        });
      }
    } catch (error) {
      // Stopping abandons the pass in flight (its storage calls are aborted): not a failure.
      if (stopped) {
        logger.debug({ err: error }, 'garbage collection pass abandoned at shutdown');
        return;
      }
      logger.warn({ err: error }, 'garbage collection pass failed');
      // A failed pass is not an idle one: try again at the base pace.
      found += 1;
    }
    schedule(backoff.afterRound(found));
  }
  schedule(backoff.nextWaitMs);
  return {
    noteActivity() {
      // While a round runs there is no timer: its end schedules the next at the base pace.
      if (backoff.noteActivity() && timer !== undefined) schedule(options.intervalMs);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
