/**
 * The `aft` command. Flags are derived from the SETTINGS table, so every option has a flag,
 * an AFT_* variable and a line in --help. A flag wins over its variable.
 */
import { Command, Option } from 'commander';
import { describeStorageUrl, openAdapterFromUrl } from '../adapters/url.js';
import { collectGarbage, type GcProgress, type GcReport } from '../gc/collector.js';
import { acquireLease } from '../gc/lease.js';
import { parseSetting, resolveConfig, SETTINGS, type ShimOptions } from '../shim/config.js';
import { AftError, BadRequestError } from '../shim/errors.js';
import { addInspectCommands } from './inspect-cli.js';

export interface CliContext {
  readonly version: string;
  /** The installed aft package (`aft lambda-local` runs functions against its dist/ and node_modules). */
  readonly packageRoot: string;
}

export function buildProgram({ version, packageRoot }: CliContext): Command {
  const program = new Command('aft')
    .description(
      'aft: atomic fault tolerance for serverless functions (read-atomic transactions over storage)',
    )
    .version(version)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nEvery option of a command, with its AFT_* variable and default: aft <command> --help',
    );

  const serve = program
    .command('serve')
    .description('run a shim node: the REST transaction API over a storage engine')
    .addHelpText('after', STORAGE_URL_HELP);
  const flagged = SETTINGS.map((entry) => {
    const shown = Array.isArray(entry.default)
      ? entry.default.join(',') || '(none)'
      : typeof entry.default === 'boolean'
        ? entry.default
          ? 'on'
          : 'off'
        : String(entry.default) || '(none)';
    const option = new Option(entry.flag, `${entry.description} [env ${entry.env}; default ${shown}]`);
    serve.addOption(option);
    return { entry, attribute: option.attributeName() };
  });
  serve.action(async (flags: Record<string, string | undefined>) => {
    const options: Record<string, unknown> = {};
    for (const { entry, attribute } of flagged) {
      const raw = flags[attribute];
      if (raw !== undefined) options[entry.option] = parseSetting(entry, raw, entry.flag.split(' ')[0]!);
    }
    await startServing(options as ShimOptions);
  });

  const storage = program.command('storage').description('set up and inspect storage');
  const storageSetting = SETTINGS.find((entry) => entry.option === 'storage')!;
  storage
    .command('init')
    .description(
      'create what aft needs in storage (directory, S3 bucket, DynamoDB tables), idempotently; for local ' +
        'development and first deployments: the shim itself never creates anything',
    )
    .addOption(
      new Option(
        storageSetting.flag,
        `storage URL [env ${storageSetting.env}; default ${storageSetting.default}]`,
      ),
    )
    .addHelpText('after', STORAGE_URL_HELP)
    .action(async (flags: { storage?: string }) => {
      const url = resolveConfig(flags.storage === undefined ? {} : { storage: flags.storage }).storage;
      const adapter = await openAdapterFromUrl(url);
      try {
        await adapter.init?.({ signal: AbortSignal.timeout(600_000) });
        process.stdout.write(`aft: storage ${describeStorageUrl(url)} (${adapter.name}) is ready\n`);
        const warnings = await adapter.durabilityWarnings?.({ signal: AbortSignal.timeout(20_000) });
        for (const warning of warnings ?? []) process.stderr.write(`aft: warning: ${warning}\n`);
      } catch (error) {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new StorageInitError(`storage init of ${describeStorageUrl(url)} failed: ${reason}`);
      } finally {
        await adapter.close();
      }
    });
  program
    .command('lambda-local')
    .description(
      'serve the Lambda Invoke API for a folder of functions, each run as Lambda runs it (in its own ' +
        'process under aws-lambda-ric, against a local Runtime API) with the aft layer on NODE_PATH',
    )
    .requiredOption(
      '--functions <dir>',
      'a folder with one folder per function (optional function.json in each)',
    )
    .option('--port <n>', 'TCP port of the Invoke API (0 picks a free one) (default: 9001)')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--layer <dir>', 'an unpacked layer (holding nodejs/node_modules) [default: this aft package]')
    .option('--env <name=value...>', 'environment for every function (AFT_* variables are passed on as well)')
    .option('--max-environments <n>', 'concurrent processes per function at most (default: 10)')
    .option('--async-retry-delay-ms <n>', 'pause before retrying a failed Event invocation (default: 1000)')
    .addHelpText(
      'after',
      '\nExample:\n  AFT_URL=http://127.0.0.1:7070 aft lambda-local --functions examples/checkout/functions\n',
    )
    .action(
      async (flags: {
        functions: string;
        // Numbers without a commander default: it would print them quoted, as strings.
        port?: string;
        host: string;
        layer?: string;
        env?: string[];
        maxEnvironments?: string;
        asyncRetryDelayMs?: string;
      }) => {
        const environment: Record<string, string> = {};
        for (const [name, value] of Object.entries(process.env)) {
          if (name.startsWith('AFT_') && value !== undefined) environment[name] = value;
        }
        for (const pair of flags.env ?? []) {
          const at = pair.indexOf('=');
          if (at < 1) throw new BadRequestError(`--env ${pair}: expected name=value`);
          environment[pair.slice(0, at)] = pair.slice(at + 1);
        }
        // Loaded by the command that runs it: `aft inspect` or `aft gc` starts without the server.
        const { startLambdaLocal } = await import('../lambda-local/lambda-local.js');
        const local = await startLambdaLocal({
          functionsDirectory: flags.functions,
          port: wholeNumber(flags.port ?? '9001', '--port', 0, 65535),
          host: flags.host,
          packageRoot,
          environment,
          maxEnvironments: wholeNumber(flags.maxEnvironments ?? '10', '--max-environments', 1, 1000),
          asyncRetryDelayMs: wholeNumber(
            flags.asyncRetryDelayMs ?? '1000',
            '--async-retry-delay-ms',
            0,
            3_600_000,
          ),
          ...(flags.layer !== undefined && { layerDirectory: flags.layer }),
        });
        const stop = () => {
          local.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      },
    );

  const gcDefaults = resolveConfig({}, {});
  program
    .command('gc')
    .description(
      'run global garbage collection once (for a scheduled job, or by hand): delete superseded versions no ' +
        'live node can still serve, orphan versions, then fully collected commit records',
    )
    .addOption(
      new Option(
        storageSetting.flag,
        `storage URL [env ${storageSetting.env}; default ${storageSetting.default}]`,
      ),
    )
    .addOption(
      new Option(
        '--max-deletes <n>',
        `most versions to delete [env ${settingOf('gcMaxDeletes').env}; default ${gcDefaults.gcMaxDeletes}]`,
      ),
    )
    .addOption(
      new Option(
        '--dead-after-ms <n>',
        `dead-after time of a node whose heartbeat does not state its own [env ${settingOf('deadAfterMs').env}; default ${gcDefaults.deadAfterMs}]`,
      ),
    )
    .addHelpText(
      'after',
      `\nAlso read, as every node reads them: ${(
        ['maxClockSkewMs', 'outcomeRetentionMs', 'gcIntervalMs'] as const
      )
        .map((option) => `${settingOf(option).env} (default ${settingOf(option).default})`)
        .join(', ')}.\n`,
    )
    .addOption(new Option('--force', 'run even when a node holds the GC lease this period'))
    .action(
      async (flags: { storage?: string; maxDeletes?: string; deadAfterMs?: string; force?: boolean }) => {
        const options: ShimOptions = {
          ...(flags.storage !== undefined && { storage: flags.storage }),
          ...(flags.maxDeletes !== undefined && {
            gcMaxDeletes: parseSetting(
              settingOf('gcMaxDeletes'),
              flags.maxDeletes,
              '--max-deletes',
            ) as number,
          }),
          ...(flags.deadAfterMs !== undefined && {
            deadAfterMs: parseSetting(
              settingOf('deadAfterMs'),
              flags.deadAfterMs,
              '--dead-after-ms',
            ) as number,
          }),
        };
        const config = resolveConfig(options);
        const adapter = await openAdapterFromUrl(config.storage);
        try {
          const lease = await acquireLease(adapter, `aft-gc-${process.pid}`, 3 * config.gcIntervalMs);
          if (!lease.held && !flags.force) {
            process.stdout.write(
              `aft gc: node ${lease.holder} holds the GC lease this period; nothing done (--force runs anyway)\n`,
            );
            return;
          }
          const report = await collectGarbage({
            storage: adapter,
            maxDeletes: config.gcMaxDeletes,
            deadAfterMs: config.deadAfterMs,
            timing: { maxClockSkewMs: config.maxClockSkewMs, outcomeRetentionMs: config.outcomeRetentionMs },
            onProgress: progressPrinter(process.stderr),
            onDamagedRecord: (versionId) =>
              process.stderr.write(
                `aft gc: the commit record ${versionId} cannot be read (damaged in storage); left where it is\n`,
              ),
          });
          process.stdout.write(formatReport(describeStorageUrl(config.storage), report));
        } finally {
          await adapter.close();
        }
      },
    );
  addInspectCommands(program, STORAGE_URL_HELP);
  return program;
}

function settingOf(option: keyof ShimOptions) {
  return SETTINGS.find((entry) => entry.option === option)!;
}

/** Progress on a terminal: one line rewritten in place; elsewhere, one line per phase. */
function progressPrinter(stream: NodeJS.WriteStream): (progress: GcProgress) => void {
  let lastPhase = '';
  return ({ phase, done, total }) => {
    const line = `aft gc: ${phase} ${done}/${total}`;
    if (stream.isTTY) {
      stream.write(`\r${line.padEnd(60)}${phase === 'done' ? '\n' : ''}`);
    } else if (phase !== lastPhase) {
      stream.write(`${line}\n`);
    }
    lastPhase = phase;
  };
}

function formatReport(storage: string, report: GcReport): string {
  return [
    `aft gc on ${storage}:`,
    `  live nodes              ${report.liveNodes}`,
    `  low-water mark          ${new Date(report.lowWaterMs).toISOString()}`,
    `  commit records          ${report.commitRecords}`,
    `  versions deleted        ${report.versionsDeleted}`,
    `  orphan versions deleted ${report.orphanVersionsDeleted}`,
    `  records deleted         ${report.recordsDeleted}`,
    `  intents settled         ${report.intentsDeleted}`,
    `  intents unreadable      ${report.unreadableIntents}`,
    `  abort markers written   ${report.markersWritten}`,
    `  abort markers deleted   ${report.markersDeleted}`,
    `  idempotency claims gone ${report.claimsDeleted}`,
    `  refusals gone           ${report.refusalsDeleted}`,
    `  left for the next pass  ${report.backlog}`,
    '',
  ].join('\n');
}

/** A failed `aft storage init`: the message names the storage (credentials masked) and the cause. */
class StorageInitError extends TypeError {
  override readonly name = 'StorageInitError';
}

const STORAGE_URL_HELP = `
Storage URLs:
  file:./.aft-data                  embedded file store (default), relative or file:///absolute
  file:./data?fsync=false           no fsync: survives a process crash, not a power loss
  memory:                           in-process; nothing survives
  s3://bucket/prefix?region=us-east-1[&endpoint=http://host:port]
  dynamodb://table-prefix?region=us-east-1[&endpoint=http://host:port]
  redis://host:6379/0[?prefix=aft:]           (rediss:// for TLS)
  redis+cluster://host:7000,host:7001[?prefix=aft:]
  anna://host:6450[,host:6451][?prefix=aft/&response-host=10.0.0.7]   (no serializable transactions)
  Credentials: the standard AWS chain, or key:secret@ (user:password@ for Redis) in the URL.
`;

async function startServing(options: ShimOptions): Promise<void> {
  const config = resolveConfig(options);
  // The server (express, ajv, prom-client) is loaded by `serve` alone.
  const [{ createLogger }, { startShim }] = await Promise.all([import('./logger.js'), import('./start.js')]);
  const { logger, flushBeforeExit } = createLogger(config.logLevel);
  // However the process ends (process.exit included), the lines still buffered go first.
  process.once('exit', flushBeforeExit);
  const shim = await startShim({ ...config, logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // An operator who asks again does not want to wait (a stalled engine can make shutdown
      // take a storage call's deadline per call): what was in flight is left as a crash
      // leaves it, which the protocol recovers from.
      logger.warn({ signal }, 'shutting down now: a second signal');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    shim.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function wholeNumber(raw: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new BadRequestError(`${flag} ${raw}: expected a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

export async function runCli(argv: readonly string[], context: CliContext): Promise<void> {
  try {
    await buildProgram(context).parseAsync([...argv]);
  } catch (error) {
    const message = error instanceof AftError || error instanceof TypeError ? error.message : String(error);
    process.stderr.write(`aft: ${message}\n`);
    process.exit(2);
  }
}
