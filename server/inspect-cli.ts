/**
 * `aft inspect members | commits | key | stats`: server/inspect.ts on the command line, over
 * the storage URL `serve` takes, as aligned text or, with `--json`, as JSON (`commits` as one
 * JSON object per line, so `--follow` can be piped).
 */
import { type Command, Option } from 'commander';
import { openAdapterFromUrl } from '../adapters/url.js';
import { resolveConfig, SETTINGS, type ShimOptions } from '../shim/config.js';
import { BadRequestError } from '../shim/errors.js';
import {
  type InspectOptions,
  type InspectProgress,
  inspectKey,
  inspectMembers,
  inspectStats,
  type KeyReport,
  type MemberReport,
  type StoreStats,
} from './inspect.js';
import { type CommitReport, followCommits, inspectCommits } from './inspect-commits.js';

interface CommonFlags {
  readonly storage?: string;
  readonly json?: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from now (`90s`, `15m`, `2h`, `1d`) or a date (ISO 8601). */
export function parseSince(raw: string, nowMs: number): number {
  const duration = /^(\d+)(ms|s|m|h|d)$/.exec(raw);
  if (duration) return nowMs - Number(duration[1]) * UNITS[duration[2]!]!;
  const date = Date.parse(raw);
  if (/^\d{4}-\d{2}-\d{2}/.test(raw) && Number.isFinite(date)) return date;
  throw new BadRequestError(`--since ${raw}: expected a duration (90s, 15m, 2h, 1d) or an ISO 8601 date`);
}

function wholeNumber(raw: string, flag: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new BadRequestError(`${flag} ${raw}: expected a whole number of at least ${min}`);
  }
  return Number(raw);
}

const iso = (ms: number) => new Date(ms).toISOString();
const ago = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** Progress on a terminal: one line rewritten in place (a bar once the total is known); nothing elsewhere. */
function progressLine(stream: NodeJS.WriteStream): (progress: InspectProgress) => void {
  if (!stream.isTTY) return () => undefined;
  let shown = false;
  return ({ phase, done, total }) => {
    if (phase === 'done') {
      if (shown) stream.write(`\r${' '.repeat(70)}\r`);
      return;
    }
    shown = true;
    const bar =
      total === undefined || total === 0
        ? ''
        : `[${'#'.repeat(Math.round((20 * done) / total)).padEnd(20)}] ${done}/${total}`;
    stream.write(`\raft inspect: reading ${phase} ${bar || done}`.padEnd(70));
  };
}

function formatMembers(members: readonly MemberReport[]): string {
  if (members.length === 0) return 'no members: no node is running on this storage\n';
  const rows = members.map((member) => [
    member.nodeId,
    member.url,
    member.state,
    `${ago(member.heartbeatAgeMs)} ago (seq ${member.seq})`,
    iso(member.lowWaterMs),
    member.fenced ? `fenced: ${member.fenced}` : '',
  ]);
  return table(['NODE', 'URL', 'STATE', 'LAST HEARTBEAT', 'LOW WATER', ''], rows);
}

function formatCommit(commit: CommitReport): string {
  if (commit.aborted) return `${iso(commit.timeMs)}  ${commit.versionId}  aborted (abort marker)\n`;
  const written = commit.keys.filter((key) => !commit.deleted.includes(key));
  const parts = [
    written.length > 0 ? `wrote ${written.map((key) => JSON.stringify(key)).join(', ')}` : '',
    commit.deleted.length > 0 ? `deleted ${commit.deleted.map((key) => JSON.stringify(key)).join(', ')}` : '',
  ].filter(Boolean);
  return `${iso(commit.timeMs)}  ${commit.versionId}  ${parts.join('; ') || 'read only'}\n`;
}

function formatKey(report: KeyReport): string {
  const header = `key ${JSON.stringify(report.key)}: ${report.versions.length} version(s); low water ${iso(report.lowWaterMs)}\n`;
  if (report.versions.length === 0) return `${header}no commit record or intent names it\n`;
  const rows = report.versions.map((version) => [
    version.versionId,
    iso(version.timeMs),
    version.state,
    version.bytes === undefined ? '-' : `${version.bytes} B`,
    version.collectable ? 'GC may collect' : '',
  ]);
  return header + table(['VERSION', 'TIME', 'STATE', 'STORED', ''], rows);
}

function formatStats(stats: StoreStats): string {
  return [
    `members                 ${stats.members} (${stats.liveMembers} live)`,
    `keys                    ${stats.keys} (${stats.deletedKeys} deleted)`,
    `versions stored         ${stats.versions}`,
    `commit records          ${stats.commitRecords}`,
    `abort markers           ${stats.abortMarkers}`,
    `intents                 ${stats.intents}`,
    `idempotency claims      ${stats.idempotencyClaims}`,
    `serializable claims     ${stats.claims}`,
    `low water               ${iso(stats.lowWaterMs)}`,
    `GC backlog              ${stats.gcBacklog.versions} superseded versions, ${stats.gcBacklog.orphanIntents} orphan intents`,
    `damaged commit records  ${stats.damagedRecords.length}${damagedIds(stats.damagedRecords)}`,
    '',
  ].join('\n');
}

/** The first few ids of damaged records, to look at (each stays where it is until deleted). */
function damagedIds(ids: readonly string[]): string {
  if (ids.length === 0) return '';
  const shown = ids.slice(0, 5).join(', ');
  return ` (${shown}${ids.length > 5 ? `, and ${ids.length - 5} more` : ''})`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `${cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd()}\n`;
  return line(header) + rows.map(line).join('');
}

/** Opens the storage of `--storage` (or AFT_STORAGE), runs `body`, and closes it. */
async function withStorage<T>(flags: CommonFlags, body: (options: InspectOptions) => Promise<T>): Promise<T> {
  const config = resolveConfig(
    flags.storage === undefined ? {} : ({ storage: flags.storage } as ShimOptions),
  );
  const storage = await openAdapterFromUrl(config.storage);
  try {
    return await body({
      storage,
      deadAfterMs: config.deadAfterMs,
      timing: { maxClockSkewMs: config.maxClockSkewMs },
      onProgress: progressLine(process.stderr),
    });
  } finally {
    await storage.close();
  }
}

const print = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`);

export function addInspectCommands(program: Command, storageHelp: string): void {
  const storageSetting = SETTINGS.find((entry) => entry.option === 'storage')!;
  const inspect = program
    .command('inspect')
    .description('see what a store holds, read-only, on any engine: members, commits, a key, stats');
  const sub = (name: string, description: string) =>
    inspect
      .command(name)
      .description(description)
      .addOption(
        new Option(
          storageSetting.flag,
          `storage URL [env ${storageSetting.env}; default ${storageSetting.default}]`,
        ),
      )
      .option('--json', 'print JSON instead of text')
      .addHelpText('after', storageHelp);

  sub(
    'members',
    'the nodes registered in storage: URL, live or dead, last heartbeat, low water, fenced',
  ).action((flags: CommonFlags) =>
    withStorage(flags, async (options) => {
      const members = await inspectMembers(options);
      if (flags.json) printJson(members);
      else print(formatMembers(members));
    }),
  );

  sub('commits', 'recent commit records (and abort markers): version, txid, keys; --follow tails them')
    .option('--since <when>', 'a duration back from now (90s, 15m, 2h, 1d) or an ISO 8601 date', '15m')
    .option('--limit <n>', 'show the newest this many of the records already there (default: 1000)')
    .option('--follow', 'keep printing records as they land, until interrupted')
    .option('--interval-ms <n>', 'with --follow, how often to look for new records (default: 1000)')
    .action((flags: CommonFlags & { since: string; limit?: string; follow?: boolean; intervalMs?: string }) =>
      withStorage(flags, async (options) => {
        const sinceMs = parseSince(flags.since, Date.now());
        const limit = wholeNumber(flags.limit ?? '1000', '--limit', 1);
        const show = (commit: CommitReport) =>
          print(flags.json ? `${JSON.stringify(commit)}\n` : formatCommit(commit));
        if (!flags.follow) {
          const { commits, skipped } = await inspectCommits({ ...options, sinceMs, limit });
          if (skipped > 0) {
            process.stderr.write(
              `aft inspect: ${skipped} older record(s) since ${iso(sinceMs)} not shown (--limit ${limit})\n`,
            );
          }
          for (const commit of commits) show(commit);
          return;
        }
        const stop = new AbortController();
        const interrupt = () => stop.abort();
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        try {
          await followCommits({
            ...options,
            sinceMs,
            limit,
            intervalMs: wholeNumber(flags.intervalMs ?? '1000', '--interval-ms', 10),
            signal: stop.signal,
            onCommit: show,
          });
        } finally {
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
        }
      }),
    );

  sub(
    'key',
    "one key's versions in storage: which is visible, which are superseded, in flight or orphaned, and which GC may collect",
  )
    .argument('<key>', 'the key, as the REST API names it (UTF-8)')
    .action((key: string, flags: CommonFlags) =>
      withStorage(flags, async (options) => {
        const report = await inspectKey({ ...options, key });
        if (flags.json) printJson(report);
        else print(formatKey(report));
      }),
    );

  sub('stats', 'counts: keys, versions, records, intents, claims, and the GC backlog').action(
    (flags: CommonFlags) =>
      withStorage(flags, async (options) => {
        const stats = await inspectStats(options);
        if (flags.json) printJson(stats);
        else print(formatStats(stats));
      }),
  );
}
