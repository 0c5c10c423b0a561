/**
 * The REST API (routes and bodies: wire/api.ts; the OpenAPI document: ./openapi.ts) on
 * express 5: validation, error bodies, auth, metrics, health. Handlers only translate HTTP to node calls; the protocol lives in the node.
 */
import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError, KeyNotFoundError, NotReadyError, RouteNotFoundError } from '../../shim/errors.js';
import type { ReadResult, Replay, ShimNode, TransactionInfo, WriteItem } from '../../shim/node.js';
import { type NodeLogger, silentLogger } from '../../shim/telemetry.js';
import {
  encodeBase64,
  PATHS,
  type ReadAnswer,
  type ReplayAnswer,
  ROUTE_PATTERNS,
  VERSION_HEADER,
  type WireReadItem,
  type WriteRequest,
} from '../../wire/api.js';
import { type AcceptedTokens, bearerAuth } from './auth.js';
import { errorHandler, sendError } from './errors.js';
import { type ForwardingOptions, forwardToOwner } from './forwarding.js';
import type { PrometheusMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import {
  decodeBase64,
  validateBegin,
  validateCommit,
  validatePushCommits,
  validateRead,
  validateWrite,
} from './validation.js';

export interface AppOptions {
  readonly node: ShimNode;
  readonly metrics: PrometheusMetrics;
  /** Bearer tokens of clients; empty or absent turns client auth off. */
  readonly tokens?: readonly string[];
  /**
   * The peer credential: tokens the routes only nodes call need (a client token never passes
   * there). A function while it is being loaded (undefined: answer NOT_READY). Absent: the
   * peer routes refuse every request.
   */
  readonly peerTokens?: AcceptedTokens;
  /** Whether /metrics needs the token too (when auth is on). @default true */
  readonly metricsAuth?: boolean;
  readonly logger?: NodeLogger;
  /** True once graceful shutdown began: responses ask clients to close their connection. */
  readonly isShuttingDown?: () => boolean;
  /** Sends requests for other nodes' transactions to their owners. */
  readonly forwarding?: ForwardingOptions;
  /** What GET /v1/node reports of this node besides its id. */
  readonly describeNode?: () => Record<string, unknown>;
}

export function createApp(options: AppOptions): express.Express {
  const { node, metrics } = options;
  const logger = options.logger ?? silentLogger;
  const limits = node.limits;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // `keys/a/` and `keys/a` are different keys.
  app.set('strict routing', true);

  app.use((req, res, next) => {
    const started = performance.now();
    if (options.isShuttingDown?.()) res.set('Connection', 'close');
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.httpSeconds.observe(
        { method: req.method, route: String(route), status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
      logger.debug({ method: req.method, route, status: res.statusCode }, 'request');
    });
    next();
  });

  app.get(PATHS.health, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(PATHS.ready, (_req, res) => {
    if (node.ready) res.json({ status: 'ready' });
    else sendError(res, new NotReadyError('not ready'));
  });
  app.get(PATHS.openApi, (_req, res) => {
    res.json(openApiDocument);
  });

  const peerTokens = options.peerTokens ?? [];
  // Peer routes take the peer credential, whether or not client auth is on.
  app.use(PATHS.internal, bearerAuth(peerTokens));
  const clientTokens = options.tokens ?? [];
  if (clientTokens.length > 0) {
    const authenticated = bearerAuth(clientTokens);
    app.use(PATHS.transactions, authenticated);
    // Operators (client tokens) and peers probing a static peer both ask a node who it is.
    app.use(PATHS.node, bearerAuth(clientTokens, peerTokens));
    if (options.metricsAuth !== false) app.use(PATHS.metrics, authenticated);
  }
  // Before any body parser: the request goes on to its owner untouched.
  if (options.forwarding) app.use(forwardToOwner(options.forwarding));

  app.get(PATHS.metrics, async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // A batch write may carry a whole transaction's buffer, base64-encoded (4/3 larger).
  const jsonBody = express.json({
    limit: Math.ceil((limits.maxTransactionBytes * 4) / 3) + 64 * 1024,
    strict: true,
    // body-parser decodes invalid UTF-8 to U+FFFD, and a mangled key would commit.
    verify: (_req, _res, bytes) => {
      if (!isUtf8(bytes)) throw new BadRequestError('the JSON body is not valid UTF-8');
    },
  });
  const rawBody = express.raw({ type: () => true, limit: limits.maxValueBytes });

  app.get(PATHS.node, (_req, res) => {
    res.json({ nodeId: node.nodeId, ready: node.ready, ...options.describeNode?.() });
  });

  // Commit records pushed by a peer right after its commits.
  app.post(PATHS.pushCommits, jsonBody, (req, res) => {
    res.json(node.learnPushedCommits(validatePushCommits(req.body).records));
  });

  app.post(PATHS.transactions, jsonBody, async (req, res) => {
    const body = validateBegin(req.body ?? {});
    const options = body.timeoutMs === undefined ? {} : { timeoutMs: body.timeoutMs };
    const signal = closeSignal(res);
    const begun: TransactionInfo | Replay =
      body.idempotencyKey === undefined
        ? node.begin(options)
        : await node.beginIdempotent(body.idempotencyKey, { ...options, signal });
    if (!isReplay(begun)) {
      if (body.read === undefined) {
        res.status(201).json({ txid: begun.txid });
        return;
      }
      // Begin and its first read in one request; a read that fails leaves no transaction
      // behind (its client never learned the txid).
      try {
        const items = await node.read(begun.txid, body.read, { signal });
        res.status(201).json({ txid: begun.txid, items: items.map(toWireItem) });
      } catch (error) {
        node.abort(begun.txid);
        throw error;
      }
      return;
    }
    const replay: ReplayAnswer = {
      ...begun,
      result: begun.result === null ? null : encodeBase64(begun.result),
    };
    res.status(200).json(replay);
  });

  app.get(ROUTE_PATTERNS.transaction, async (req, res) => {
    res.json(await node.statusOf(req.params.txid));
  });

  app.all(ROUTE_PATTERNS.keys, () => {
    throw new BadRequestError('a key must be a non-empty string');
  });

  app.get(ROUTE_PATTERNS.key, async (req, res) => {
    const key = keyParam(req);
    const [item] = await node.read(req.params.txid!, [key], { signal: closeSignal(res) });
    if (item?.value === undefined) throw new KeyNotFoundError(key);
    if (item.version !== undefined) res.set(VERSION_HEADER, item.version);
    res
      .type('application/octet-stream')
      .send(Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength));
  });

  app.put(ROUTE_PATTERNS.key, rawBody, (req, res) => {
    const body: unknown = req.body;
    const value = Buffer.isBuffer(body)
      ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
      : new Uint8Array();
    node.write(req.params.txid!, [{ key: keyParam(req), value }]);
    res.status(204).end();
  });

  app.delete(ROUTE_PATTERNS.key, (req, res) => {
    node.write(req.params.txid!, [{ key: keyParam(req), value: null }]);
    res.status(204).end();
  });

  app.post(ROUTE_PATTERNS.read, jsonBody, async (req, res) => {
    // The key limit is the node's (shim/limits.ts), embedded or behind this API alike.
    const { keys } = validateRead(req.body);
    const items = await node.read(req.params.txid!, keys, { signal: closeSignal(res) });
    const answer: ReadAnswer = { items: items.map(toWireItem) };
    res.json(answer);
  });

  app.post(ROUTE_PATTERNS.write, jsonBody, (req, res) => {
    node.write(req.params.txid!, fromWireItems(validateWrite(req.body).items));
    res.status(204).end();
  });

  app.post(ROUTE_PATTERNS.commit, jsonBody, async (req, res) => {
    const { result, items } = validateCommit(req.body ?? {});
    res.json(
      await node.commit(req.params.txid!, {
        ...(result !== undefined && { result: result === null ? null : decodeBase64(result, 'result') }),
        ...(items !== undefined && { writes: fromWireItems(items) }),
      }),
    );
  });

  app.post(ROUTE_PATTERNS.abort, (req, res) => {
    res.json(node.abort(req.params.txid!));
  });

  app.use((req: Request, res: Response, _next: NextFunction) => {
    sendError(res, new RouteNotFoundError(req.method, req.path));
  });
  app.use(errorHandler(logger));
  return app;
}

function isReplay(begun: TransactionInfo | Replay): begun is Replay {
  return 'replayed' in begun;
}

/** One key read, as the REST API answers it. */
function toWireItem({ key, value, version }: ReadResult): WireReadItem {
  return {
    key,
    value: value === undefined ? null : encodeBase64(value),
    // A deleted key has no visible version: the tombstone stays internal.
    version: value === undefined ? null : (version ?? null),
  };
}

/** Writes as the REST API takes them; a value that is not base64 refuses them all. */
function fromWireItems(items: WriteRequest['items']): WriteItem[] {
  return items.map(({ key, value }, index) => ({
    key,
    value: value === null ? null : decodeBase64(value, `items[${index}].value`),
  }));
}

/** The key of a `keys/*key` route: express decodes each segment; an unencoded `/` is literal. */
function keyParam(req: Request): string {
  const segments = (req.params as { key?: string[] | string }).key;
  return Array.isArray(segments) ? segments.join('/') : (segments ?? '');
}

/** Aborts when the client goes away before the response is sent, so storage reads stop early. */
function closeSignal(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
