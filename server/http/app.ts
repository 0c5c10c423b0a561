/**
 * The REST API (routes and bodies: wire/api.ts; the OpenAPI document: ./openapi.ts) on
 * express 5: validation, error bodies, auth, metrics, health. The transaction routes come from
 * one table (./transaction-routes.ts) that the server's direct front serves too; handlers only
 * translate HTTP to node calls; the protocol lives in the node.
 */
import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BadRequestError, NotReadyError, RouteNotFoundError } from '../../shim/errors.js';
import type { ShimNode } from '../../shim/node.js';
import { type NodeLogger, silentLogger } from '../../shim/telemetry.js';
import { COMMIT_STREAM_PROTOCOL, PATHS, ROUTE_PATTERNS } from '../../wire/api.js';
import type { AccessLog } from './access-log.js';
import { type AcceptedTokens, bearerAuth } from './auth.js';
import { errorHandler, sendError } from './errors.js';
import { type ForwardingOptions, forwardToOwner } from './forwarding.js';
import type { PrometheusMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import {
  closeSignalOf,
  maxJsonBodyBytes,
  PUSH_COMMITS_ROUTE,
  type Route,
  TRANSACTION_ROUTES,
  writeRouteAnswer,
} from './transaction-routes.js';

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
  /** One line per request it answers (server/http/access-log.ts); none when undefined. */
  readonly accessLog?: AccessLog | undefined;
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
      const route = String((req.route as { path?: string } | undefined)?.path ?? 'unmatched');
      const ms = performance.now() - started;
      metrics.httpSeconds.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
      options.accessLog?.({
        method: req.method,
        route,
        status: res.statusCode,
        txid: (req.params as { txid?: string } | undefined)?.txid,
        ms,
      });
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

  const jsonBody = express.json({
    limit: maxJsonBodyBytes(limits),
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

  // The transaction routes, from the one table the direct front serves too.
  const parserOf: Record<'json' | 'bytes', express.RequestHandler> = { json: jsonBody, bytes: rawBody };
  const mount = (route: Route): void => {
    const handler = async (req: Request, res: Response): Promise<void> => {
      const answer = await route.handle(node, {
        txid: (req.params as { txid?: string }).txid ?? '',
        key: keyParam(req),
        body: req.body as unknown,
        signal: closeSignalOf(res),
      });
      writeRouteAnswer(res, answer);
    };
    const method =
      route.method === 'DELETE' ? 'delete' : (route.method.toLowerCase() as 'get' | 'post' | 'put');
    if (route.body === 'none') app[method](route.pattern, handler);
    else app[method](route.pattern, parserOf[route.body], handler);
  };
  // Peer routes have their credential checked above (PATHS.internal).
  mount(PUSH_COMMITS_ROUTE);
  // The commit stream is an upgrade (server/http/commit-stream.ts): a plain request is not one.
  app.get(PATHS.commitStream, () => {
    throw new BadRequestError(`${PATHS.commitStream} takes only an upgrade to ${COMMIT_STREAM_PROTOCOL}`);
  });
  mount(TRANSACTION_ROUTES.begin);
  mount(TRANSACTION_ROUTES.status);
  app.all(ROUTE_PATTERNS.keys, () => {
    throw new BadRequestError('a key must be a non-empty string');
  });
  mount(TRANSACTION_ROUTES.getKey);
  mount(TRANSACTION_ROUTES.putKey);
  mount(TRANSACTION_ROUTES.deleteKey);
  mount(TRANSACTION_ROUTES.read);
  mount(TRANSACTION_ROUTES.write);
  mount(TRANSACTION_ROUTES.commit);
  mount(TRANSACTION_ROUTES.abort);

  app.use((req: Request, res: Response, _next: NextFunction) => {
    sendError(res, new RouteNotFoundError(req.method, req.path));
  });
  app.use(errorHandler(logger));
  return app;
}

/** The key of a `keys/*key` route: express decodes each segment; an unencoded `/` is literal. */
function keyParam(req: Request): string {
  const segments = (req.params as { key?: string[] | string }).key;
  return Array.isArray(segments) ? segments.join('/') : (segments ?? '');
}
