/**
 * The routes of the REST API's hot path, once: the transaction routes and the peer route that
 * takes pushed commits, what each takes and answers, free of any HTTP framework. The express
 * app mounts this table (./app.ts) and the server's direct front (./direct-front.ts)
 * dispatches to it without express; validation (./validation.ts) and error mapping
 * (./errors.ts) are the same whichever way a request came.
 */
import type { ServerResponse } from 'node:http';
import { KeyNotFoundError } from '../../shim/errors.js';
import type { ReadResult, Replay, ShimNode, TransactionInfo, WriteItem } from '../../shim/node.js';
import {
  type BeginAnswer,
  encodeBase64,
  PATHS,
  type ReadAnswer,
  type ReplayAnswer,
  ROUTE_PATTERNS,
  VERSION_HEADER,
  type WireReadItem,
  type WriteRequest,
} from '../../wire/api.js';
import {
  decodeBase64,
  validateBegin,
  validateCommit,
  validatePushCommits,
  validateRead,
  validateWrite,
} from './validation.js';

/** One request to a transaction route, its path already matched and its body read. */
export interface RouteRequest {
  /** The transaction the path names ('' for begin). */
  readonly txid: string;
  /** The key of a `keys/*key` path ('' elsewhere). */
  readonly key: string;
  /** The parsed JSON body (a `json` route), the bytes (a `bytes` route), or undefined. */
  readonly body: unknown;
  /** Aborts when the client goes away before its answer is sent; made on first use. */
  readonly signal: () => AbortSignal;
}

/** What a route answers: a JSON body, raw bytes, or nothing (204). */
export type RouteAnswer =
  | { readonly status: number; readonly json: unknown }
  | { readonly status: number; readonly bytes: Uint8Array; readonly version?: string }
  | { readonly status: 204 };

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The express pattern; also the route label of the HTTP metrics. */
  readonly pattern: string;
  /** How the body is read: JSON (when the request says so), raw bytes, or not at all. */
  readonly body: 'json' | 'bytes' | 'none';
  /** Who may call it: clients (when client auth is on), or only peers (the peer credential). */
  readonly credential: 'client' | 'peer';
  readonly handle: (node: ShimNode, request: RouteRequest) => RouteAnswer | Promise<RouteAnswer>;
}

const NO_CONTENT = { status: 204 } as const;

export const TRANSACTION_ROUTES = {
  begin: {
    method: 'POST',
    pattern: PATHS.transactions,
    body: 'json',
    credential: 'client',
    handle: async (node, request) => {
      const body = validateBegin(request.body ?? {});
      const options = {
        ...(body.timeoutMs !== undefined && { timeoutMs: body.timeoutMs }),
        ...(body.isolation !== undefined && { isolation: body.isolation }),
      };
      const begun: TransactionInfo | Replay =
        body.idempotencyKey === undefined
          ? node.begin(options)
          : await node.beginIdempotent(body.idempotencyKey, { ...options, signal: request.signal() });
      if (isReplay(begun)) {
        const replay: ReplayAnswer = {
          ...begun,
          result: begun.result === null ? null : encodeBase64(begun.result),
        };
        return { status: 200, json: replay };
      }
      if (body.read === undefined) return { status: 201, json: { txid: begun.txid } };
      // Begin and its first read in one request; a read that fails leaves no transaction
      // behind (its client never learned the txid).
      try {
        const items = await node.read(begun.txid, body.read, { signal: request.signal });
        const answer: BeginAnswer = { txid: begun.txid, items: items.map(toWireItem) };
        return { status: 201, json: answer };
      } catch (error) {
        node.abort(begun.txid);
        throw error;
      }
    },
  },
  status: {
    method: 'GET',
    pattern: ROUTE_PATTERNS.transaction,
    body: 'none',
    credential: 'client',
    handle: async (node, { txid }) => ({ status: 200, json: await node.statusOf(txid) }),
  },
  getKey: {
    method: 'GET',
    pattern: ROUTE_PATTERNS.key,
    body: 'none',
    credential: 'client',
    handle: async (node, { txid, key, signal }) => {
      const [item] = await node.read(txid, [key], { signal });
      if (item?.value === undefined) throw new KeyNotFoundError(key);
      return {
        status: 200,
        bytes: item.value,
        ...(item.version !== undefined && { version: item.version }),
      };
    },
  },
  putKey: {
    method: 'PUT',
    pattern: ROUTE_PATTERNS.key,
    body: 'bytes',
    credential: 'client',
    handle: (node, { txid, key, body }) => {
      const value = body instanceof Uint8Array ? body : new Uint8Array();
      node.write(txid, [{ key, value }]);
      return NO_CONTENT;
    },
  },
  deleteKey: {
    method: 'DELETE',
    pattern: ROUTE_PATTERNS.key,
    body: 'none',
    credential: 'client',
    handle: (node, { txid, key }) => {
      node.write(txid, [{ key, value: null }]);
      return NO_CONTENT;
    },
  },
  read: {
    method: 'POST',
    pattern: ROUTE_PATTERNS.read,
    body: 'json',
    credential: 'client',
    handle: async (node, { txid, body, signal }) => {
      // The key limit is the node's (shim/limits.ts), embedded or behind this API alike.
      const { keys } = validateRead(body);
      const items = await node.read(txid, keys, { signal });
      const answer: ReadAnswer = { items: items.map(toWireItem) };
      return { status: 200, json: answer };
    },
  },
  write: {
    method: 'POST',
    pattern: ROUTE_PATTERNS.write,
    body: 'json',
    credential: 'client',
    handle: (node, { txid, body }) => {
      node.write(txid, fromWireItems(validateWrite(body).items));
      return NO_CONTENT;
    },
  },
  commit: {
    method: 'POST',
    pattern: ROUTE_PATTERNS.commit,
    body: 'json',
    credential: 'client',
    handle: async (node, { txid, body }) => {
      const { result, items } = validateCommit(body ?? {});
      const outcome = await node.commit(txid, {
        ...(result !== undefined && { result: result === null ? null : decodeBase64(result, 'result') }),
        ...(items !== undefined && { writes: fromWireItems(items) }),
      });
      return { status: 200, json: outcome };
    },
  },
  abort: {
    method: 'POST',
    pattern: ROUTE_PATTERNS.abort,
    body: 'none',
    credential: 'client',
    handle: (node, { txid }) => ({ status: 200, json: node.abort(txid) }),
  },
} as const satisfies Record<string, Route>;

/** Commit records pushed by a peer right after its commits (docs/protocol.md, "Pushed records"). */
export const PUSH_COMMITS_ROUTE = {
  method: 'POST',
  pattern: PATHS.pushCommits,
  body: 'json',
  credential: 'peer',
  handle: (node, { body }) => ({
    status: 200,
    json: node.learnPushedCommits(validatePushCommits(body).records),
  }),
} as const satisfies Route;

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

/** A batch write may carry a whole transaction's buffer, base64-encoded (4/3 larger). */
export function maxJsonBodyBytes(limits: { readonly maxTransactionBytes: number }): number {
  return Math.ceil((limits.maxTransactionBytes * 4) / 3) + 64 * 1024;
}

/**
 * The `signal` of a request: aborts when the client goes away before its answer is sent, so
 * storage reads stop early. Made on first use (most routes never ask).
 */
export function closeSignalOf(res: ServerResponse): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (!controller) {
      const made = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) made.abort();
      });
      controller = made;
    }
    return controller.signal;
  };
}

/** Writes a route's answer in one call (express's response is a Node response too). */
export function writeRouteAnswer(res: ServerResponse, answer: RouteAnswer): void {
  if ('json' in answer) {
    const body = JSON.stringify(answer.json);
    res.writeHead(answer.status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  } else if ('bytes' in answer) {
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': answer.bytes.byteLength,
    };
    if (answer.version !== undefined) headers[VERSION_HEADER] = answer.version;
    res.writeHead(answer.status, headers);
    res.end(answer.bytes);
  } else {
    res.writeHead(answer.status);
    res.end();
  }
}
