/** JSON logs (pino); pretty-printed when standard output is a terminal. */
import { type Logger, pino } from 'pino';
import { logDestination } from './log-destination.js';

export interface ProcessLogger {
  readonly logger: Logger;
  /** Writes the lines still buffered, within a bound (./log-destination.ts): call before exiting. */
  flushBeforeExit(): void;
}

/** The logger of an `aft` process, on standard output. */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): ProcessLogger {
  const options = { level, base: { service: 'aft' } };
  if (pretty) {
    const logger = pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
    // A transport's worker is flushed at exit by pino itself (a terminal has no reader to lose).
    return { logger, flushBeforeExit: () => undefined };
  }
  const destination = logDestination({
    onStopped: (error) => {
      // The logs cannot say it: standard error may still reach someone.
      if (error.code !== 'EPIPE') process.stderr.write(`aft: logging stopped: ${error.message}\n`);
    },
  });
  return { logger: pino(options, destination), flushBeforeExit: () => destination.flushBeforeExit() };
}
