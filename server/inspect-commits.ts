/**
 * `aft inspect commits`: the commit records of a time span (the newest of them), and
 * following them as they land. Read-only, as the rest of server/inspect.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommitRecord } from '../adapters/contract.js';
import { isAbortMarker } from '../shim/commit-outcome.js';
import { versionIdFloor } from '../shim/ids.js';
import { orphanAfterMs } from '../shim/timing.js';
import { type InspectOptions, PAGE, type Reading, reading, timeOf } from './inspect.js';

export interface CommitReport {
  readonly versionId: string;
  /** The version time (ms since the epoch), from the version id. */
  readonly timeMs: number;
  readonly txid: string;
  readonly keys: readonly string[];
  readonly deleted: readonly string[];
  /** An abort marker: the transaction was judged dead, and no record can follow. */
  readonly aborted: boolean;
}

function commitReport(record: CommitRecord): CommitReport {
  return {
    versionId: record.versionId,
    timeMs: timeOf(record.versionId),
    txid: record.txid,
    keys: record.writeSet,
    deleted: record.deleted,
    aborted: isAbortMarker(record),
  };
}

/**
 * Commit records (abort markers too) from `sinceMs` on, oldest first: the newest `limit` of
 * them (what "recent" means), and how many older ones were passed over.
 */
export async function inspectCommits(
  options: InspectOptions & { readonly sinceMs: number; readonly limit?: number },
): Promise<{ commits: CommitReport[]; skipped: number }> {
  const read = reading(options);
  const { commits, skipped } = await listNewest(read, options.sinceMs, options.limit);
  read.progress({ phase: 'done', done: 1, total: 1 });
  return { commits, skipped };
}

/**
 * Every record from `sinceMs` on: the newest `limit`, how many older ones were passed over,
 * and those of them with a version time from `keepFromMs` on.
 */
async function listNewest(
  read: Reading,
  sinceMs: number,
  limit = Number.POSITIVE_INFINITY,
  keepFromMs = Number.POSITIVE_INFINITY,
): Promise<{ commits: CommitReport[]; skipped: number; kept: CommitReport[] }> {
  let commits: CommitReport[] = [];
  const kept: CommitReport[] = [];
  let skipped = 0;
  let listed = 0;
  for (let after = versionIdFloor(sinceMs); ; ) {
    const page = await read.storage.listCommitRecords(after, { limit: PAGE, ...read.call });
    if (page.length === 0) return { commits, skipped, kept };
    commits.push(...page.map(commitReport));
    if (commits.length > limit) {
      const over = commits.length - limit;
      for (const commit of commits.slice(0, over)) if (commit.timeMs >= keepFromMs) kept.push(commit);
      skipped += over;
      commits = commits.slice(over);
    }
    listed += page.length;
    read.progress({ phase: 'records', done: listed });
    after = page[page.length - 1]!.versionId;
  }
}

/**
 * Tails the commit records: those from `sinceMs` on (the newest `limit` of them), then each
 * new one as it lands, until `signal` aborts. A record may land up to the orphan bound after
 * its version time, so each round lists the ids of that window again and reads only the ones
 * not yet reported.
 */
export async function followCommits(
  options: InspectOptions & {
    readonly sinceMs: number;
    readonly limit?: number;
    readonly intervalMs?: number;
    readonly onCommit: (commit: CommitReport) => void;
  },
): Promise<void> {
  const read = reading(options);
  const { storage, timing, call } = read;
  const now = options.now ?? Date.now;
  const windowMs = orphanAfterMs(timing);
  const reported = new Map<string, number>();
  const report = (commit: CommitReport) => {
    reported.set(commit.versionId, commit.timeMs);
    options.onCommit(commit);
  };
  // Records passed over for the limit are not news: those a later round lists again stay unshown.
  const { commits, kept } = await listNewest(read, options.sinceMs, options.limit, now() - windowMs);
  read.progress({ phase: 'done', done: 1, total: 1 });
  for (const commit of kept) reported.set(commit.versionId, commit.timeMs);
  for (const commit of commits) report(commit);
  while (!options.signal?.aborted) {
    // An abort ends the pause early, and the loop.
    await sleep(options.intervalMs ?? 1000, undefined, call).catch(() => undefined);
    if (options.signal?.aborted) return;
    const fromMs = Math.max(options.sinceMs, now() - windowMs);
    for (const [versionId, timeMs] of reported) if (timeMs < fromMs) reported.delete(versionId);
    for (let after = versionIdFloor(fromMs); ; ) {
      const ids = await storage.listCommitRecordIds(after, { limit: PAGE, ...call });
      if (ids.length === 0) break;
      for (const versionId of ids) {
        if (reported.has(versionId)) continue;
        const record = await storage.getCommitRecord(versionId, call);
        if (record) report(commitReport(record));
      }
      after = ids[ids.length - 1]!;
    }
  }
}
