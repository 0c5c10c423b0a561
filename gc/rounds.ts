/**
 * One round of global GC on a node: when it holds this period's lease, passes run back to
 * back while each leaves a backlog and the lease has time left. A pass deletes at most
 * `maxDeletes` versions, so one pass per interval capped GC at maxDeletes / interval
 * (1,000 versions a second by default) and storage grew without bound at a higher write rate.
 */
import type { StorageAdapter } from '../adapters/contract.js';
import { type CollectorOptions, collectGarbage, type GcReport } from './collector.js';
import { acquireLease } from './lease.js';

export interface GcRoundOptions extends CollectorOptions {
  /** Who asks for the lease (the node id). */
  readonly holder: string;
  /** The lease period; passes stop once less than `reserveMs` of it is left. */
  readonly leaseMs: number;
  /** Time kept back at the end of the lease (another node may take the next one). */
  readonly reserveMs: number;
  /** Called with each pass's report, as it ends. */
  readonly onPass?: (report: GcReport) => void;
}

/** The reports of the passes run; none when another node holds the lease. */
export async function collectWhileBehind(options: GcRoundOptions): Promise<GcReport[]> {
  const now = options.now ?? Date.now;
  const storage: StorageAdapter = options.storage;
  const lease = await acquireLease(storage, options.holder, options.leaseMs, now);
  if (!lease.held) {
    // Another node collects: what this one's index knows may go stale (records it deletes),
    // so the next pass here lists everything.
    options.index?.clear();
    return [];
  }
  const reports: GcReport[] = [];
  for (;;) {
    options.signal?.throwIfAborted();
    const report = await collectGarbage(options);
    reports.push(report);
    options.onPass?.(report);
    if (report.backlog === 0 || now() >= lease.untilMs - options.reserveMs) return reports;
  }
}
