/**
 * The `aft` command. Flags are derived from the SETTINGS table, so every option has a flag,
 * an AFT_* variable and a line in --help. A flag wins over its variable.
 */
import { Command, Option } from 'commander';
import { parseSetting, resolveConfig, SETTINGS, type ShimOptions } from './config.js';
import { AftError } from './errors.js';
import { startShim } from './http/server.js';
import { createLogger } from './logger.js';

export function buildProgram(version: string): Command {
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
    .addHelpText(
      'after',
      '\nStorage URLs:\n  file:./.aft-data          embedded file store (default), relative or file:///absolute\n  file:./data?fsync=false   no fsync: survives a process crash, not a power loss\n  memory:                   in-process; nothing survives\n',
    );
  const flagged = SETTINGS.map((entry) => {
    const shown = Array.isArray(entry.default) ? entry.default.join(',') || '(none)' : String(entry.default);
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
  return program;
}

async function startServing(options: ShimOptions): Promise<void> {
  const config = resolveConfig(options);
  const logger = createLogger(config.logLevel);
  const shim = await startShim({ ...config, logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
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

export async function runCli(argv: readonly string[], version: string): Promise<void> {
  try {
    await buildProgram(version).parseAsync([...argv]);
  } catch (error) {
    const message = error instanceof AftError || error instanceof TypeError ? error.message : String(error);
    process.stderr.write(`aft: ${message}\n`);
    process.exit(2);
  }
}
