/**
 * A running shim: storage adapter, node and HTTP server wired together, with bootstrap in the
 * background (/readyz answers 503 until it is done) and graceful shutdown.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StorageAdapter } from '../adapters/contract.js';
import { describeStorageUrl, openAdapterFromUrl } from '../adapters/url.js';
import { CommitPush } from '../shim/commit-push.js';
import { ConfigError, resolveConfig, type ShimConfig, type ShimOptions } from '../shim/config.js';
import { GuardedStorage, reportDamagedRecord } from '../shim/guarded-storage.js';
import { Membership } from '../shim/membership.js';
import { ShimNode } from '../shim/node.js';
import { sharedPeerSecret } from '../shim/peer-secret.js';
import { StorageState } from '../shim/storage-state.js';
import { type NodeLogger, silentLogger } from '../shim/telemetry.js';
import { DEFAULT_TIMING, type Timing } from '../shim/timing.js';
import { backoffDelay } from '../wire/backoff.js';
import { startGcLoop } from './gc-loop.js';
import { accessLogOf } from './http/access-log.js';
import { createApp } from './http/app.js';
import { bearerCheck } from './http/auth.js';
import { acceptCommitStreams, type CommitStreams } from './http/commit-stream.js';
import { gateConnections } from './http/connection-gate.js';
import { directFront } from './http/direct-front.js';
import { PrometheusMetrics } from './http/metrics.js';
import { httpPeerTransport } from './http/peer-transport.js';
import { maxJsonBodyBytes } from './http/transaction-routes.js';

export interface RunningShim {
  readonly url: string;
  readonly node: ShimNode;
  readonly server: Server;
  readonly config: ShimConfig;
  /** Resolves once the node has loaded its metadata. */
  readonly ready: Promise<void>;
  /** Graceful shutdown: stop accepting, let in-flight commits finish, abort the rest. */
  close(): Promise<void>;
}

export interface StartShimOptions extends ShimOptions {
  /** An adapter to use instead of the one `storage` names. */
  readonly adapter?: StorageAdapter;
  readonly logger?: NodeLogger;
  readonly env?: NodeJS.ProcessEnv;
  /** The protocol's time bounds (shim/timing.ts); tests shorten them. */
  readonly timing?: Partial<Timing>;
  /** How often the node drops superseded transactions from its metadata. @default 2000 */
  readonly localGcIntervalMs?: number;
  /**
   * How requests reach the transaction routes: 'direct' (./http/direct-front.ts, the default)
   * or 'express', every request through the express app, as when a user mounts it.
   */
  readonly httpFront?: 'direct' | 'express';
}

const BOOTSTRAP_RETRY_MAX_MS = 5000;

export async function startShim(options: StartShimOptions = {}): Promise<RunningShim> {
  const {
    adapter: givenAdapter,
    logger = silentLogger,
    env,
    timing,
    localGcIntervalMs,
    httpFront = 'direct',
    ...shimOptions
  } = options;
  const config = resolveConfig(shimOptions, env);
  // A missing engine package stops the start with the npm command that fixes it.
  const adapter = givenAdapter ?? (await openAdapterFromUrl(config.storage));
  const storageState = new StorageState(adapter, {
    description: describeStorageUrl(config.storage),
    logger,
  }).watch();
  let node: ShimNode | undefined;
  let commitStreams: CommitStreams | undefined;
  let push: CommitPush | undefined;
  const metrics = new PrometheusMetrics({
    openTransactions: () => node?.openTransactions ?? 0,
    metadataTransactions: () => node?.stats.transactions ?? 0,
    commitStreams: () => ({ in: commitStreams?.open ?? 0, out: transport.openStreams }),
    commitPushIntervalMs: () => push?.intervalMs() ?? 0,
  });
  // Every storage call of this process through the one door (shim/guarded-storage.ts).
  const storage = GuardedStorage.of(adapter, {
    metrics,
    timeoutMs: { ...DEFAULT_TIMING, ...timing }.storageCallTimeoutMs,
    onDamagedRecord: (versionId) => reportDamagedRecord(logger, versionId),
  });
  let membership: Membership | undefined;
  // The peer credential: the operator's, else the secret the nodes share in storage, read
  // while the node loads. Until then no push goes out and the peer routes answer NOT_READY.
  let peerTokens: readonly string[] | undefined =
    config.peerTokens.length > 0 ? config.peerTokens : undefined;
  const peerToken = (): string | undefined => peerTokens?.[0];
  const transport = httpPeerTransport({
    token: peerToken,
    logger,
    // A peer that lifts its idle pace began a transaction: what waits for it goes at once.
    streams: {
      onPace: (peerUrl, paceMs) => {
        if (paceMs === 0) push?.release(peerUrl);
      },
    },
  });
  push = new CommitPush({
    peers: () => (peerToken() === undefined ? [] : (membership?.livePeerUrls() ?? [])),
    transport,
    logger,
  });
  node = new ShimNode({
    storage,
    limits: config,
    metrics,
    logger,
    timing: {
      pullIntervalMs: config.pullIntervalMs,
      idlePullIntervalMs: config.idlePullIntervalMs,
      maxClockSkewMs: config.maxClockSkewMs,
      outcomeRetentionMs: config.outcomeRetentionMs,
      ...timing,
    },
    ...(localGcIntervalMs !== undefined && { localGcIntervalMs }),
    onCommitted: (record) => push.push(record),
    onActivity: () => {
      membership?.noteActivity();
      gcLoop?.noteActivity();
    },
    onBegin: () => commitStreams?.noteServing(),
    liveness: () => membership?.liveness(),
  });
  const shimNode = node;
  let shuttingDown = false;
  const accessLog = accessLogOf(logger, config.accessLogLevel);
  const app = createApp({
    node: shimNode,
    metrics,
    tokens: config.tokens,
    peerTokens: () => peerTokens,
    metricsAuth: config.metricsAuth,
    logger,
    isShuttingDown: () => shuttingDown,
    forwarding: {
      nodeId: shimNode.nodeId,
      urlOf: (nodeId) => membership?.urlOf(nodeId),
      refreshMembers: () => membership?.listIfStale() ?? Promise.resolve(),
      decidedOutcome: (txid) => shimNode.decidedOutcome(txid),
    },
    describeNode: () => ({
      url: advertised,
      ...shimNode.stats,
      lowWaterMs: shimNode.lowWaterMs,
      members: membership?.members() ?? [],
    }),
    accessLog,
  });

  // The express app behind a server of our own: Node's timeouts as settings, and the
  // connection gate in front (bounded memory whatever clients do).
  const server = createServer(
    {
      requestTimeout: config.httpRequestTimeoutMs,
      headersTimeout: config.httpHeadersTimeoutMs,
      // How often Node looks for requests past those timeouts (its default is 30 s).
      connectionsCheckingInterval: Math.min(
        30_000,
        Math.max(25, Math.floor(config.httpHeadersTimeoutMs / 4)),
      ),
      // Longer than a typical load balancer's idle timeout, so the balancer closes first.
      keepAliveTimeout: 65_000,
    },
    gateConnections(
      httpFront === 'express'
        ? app
        : directFront({
            node: shimNode,
            metrics,
            app,
            tokens: config.tokens.length > 0 ? [config.tokens] : [],
            peerTokens: () => peerTokens,
            maxJsonBytes: maxJsonBodyBytes(config),
            maxValueBytes: config.maxValueBytes,
            logger,
            isShuttingDown: () => shuttingDown,
            accessLog,
          }),
      { maxUnsentBytes: config.maxUnsentBytes },
    ),
  );
  server.maxConnections = config.maxConnections;
  // Peers' commit streams: the push route's credential and limits, checked once per stream.
  commitStreams = acceptCommitStreams(server, {
    authorize: bearerCheck(() => peerTokens),
    learn: (records) => shimNode.learnPushedCommits(records),
    maxLineBytes: maxJsonBodyBytes(config),
    idleTimeoutMs: config.httpRequestTimeoutMs,
    idlePaceMs: config.idlePushPaceMs,
    logger,
    isShuttingDown: () => shuttingDown,
  });
  // A connection with no traffic this long (a client that stopped reading) is closed.
  server.timeout = config.httpRequestTimeoutMs;
  // A listen error (a port in use) rejects here: it must not go on as if listening.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await shimNode.close();
    throw listenError(error, config);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const advertised = config.advertiseUrl || url;
  logger.info(
    // The pid is this process's own (an npx wrapper's differs): what `kill` needs.
    { url, storage: describeStorageUrl(config.storage), nodeId: shimNode.nodeId, pid: process.pid },
    'listening; ready once storage answers and the metadata is loaded',
  );
  membership = new Membership({
    storage,
    nodeId: shimNode.nodeId,
    url: advertised,
    lowWaterMs: () => shimNode.lowWaterMs,
    heartbeatMs: config.heartbeatMs,
    deadAfterMs: config.deadAfterMs,
    peers: config.peers,
    transport,
    onFenced: (reason) => shimNode.fence(reason),
    onUnfenced: () => shimNode.unfence(),
    maxClockSkewMs: shimNode.timing.maxClockSkewMs,
    // An idle node lists the members every 5 heartbeats (at most half the dead-after time).
    idleListingMs: Math.min(config.deadAfterMs / 2, 5 * config.heartbeatMs),
    logger,
    metrics,
  });
  const members = membership;
  const bootstrap = new AbortController();
  const gcLoop = config.gc
    ? startGcLoop({
        intervalMs: config.gcIntervalMs,
        ready: () => shimNode.ready,
        round: {
          storage,
          holder: shimNode.nodeId,
          leaseMs: 3 * config.gcIntervalMs,
          reserveMs: config.gcIntervalMs,
          maxDeletes: config.gcMaxDeletes,
          deadAfterMs: config.deadAfterMs,
          timing: shimNode.timing,
          // Shutdown stops a round between passes and abandons the pass's storage calls.
          signal: bootstrap.signal,
        },
        metrics,
        logger,
      })
    : undefined;

  const ready = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        // Registered first, with a low-water mark of 0, and heartbeating while it loads: no
        // collector deletes what this node may need, however long the load takes.
        await members.register(bootstrap.signal);
        await members.start();
        peerTokens ??= [await sharedPeerSecret(storage, { signal: bootstrap.signal })];
        await shimNode.start(bootstrap.signal);
        await members.refresh();
        storageState.answered();
        logger.info({ url, nodeId: shimNode.nodeId }, 'ready');
        warnOfDurability();
        return;
      } catch (error) {
        if (bootstrap.signal.aborted) throw error;
        const delay = backoffDelay(attempt, 100, BOOTSTRAP_RETRY_MAX_MS);
        // Said once per change of state (StorageState), not with a stack per retry.
        storageState.failed(error);
        logger.debug({ err: error, retryInMs: delay }, 'loading metadata from storage failed');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  })();
  ready.catch(() => undefined);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      shuttingDown = true;
      bootstrap.abort();
      gcLoop?.stop();
      await members.stop();
      transport.close();
      commitStreams?.close();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await shimNode.shutdown(config.shutdownGraceMs);
      // Answers to the last requests are out; whoever still holds a connection is cut off.
      const cutOff = setTimeout(() => server.closeAllConnections(), 1000);
      server.closeIdleConnections();
      await serverClosed;
      clearTimeout(cutOff);
      logger.info({}, 'stopped');
    })();
    return closed;
  };

  /** Names, once, each way the engine as configured may lose acknowledged commits. */
  function warnOfDurability(): void {
    adapter
      .durabilityWarnings?.({ signal: AbortSignal.timeout(shimNode.timing.storageCallTimeoutMs) })
      .then((warnings) => {
        for (const warning of warnings) logger.warn({ storage: describeStorageUrl(config.storage) }, warning);
      })
      .catch((error: unknown) => logger.debug({ err: error }, 'reading the engine configuration failed'));
  }

  return { url, node: shimNode, server, config, ready, close };
}

/** A listen failure an operator can act on: the address in use, or not allowed, named as such. */
function listenError(error: unknown, config: ShimConfig): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return new ConfigError(`--port ${config.port}: ${where} is in use (another process listens there)`, {
      cause: error,
    });
  }
  if (code === 'EACCES') {
    return new ConfigError(`--port ${config.port}: not allowed to listen on ${where}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
