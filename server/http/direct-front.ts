/**
 * The server's request listener: the transaction routes and the push route of peers
 * (./transaction-routes.ts) straight from `node:http`, everything else through the express
 * app. Express spent about three quarters of a transaction's CPU in the node (routing, its
 * request and response helpers, body-parser); this front matches the few hot paths by hand,
 * reads the body once and writes each answer in one call. What it does not handle exactly as express would (another
 * node's transaction, an encoded body, a path that is not quite a route) it hands to express,
 * which serves the same route table with the same validation and error mapping.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { AftError, BadRequestError, ErrorCode } from '../../shim/errors.js';
import { ownerOfTxid } from '../../shim/ids.js';
import type { ShimNode } from '../../shim/node.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { PATHS } from '../../wire/api.js';
import type { AccessLog } from './access-log.js';
import { type AcceptedTokens, bearerCheck } from './auth.js';
import { reportError, writeError } from './errors.js';
import { FORWARDED_HEADER } from './forwarding.js';
import type { PrometheusMetrics } from './metrics.js';
import {
  closeSignalOf,
  PUSH_COMMITS_ROUTE,
  type Route,
  type RouteRequest,
  TRANSACTION_ROUTES,
  writeRouteAnswer,
} from './transaction-routes.js';

export interface DirectFrontOptions {
  readonly node: ShimNode;
  readonly metrics: PrometheusMetrics;
  /** Serves every request the front does not: the REST API's express app. */
  readonly app: RequestListener;
  /** Client bearer tokens; empty turns client auth off (as for the app). */
  readonly tokens: readonly AcceptedTokens[];
  /** The peer credential (a function while it loads), which the peer route always takes. */
  readonly peerTokens: AcceptedTokens;
  /** Body limits, as the app's parsers have them. */
  readonly maxJsonBytes: number;
  readonly maxValueBytes: number;
  readonly logger: NodeLogger;
  readonly isShuttingDown: () => boolean;
  /** One line per request it answers (server/http/access-log.ts); none when undefined. */
  readonly accessLog?: AccessLog | undefined;
}

const TRANSACTION_PREFIX = `${PATHS.transactions}/`;
const KEYS_SEGMENT = 'keys/';

interface Matched {
  readonly route: Route;
  readonly txid: string;
  readonly key: string;
}

export function directFront(options: DirectFrontOptions): RequestListener {
  const { node, metrics, app, logger } = options;
  const authorizeClient = options.tokens.length > 0 ? bearerCheck(...options.tokens) : undefined;
  const authorizePeer = bearerCheck(options.peerTokens);

  const serve = async (req: IncomingMessage, res: ServerResponse, matched: Matched): Promise<void> => {
    const { route } = matched;
    const started = performance.now();
    // A request refused by auth never reached its route (express counts it so too).
    let routeLabel = 'unmatched';
    res.once('finish', () => {
      const ms = performance.now() - started;
      metrics.httpSeconds.observe(
        { method: route.method, route: routeLabel, status: String(res.statusCode) },
        ms / 1000,
      );
      options.accessLog?.({
        method: route.method,
        route: routeLabel,
        status: res.statusCode,
        txid: matched.txid,
        ms,
      });
    });
    if (options.isShuttingDown()) res.setHeader('Connection', 'close');
    try {
      const refusal = (route.credential === 'peer' ? authorizePeer : authorizeClient)?.(
        req.headers.authorization,
      );
      if (refusal) throw refusal;
      routeLabel = route.pattern;
      const body =
        route.body === 'none'
          ? undefined
          : route.body === 'bytes'
            ? await readBody(req, options.maxValueBytes)
            : await readJson(req, options.maxJsonBytes);
      const request: RouteRequest = {
        txid: matched.txid,
        key: matched.key,
        body,
        signal: closeSignalOf(res),
      };
      writeRouteAnswer(res, await route.handle(node, request));
    } catch (error) {
      const aftError = reportError(error, logger, req.method);
      if (res.headersSent) res.destroy();
      else writeError(res, aftError);
    }
  };

  return (req, res) => {
    const matched = matchTransactionRoute(req, node.nodeId);
    if (matched === undefined) app(req, res);
    else void serve(req, res, matched);
  };
}

/**
 * The transaction route `req` asks for, when this front serves it exactly as express would;
 * undefined hands the request to express.
 */
function matchTransactionRoute(req: IncomingMessage, nodeId: string): Matched | undefined {
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const method = req.method;
  // body-parser inflates gzip and deflate bodies; express serves those.
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
  if (path === PATHS.transactions) {
    return method === 'POST' ? { route: TRANSACTION_ROUTES.begin, txid: '', key: '' } : undefined;
  }
  if (path === PATHS.pushCommits) {
    return method === 'POST' ? { route: PUSH_COMMITS_ROUTE, txid: '', key: '' } : undefined;
  }
  if (!path.startsWith(TRANSACTION_PREFIX)) return undefined;
  const rest = path.slice(TRANSACTION_PREFIX.length);
  const slash = rest.indexOf('/');
  const txid = decodeSegment(slash < 0 ? rest : rest.slice(0, slash));
  if (txid === undefined || txid === '') return undefined;
  // Another node's transaction goes to the app, which forwards it (./forwarding.ts).
  if (req.headers[FORWARDED_HEADER] === undefined && ownerOfTxid(txid) !== nodeId) return undefined;
  const action = slash < 0 ? '' : rest.slice(slash + 1);
  const route = routeOf(method, action, slash < 0);
  if (route) return { route, txid, key: '' };
  if (action.length > KEYS_SEGMENT.length && action.startsWith(KEYS_SEGMENT)) {
    const keyRoute =
      method === 'GET'
        ? TRANSACTION_ROUTES.getKey
        : method === 'PUT'
          ? TRANSACTION_ROUTES.putKey
          : method === 'DELETE'
            ? TRANSACTION_ROUTES.deleteKey
            : undefined;
    // Express decodes each segment of the key on its own: an encoded `/` is part of a segment.
    const segments = action.slice(KEYS_SEGMENT.length).split('/').map(decodeSegment);
    if (keyRoute === undefined || segments.includes(undefined)) return undefined;
    return { route: keyRoute, txid, key: segments.join('/') };
  }
  return undefined;
}

function routeOf(method: string | undefined, action: string, isTransaction: boolean): Route | undefined {
  if (isTransaction) return method === 'GET' ? TRANSACTION_ROUTES.status : undefined;
  if (method !== 'POST') return undefined;
  switch (action) {
    case 'read':
      return TRANSACTION_ROUTES.read;
    case 'write':
      return TRANSACTION_ROUTES.write;
    case 'commit':
      return TRANSACTION_ROUTES.commit;
    case 'abort':
      return TRANSACTION_ROUTES.abort;
    default:
      return undefined;
  }
}

function decodeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The body, whole, refused past `limit` bytes (before reading, when Content-Length says so). */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const tooLarge = (): AftError => new AftError(ErrorCode.TOO_LARGE, 'request body is over the limit');
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        // Refused now; the rest of the body flows on unread, so the connection stays usable.
        req.off('data', onData);
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      resolve(new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength));
    });
    req.once('error', reject);
    req.once('aborted', () => reject(new BadRequestError('the request was aborted')));
  });
}

/**
 * A JSON body as express.json (strict) reads it: only when the request says it is JSON; empty
 * is `{}`; invalid UTF-8 is refused rather than mangled (a mangled key would commit).
 */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type === undefined) return undefined;
  const [mediaType, ...parameters] = type.split(';');
  if (mediaType!.trim().toLowerCase() !== 'application/json') return undefined;
  for (const parameter of parameters) {
    const [name, value] = parameter.split('=');
    const charset = value?.trim().replace(/^"|"$/g, '').toLowerCase();
    if (name?.trim().toLowerCase() === 'charset' && charset !== undefined && !charset.startsWith('utf-')) {
      throw new BadRequestError(`unsupported charset "${charset.toUpperCase()}"`);
    }
  }
  const bytes = await readBody(req, limit);
  if (bytes.length === 0) return {};
  if (!isUtf8(bytes)) throw new BadRequestError('the JSON body is not valid UTF-8');
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  // Strict, as body-parser: a body is an object or an array, refused in its words.
  const first = /^[ \t\n\r]*(.)/s.exec(text)?.[1];
  if (first !== undefined && first !== '{' && first !== '[') throw strictSyntaxError(text, first);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`malformed JSON: ${(error as Error).message}`);
  }
  return parsed;
}

/** body-parser's message for a JSON body that is not an object or an array: the same words. */
function strictSyntaxError(text: string, first: string): BadRequestError {
  const index = text.indexOf(first);
  const partial = `${text.slice(0, index)}${'#'.repeat(text.length - index)}`;
  try {
    JSON.parse(partial);
  } catch (error) {
    const message = (error as Error).message.replace(/#+/g, (run) => text.slice(index, index + run.length));
    return new BadRequestError(`malformed JSON: ${message}`);
  }
  return new BadRequestError('malformed JSON: not an object or an array');
}
