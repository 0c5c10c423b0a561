/**
 * Configuration: explicit options win over AFT_* environment variables, which win over the
 * defaults. SETTINGS is the one table of every option; the CLI's flags, its --help and the
 * README's configuration table are all derived from or checked against it.
 */
import { MAX_KEY_BYTES } from '../adapters/contract.js';
import { DEFAULT_PORT } from '../wire/api.js';
import {
  type AnySetting,
  envNames,
  parsers,
  parseSetting as parseWithEngine,
  resolveSettings,
} from '../wire/settings.js';
import { BadRequestError } from './errors.js';
import { checkTiming, DEFAULT_TIMING } from './timing.js';

export interface ShimConfig {
  readonly port: number;
  readonly host: string;
  readonly storage: string;
  /** Bearer tokens accepted by the REST API; empty turns auth off. */
  readonly tokens: readonly string[];
  /** /metrics needs a token too when auth is on. */
  readonly metricsAuth: boolean;
  /**
   * Bearer tokens of the peer routes (commit pushes); the first is the one this node sends.
   * Empty: the nodes share a random secret they keep in storage (docs/protocol.md).
   */
  readonly peerTokens: readonly string[];
  readonly logLevel: string;
  /** The level of each request's access log line, or off. */
  readonly accessLogLevel: AccessLogLevel;
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxTransactionKeys: number;
  readonly maxTransactionBytes: number;
  readonly maxOpenTransactions: number;
  /** Most superseded transactions the metadata keeps for running ones (shim/local-gc.ts). */
  readonly maxHeldTransactions: number;
  readonly transactionTimeoutMs: number;
  readonly maxTransactionTimeoutMs: number;
  readonly cacheBytes: number;
  /** How long a committed transaction's idempotency key keeps its result and blocks re-runs. */
  readonly idempotencyTtlMs: number;
  /** Largest result a transaction records with its idempotency key. */
  readonly maxResultBytes: number;
  readonly shutdownGraceMs: number;
  /** Most time to receive one request; also how long a connection may go without any traffic. */
  readonly httpRequestTimeoutMs: number;
  /** Most time to receive a request's headers. */
  readonly httpHeadersTimeoutMs: number;
  /** Most open client connections; more are closed as they come. */
  readonly maxConnections: number;
  /** Most bytes of answers held for clients that have not read them (server/http/connection-gate.ts). */
  readonly maxUnsentBytes: number;
  /** The URL peers reach this node at; empty: http://<host>:<port> as listening. */
  readonly advertiseUrl: string;
  /** Peer URLs known in advance, besides the members registered in storage. */
  readonly peers: readonly string[];
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly pullIntervalMs: number;
  /** The longest wait between pulls while nothing happens (shim/idle-backoff.ts). */
  readonly idlePullIntervalMs: number;
  /**
   * The pace a node that began no transaction for a second asks its peers for: at most one
   * batch of pushed commits this often (server/http/commit-stream.ts); 0: none.
   */
  readonly idlePushPaceMs: number;
  /** The most two nodes' clocks may disagree (shim/timing.ts); every node and `aft gc` alike. */
  readonly maxClockSkewMs: number;
  /** How long commit records stay, so a repeated commit is answered from storage. */
  readonly outcomeRetentionMs: number;
  /** Run global garbage collection in this node (one node at a time holds the lease). */
  readonly gc: boolean;
  readonly gcIntervalMs: number;
  readonly gcMaxDeletes: number;
}

export type ShimOptions = Partial<ShimConfig>;

/** A setting of the shim: the engine's (wire/settings.ts), with its `aft serve` flag. */
type ShimSetting = AnySetting<ShimConfig> & { readonly flag: string };

const MiB = 1024 * 1024;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const ACCESS_LOG_LEVELS = ['off', 'trace', 'debug', 'info'] as const;
export type AccessLogLevel = (typeof ACCESS_LOG_LEVELS)[number];

export const SETTINGS: readonly ShimSetting[] = [
  setting(
    'port',
    'AFT_PORT',
    '--port <n>',
    String(DEFAULT_PORT),
    'TCP port of the REST API (0 picks a free one)',
    parsers.integer(0, 65535),
  ),
  setting('host', 'AFT_HOST', '--host <addr>', '127.0.0.1', 'address to listen on', parsers.text),
  setting(
    'storage',
    'AFT_STORAGE',
    '--storage <url>',
    'file:./.aft-data',
    'storage URL (see Storage URLs)',
    parsers.text,
  ),
  setting(
    'tokens',
    'AFT_TOKENS',
    '--tokens <list>',
    '',
    'comma-separated bearer tokens; empty: no auth',
    parsers.list,
  ),
  setting(
    'metricsAuth',
    'AFT_METRICS_AUTH',
    '--metrics-auth <on|off>',
    'on',
    'with auth on, /metrics needs a token too (off: a scraper without one may read it)',
    parsers.onOff,
  ),
  setting(
    'peerTokens',
    'AFT_PEER_TOKENS',
    '--peer-tokens <list>',
    '',
    'comma-separated bearer tokens of the peer routes, never a client token (the first is sent); empty: a secret the nodes share in storage',
    parsers.list,
  ),
  setting(
    'logLevel',
    'AFT_LOG_LEVEL',
    '--log-level <level>',
    'info',
    'trace, debug, info, warn, error or silent',
    parsers.oneOf(LOG_LEVELS),
  ),
  setting(
    'accessLogLevel',
    'AFT_ACCESS_LOG_LEVEL',
    '--access-log-level <level>',
    'off',
    'log each request (method, route, status, txid, ms) at this level: off, trace, debug or info',
    parsers.oneOf(ACCESS_LOG_LEVELS),
  ),
  setting(
    'maxKeyBytes',
    'AFT_MAX_KEY_BYTES',
    '--max-key-bytes <n>',
    String(MAX_KEY_BYTES),
    'longest key in UTF-8 bytes (at most 1024)',
    parsers.integer(1, MAX_KEY_BYTES),
  ),
  setting(
    'maxValueBytes',
    'AFT_MAX_VALUE_BYTES',
    '--max-value-bytes <n>',
    String(4 * MiB),
    'largest value in bytes',
    parsers.integer(0, 512 * MiB),
  ),
  setting(
    'maxTransactionKeys',
    'AFT_MAX_TXN_KEYS',
    '--max-txn-keys <n>',
    '10000',
    'most keys one transaction may write',
    parsers.integer(1, 10_000_000),
  ),
  setting(
    'maxTransactionBytes',
    'AFT_MAX_TXN_BYTES',
    '--max-txn-bytes <n>',
    String(64 * MiB),
    "most bytes (keys and values) in one transaction's write buffer",
    parsers.integer(1, 4096 * MiB),
  ),
  setting(
    'maxOpenTransactions',
    'AFT_MAX_OPEN_TXNS',
    '--max-open-txns <n>',
    '10000',
    'most running transactions per node',
    parsers.integer(1, 10_000_000),
  ),
  setting(
    'maxHeldTransactions',
    'AFT_MAX_HELD_TXNS',
    '--max-held-txns <n>',
    '100000',
    'most superseded transactions a node keeps for its running ones; past it the oldest running transactions are aborted (TXN_LOST, retryable)',
    parsers.integer(1, 100_000_000),
  ),
  setting(
    'transactionTimeoutMs',
    'AFT_TXN_TIMEOUT_MS',
    '--txn-timeout-ms <n>',
    '60000',
    'idle time after which a running transaction is aborted, unless begin asks for another',
    parsers.integer(100, 24 * 3_600_000),
  ),
  setting(
    'maxTransactionTimeoutMs',
    'AFT_MAX_TXN_TIMEOUT_MS',
    '--max-txn-timeout-ms <n>',
    '900000',
    'largest idle timeout a begin may ask for',
    parsers.integer(100, 24 * 3_600_000),
  ),
  setting(
    'cacheBytes',
    'AFT_CACHE_BYTES',
    '--cache-bytes <n>',
    String(256 * MiB),
    'bound of the data cache in bytes (0: no cache)',
    parsers.integer(0, Number.MAX_SAFE_INTEGER),
  ),
  setting(
    'idempotencyTtlMs',
    'AFT_IDEMPOTENCY_TTL_MS',
    '--idempotency-ttl-ms <n>',
    '3600000',
    'how long a committed idempotency key returns its recorded result instead of running again',
    parsers.integer(120_000, 30 * 24 * 3_600_000),
  ),
  setting(
    'maxResultBytes',
    'AFT_MAX_RESULT_BYTES',
    '--max-result-bytes <n>',
    String(256 * 1024),
    'largest result recorded with an idempotency key (it must fit one storage entry)',
    parsers.integer(0, 300 * 1024),
  ),
  setting(
    'shutdownGraceMs',
    'AFT_SHUTDOWN_GRACE_MS',
    '--shutdown-grace-ms <n>',
    '10000',
    'how long SIGTERM waits for in-flight commits',
    parsers.integer(0, 3_600_000),
  ),
  setting(
    'httpRequestTimeoutMs',
    'AFT_HTTP_REQUEST_TIMEOUT_MS',
    '--http-request-timeout-ms <n>',
    '60000',
    'most time to receive one request, and most a connection may go without traffic (a client that does not read its answers)',
    parsers.integer(100, 3_600_000),
  ),
  setting(
    'httpHeadersTimeoutMs',
    'AFT_HTTP_HEADERS_TIMEOUT_MS',
    '--http-headers-timeout-ms <n>',
    '10000',
    "most time to receive a request's headers",
    parsers.integer(100, 3_600_000),
  ),
  setting(
    'maxConnections',
    'AFT_MAX_CONNECTIONS',
    '--max-connections <n>',
    '4096',
    'most open client connections; further ones are closed as they come',
    parsers.integer(1, 1_000_000),
  ),
  setting(
    'maxUnsentBytes',
    'AFT_MAX_UNSENT_BYTES',
    '--max-unsent-bytes <n>',
    String(256 * MiB),
    'most bytes of answers held for clients that have not read them; past it no new request starts until some are read',
    parsers.integer(0, Number.MAX_SAFE_INTEGER),
  ),
  setting(
    'advertiseUrl',
    'AFT_ADVERTISE_URL',
    '--advertise-url <url>',
    '',
    'URL peers use to forward requests to this node (default: http://<host>:<port>)',
    parsers.text,
  ),
  setting(
    'peers',
    'AFT_PEERS',
    '--peers <urls>',
    '',
    'comma-separated URLs of peer nodes known in advance',
    parsers.list,
  ),
  setting(
    'heartbeatMs',
    'AFT_HEARTBEAT_MS',
    '--heartbeat-ms <n>',
    '1000',
    'how often a node heartbeats in storage and reads the member list',
    parsers.integer(50, 600_000),
  ),
  setting(
    'deadAfterMs',
    'AFT_DEAD_AFTER_MS',
    '--dead-after-ms <n>',
    '10000',
    'a node whose heartbeat stops this long is dead; one that cannot heartbeat for half of it stops serving',
    parsers.integer(200, 3_600_000),
  ),
  setting(
    'pullIntervalMs',
    'AFT_PULL_INTERVAL_MS',
    '--pull-interval-ms <n>',
    '1000',
    "how often a node lists new commit records (learning dead nodes' last commits)",
    parsers.integer(10, 600_000),
  ),
  setting(
    'idlePullIntervalMs',
    'AFT_IDLE_PULL_INTERVAL_MS',
    '--idle-pull-interval-ms <n>',
    '30000',
    'the longest wait between pulls while nothing happens: an idle node doubles its wait up to this (at or under the pull interval: no backing off)',
    parsers.integer(10, 600_000),
  ),
  setting(
    'idlePushPaceMs',
    'AFT_IDLE_PUSH_PACE_MS',
    '--idle-push-pace-ms <n>',
    '100',
    'a node that began no transaction for a second asks its peers to push it commits at most this often (each batch wakes it); back at their pace at its next begin; 0: never',
    parsers.integer(0, 1000),
  ),
  setting(
    'maxClockSkewMs',
    'AFT_MAX_CLOCK_SKEW_MS',
    '--max-clock-skew-ms <n>',
    '5000',
    "most two nodes' clocks may disagree; a node further off from most of its peers stops serving",
    parsers.integer(10, 600_000),
  ),
  setting(
    'outcomeRetentionMs',
    'AFT_OUTCOME_RETENTION_MS',
    '--outcome-retention-ms <n>',
    '900000',
    'how long commit records stay, so a repeated commit any node forgot is still answered committed',
    parsers.integer(60_000, 30 * 24 * 3_600_000),
  ),
  setting('gc', 'AFT_GC', '--gc <on|off>', 'on', 'take part in global garbage collection', parsers.onOff),
  setting(
    'gcIntervalMs',
    'AFT_GC_INTERVAL_MS',
    '--gc-interval-ms <n>',
    '10000',
    'how often the node holding the GC lease runs a pass',
    parsers.integer(100, 24 * 3_600_000),
  ),
  setting(
    'gcMaxDeletes',
    'AFT_GC_MAX_DELETES',
    '--gc-max-deletes <n>',
    '10000',
    'most versions one GC pass deletes (passes repeat while behind)',
    parsers.integer(1, 10_000_000),
  ),
];

/** The variable of each setting, from the table: the one place a name is written. */
export const SETTING_ENV = envNames<ShimConfig>(SETTINGS);

/** Resolves the configuration: explicit options, then AFT_* variables, then defaults. */
export function resolveConfig(options: ShimOptions = {}, env: NodeJS.ProcessEnv = process.env): ShimConfig {
  const config = resolveSettings(SETTINGS, options, env, (message) => new ConfigError(message));
  if (config.heartbeatMs * 2 >= config.deadAfterMs) {
    // A node fences itself after half the dead-after time without a heartbeat: one late
    // heartbeat must not be enough to fence it.
    throw new ConfigError(
      `heartbeatMs (${config.heartbeatMs}) must be under half of deadAfterMs (${config.deadAfterMs})`,
    );
  }
  // The node's time bounds must fit together (shim/timing.ts): say which setting is off, here,
  // rather than fail inside the node with a RangeError.
  try {
    checkTiming({
      ...DEFAULT_TIMING,
      maxClockSkewMs: config.maxClockSkewMs,
      outcomeRetentionMs: config.outcomeRetentionMs,
    });
  } catch (error) {
    throw new ConfigError(
      `outcomeRetentionMs (${config.outcomeRetentionMs}) and maxClockSkewMs (${config.maxClockSkewMs}) do not fit: ${(error as Error).message}`,
    );
  }
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    throw new ConfigError(
      `httpHeadersTimeoutMs (${config.httpHeadersTimeoutMs}) exceeds httpRequestTimeoutMs (${config.httpRequestTimeoutMs})`,
    );
  }
  const shared = config.peerTokens.find((token) => config.tokens.includes(token));
  if (shared !== undefined) {
    // A client holding a peer token could teach nodes commit records: the point of the
    // separate credential is that clients do not have it.
    throw new ConfigError('peerTokens and tokens share a token: a peer token must not be a client token');
  }
  if (config.transactionTimeoutMs > config.maxTransactionTimeoutMs) {
    throw new ConfigError(
      `transactionTimeoutMs (${config.transactionTimeoutMs}) exceeds maxTransactionTimeoutMs (${config.maxTransactionTimeoutMs})`,
    );
  }
  return config;
}

/** Every setting at its default. */
export const DEFAULT_CONFIG: ShimConfig = resolveConfig({}, {});

/** Parses a raw string for one setting, as the CLI and the environment give it. */
export function parseSetting(entry: ShimSetting, raw: string, source: string): ShimConfig[keyof ShimConfig] {
  return parseWithEngine(entry, raw, source, (message) => new ConfigError(message));
}

export class ConfigError extends BadRequestError {
  override readonly name: string = 'ConfigError';
}

function setting<K extends keyof ShimConfig>(
  option: K,
  env: string,
  flag: string,
  fallback: string,
  description: string,
  parse: (raw: string) => ShimConfig[K],
): ShimSetting {
  return { option, env, flag, default: fallback, description, parse } as ShimSetting;
}
