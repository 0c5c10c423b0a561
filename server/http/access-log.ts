/**
 * The access log: one line per request (method, route pattern, status, txid, milliseconds) at
 * the level the operator chooses (`--access-log-level`), from whichever front answered it.
 * Routes are logged as patterns, never with their keys: keys may be personal data.
 */
import type { AccessLogLevel } from '../../shim/config.js';
import type { NodeLogger } from '../../shim/telemetry.js';

export interface AccessEntry {
  readonly method: string;
  /** The matched route's pattern (`/v1/transactions/:txid/commit`), or `unmatched`. */
  readonly route: string;
  readonly status: number;
  /** The transaction the request named, if any. */
  readonly txid?: string | undefined;
  readonly ms: number;
}

export type AccessLog = (entry: AccessEntry) => void;

/** The writer for `level`, or undefined when it is off (the fronts then measure nothing more). */
export function accessLogOf(
  logger: NodeLogger & { trace?: NodeLogger['debug'] },
  level: AccessLogLevel,
): AccessLog | undefined {
  if (level === 'off') return undefined;
  const write =
    level === 'info' ? logger.info : level === 'trace' ? (logger.trace ?? logger.debug) : logger.debug;
  return ({ method, route, status, txid, ms }) => {
    write.call(
      logger,
      { method, route, status, ...(txid && { txid }), ms: Math.round(ms * 100) / 100 },
      'request',
    );
  };
}
