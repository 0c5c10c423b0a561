/**
 * A running shim: storage adapter, node and HTTP server wired together, with bootstrap in the
 * background (/readyz answers 503 until it is done) and graceful shutdown.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StorageAdapter } from '../../adapters/contract.js';
import { createAdapterFromUrl, describeStorageUrl } from '../../adapters/url.js';
import { resolveConfig, type ShimConfig, type ShimOptions } from '../config.js';
import { ShimNode } from '../node.js';
import { type NodeLogger, silentLogger } from '../telemetry.js';
import { createApp } from './app.js';
import { PrometheusMetrics } from './metrics.js';

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
}

const BOOTSTRAP_RETRY_MAX_MS = 5000;

export async function startShim(options: StartShimOptions = {}): Promise<RunningShim> {
  const { adapter: givenAdapter, logger = silentLogger, env, ...shimOptions } = options;
  const config = resolveConfig(shimOptions, env);
  const adapter = givenAdapter ?? createAdapterFromUrl(config.storage);
  let node: ShimNode | undefined;
  const metrics = new PrometheusMetrics({ openTransactions: () => node?.openTransactions ?? 0 });
  node = new ShimNode({ storage: adapter, limits: config, metrics, logger });
  const shimNode = node;
  let shuttingDown = false;
  const app = createApp({
    node: shimNode,
    metrics,
    tokens: config.tokens,
    logger,
    isShuttingDown: () => shuttingDown,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, () => resolve(listening));
    listening.once('error', reject);
  });
  // Longer than a typical load balancer's idle timeout, so the balancer closes first.
  server.keepAliveTimeout = 65_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, storage: describeStorageUrl(config.storage), nodeId: shimNode.nodeId }, 'listening');

  const bootstrap = new AbortController();
  const ready = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        await shimNode.start(bootstrap.signal);
        return;
      } catch (error) {
        if (bootstrap.signal.aborted) throw error;
        const delay = Math.min(BOOTSTRAP_RETRY_MAX_MS, 100 * 2 ** attempt);
        logger.warn({ err: error, retryInMs: delay }, 'loading metadata from storage failed');
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

  return { url, node: shimNode, server, config, ready, close };
}
