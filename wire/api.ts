/**
 * The REST API as both sides see it (docs/architecture.md, "wire"): its routes, the bodies of
 * its requests and answers, and base64 as the API spells it. The HTTP front serves these, the
 * client and the Lambda layer send them; neither side names a route or a body field alone.
 */

/** Port of the REST API when none is set. */
export const DEFAULT_PORT = 7070;

/** Paths that take no transaction. */
export const PATHS = {
  transactions: '/v1/transactions',
  node: '/v1/node',
  pushCommits: '/v1/internal/commits',
  /** A peer's persistent commit stream (an HTTP upgrade to COMMIT_STREAM_PROTOCOL). */
  commitStream: '/v1/internal/commit-stream',
  /** Peer routes (the peer credential): everything under this prefix. */
  internal: '/v1/internal',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
  openApi: '/v1/openapi.json',
} as const;

/**
 * The protocol a commit stream upgrades to: after `101 Switching Protocols`, the pushing node
 * writes one line per batch, a JSON array of `[versionId, writeSet, deleted?]` (the txid is
 * the version id's suffix), and the other side writes nothing.
 */
export const COMMIT_STREAM_PROTOCOL = 'aft-commits/1';

/** What may follow a transaction's path: its actions. */
export type TransactionAction = 'read' | 'write' | 'commit' | 'abort';

/** Paths of one transaction, for a client (every segment percent-encoded). */
export const transactionPaths = {
  of: (txid: string): string => `${PATHS.transactions}/${encodeURIComponent(txid)}`,
  action: (txid: string, action: TransactionAction): string =>
    `${PATHS.transactions}/${encodeURIComponent(txid)}/${action}`,
  key: (txid: string, key: string): string =>
    `${PATHS.transactions}/${encodeURIComponent(txid)}/keys/${encodeURIComponent(key)}`,
};

/** The same routes as patterns of the HTTP front (express 5 syntax). */
export const ROUTE_PATTERNS = {
  transaction: `${PATHS.transactions}/:txid`,
  keys: `${PATHS.transactions}/:txid/keys/`,
  key: `${PATHS.transactions}/:txid/keys/*key`,
  read: `${PATHS.transactions}/:txid/read`,
  write: `${PATHS.transactions}/:txid/write`,
  commit: `${PATHS.transactions}/:txid/commit`,
  abort: `${PATHS.transactions}/:txid/abort`,
} as const;

/**
 * A key a client may not put in a path: URL normalization turns `.` and `..` into path steps,
 * so such keys go through the JSON routes.
 */
export function isPathSafeKey(key: string): boolean {
  return key !== '.' && key !== '..';
}

/** The response header that carries the committed version a single-key read returned. */
export const VERSION_HEADER = 'Aft-Version';

export type TransactionState = 'running' | 'committed' | 'aborted';

/**
 * How a transaction is isolated (docs/protocol.md, "Serializable transactions"): read atomic
 * by default; serializable on request, where a commit validates what it read.
 */
export const Isolation = {
  READ_ATOMIC: 'read-atomic',
  SERIALIZABLE: 'serializable',
} as const;
export type Isolation = (typeof Isolation)[keyof typeof Isolation];

export interface BeginRequest {
  /** Idle timeout of this transaction on the node. */
  readonly timeoutMs?: number;
  /** @default 'read-atomic' */
  readonly isolation?: Isolation;
  /** The transaction commits only if no other one with this key did. */
  readonly idempotencyKey?: string;
  /** Keys to read at once, as a batch read would: the answer carries them as `items`. */
  readonly read?: readonly string[];
}

export interface BeginAnswer {
  readonly txid: string;
  /** The keys the begin was asked to read, as a batch read answers them. */
  readonly items?: readonly WireReadItem[];
}

/** What an idempotent begin answers when its key already committed (status 200). */
export interface ReplayAnswer {
  readonly replayed: true;
  readonly txid: string;
  readonly status: 'committed';
  readonly version: string | null;
  /** The recorded result, base64, or null for none. */
  readonly result: string | null;
}

export interface ReadRequest {
  readonly keys: readonly string[];
}

/** One key of a batch read: the value in base64 (null: nothing visible) and the version read. */
export interface WireReadItem {
  readonly key: string;
  readonly value: string | null;
  /** The committed version read; null for nothing visible or a value of the transaction's own writes. */
  readonly version: string | null;
}

export interface ReadAnswer {
  readonly items: readonly WireReadItem[];
}

export interface WriteRequest {
  /** Each key's new value in base64, or null to delete it. */
  readonly items: readonly { readonly key: string; readonly value: string | null }[];
}

export interface CommitRequest {
  /** The function's result, base64 (null: none), recorded with an idempotency key. */
  readonly result?: string | null;
  /** Writes to buffer first, as a batch write takes them: they commit with the transaction. */
  readonly items?: WriteRequest['items'];
}

/** A committed transaction, as commit answers it. */
export interface CommitOutcome {
  readonly txid: string;
  readonly status: 'committed';
  /** The version id of the transaction's writes; null for a read-only transaction. */
  readonly version: string | null;
}

export interface StatusAnswer {
  readonly txid: string;
  readonly status: TransactionState;
}

/** What a node answers a peer's push: how many records were new, and how many it refused. */
export interface PushCommitsAnswer {
  readonly learned: number;
  readonly refused: number;
}

/**
 * One key read by a transaction, as the node and the client hand it to code: the bytes, or
 * undefined when no version is visible (never written, or deleted); the committed version
 * read (a tombstone's when deleted), undefined for nothing or a value of the transaction's
 * own writes.
 */
export interface ReadItem {
  readonly key: string;
  readonly value: Uint8Array | undefined;
  readonly version: string | undefined;
}

/** A committed transaction an idempotent begin found, with the result it recorded. */
export interface ReplayedCommit {
  readonly replayed: true;
  readonly txid: string;
  readonly version: string | null;
  /** The result that commit recorded, or null for none. */
  readonly result: Uint8Array | null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Standard, padded base64 only (Buffer.from alone accepts junk); undefined for anything else. */
export function decodeBase64(value: string): Uint8Array | undefined {
  if (value.length % 4 !== 0 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
