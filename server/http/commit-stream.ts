/**
 * The receiving end of peers' commit streams (docs/protocol.md, "Pushed records"). A push as
 * its own HTTP request cost the learning node a request's parsing, objects, bearer check and
 * answer per batch per peer; a stream is authenticated once, at its upgrade, and then each
 * batch costs one read and one JSON.parse of a compact line. The rules of what is learned
 * stay those of the push route: the peer credential only, every record checked
 * (shim/pushed-records.ts) before it is learned, storage the truth.
 */
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { CommitRecord } from '../../adapters/contract.js';
import {
  type AftError,
  BadRequestError,
  ErrorCode,
  errorBodyOf,
  HTTP_STATUS_OF_CODE,
  RouteNotFoundError,
  ShuttingDownError,
} from '../../shim/errors.js';
import { formatVersionId } from '../../shim/ids.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { COMMIT_STREAM_PROTOCOL, PATHS } from '../../wire/api.js';

const NEWLINE = 0x0a;
/** Where a version id's txid starts: every version id has the same length of time before it. */
const TXID_OFFSET = formatVersionId({ physicalMs: 0, logical: 0 }, '').length;

/** One batch as a stream line (without its newline). */
export function encodeCommitBatch(records: readonly CommitRecord[]): string {
  return JSON.stringify(
    records.map(({ versionId, writeSet, deleted }) =>
      deleted.length === 0 ? [versionId, writeSet] : [versionId, writeSet, deleted],
    ),
  );
}

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/**
 * The records of a stream line, or undefined when it is not one. Only the shape is checked
 * here; whether each record may be learned is the core's check (refusalOf).
 */
export function decodeCommitBatch(line: string): CommitRecord[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const records: CommitRecord[] = [];
  for (const item of parsed as unknown[]) {
    if (!Array.isArray(item) || item.length < 2 || item.length > 3) return undefined;
    const [versionId, writeSet, deleted = []] = item as unknown[];
    if (typeof versionId !== 'string' || !isStringArray(writeSet) || !isStringArray(deleted))
      return undefined;
    // The txid follows the version id's time and '.'; the core checks the whole id (refusalOf).
    records.push({ versionId, txid: versionId.slice(TXID_OFFSET), writeSet, deleted });
  }
  return records;
}

export interface CommitStreamOptions {
  /** The peer credential's check (server/http/auth.ts), made once per stream. */
  readonly authorize: (authorization: string | undefined) => AftError | undefined;
  /** Learns one batch (ShimNode.learnPushedCommits, which reports each refused record). */
  readonly learn: (records: readonly CommitRecord[]) => unknown;
  /** The longest line taken: past it the stream is closed (as the push route's body limit). */
  readonly maxLineBytes: number;
  /** A stream with no line this long is closed; the peer opens another when it has commits. */
  readonly idleTimeoutMs: number;
  readonly logger: NodeLogger;
  readonly isShuttingDown: () => boolean;
  /**
   * The pace an idle node asks its peers for: at most one batch this often on each stream.
   * A node that serves no transaction learns commits only to be ready for the next one, so
   * it wakes ten times a second rather than a hundred (each wake-up costs more than the
   * records it brings). 0 asks for none. @default 100
   */
  readonly idlePaceMs?: number;
  /** A node that began no transaction for this long is idle. @default 1000 */
  readonly idleAfterMs?: number;
}

export interface CommitStreams {
  /** How many streams are open now. */
  readonly open: number;
  /** This node began a transaction: its peers push at their own pace again. */
  noteServing(): void;
  /** Closes every stream (shutdown). */
  close(): void;
}

/** The line a receiver writes back on a stream to set its sender's pace (ms; 0: none). */
export function encodePace(paceMs: number): string {
  return `${JSON.stringify({ paceMs })}\n`;
}

/** The pace a receiver's line asks for, or undefined when the line is not one. */
export function decodePace(line: string): number | undefined {
  try {
    const { paceMs } = JSON.parse(line) as { paceMs?: unknown };
    return typeof paceMs === 'number' && Number.isFinite(paceMs) && paceMs >= 0 ? paceMs : undefined;
  } catch {
    return undefined;
  }
}

/** Takes commit streams on `server`'s upgrade requests; other upgrades are refused. */
export function acceptCommitStreams(server: Server, options: CommitStreamOptions): CommitStreams {
  /** Each open stream, and when it last carried bytes (performance.now()). */
  const sockets = new Map<Socket, { lastDataMs: number }>();
  const idlePaceMs = options.idlePaceMs ?? 100;
  const idleAfterMs = options.idleAfterMs ?? 1000;
  let lastServedMs = performance.now();
  // Whether the peers were asked for the idle pace (each stream hears it once, and again
  // when it changes).
  let paced = false;
  const tellAll = (paceMs: number) => {
    for (const socket of sockets.keys()) if (socket.writable) socket.write(encodePace(paceMs));
  };
  // Checked as batches arrive: an idle node has nothing else to check it on.
  const onBatch = () => {
    if (paced || idlePaceMs <= 0 || performance.now() - lastServedMs < idleAfterMs) return;
    paced = true;
    tellAll(idlePaceMs);
  };
  // A stream with nothing for idleTimeoutMs is closed by one sweep of them all, not by a
  // timer of its socket's own: Node re-arms a socket's timer on every read, which cost a node
  // learning its peers' commits a twentieth of its CPU. Closed between 1 and 1.25 times the
  // idle time; no sweep runs while no stream is open.
  let sweep: NodeJS.Timeout | undefined;
  const sweepIdle = () => {
    const now = performance.now();
    for (const [socket, stream] of sockets) {
      if (now - stream.lastDataMs >= options.idleTimeoutMs) socket.destroy();
    }
  };
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = refusalOf(req, options);
    if (refusal) {
      refuse(socket, refusal);
      return;
    }
    const stream = { lastDataMs: performance.now() };
    sockets.set(socket, stream);
    sweep ??= setInterval(sweepIdle, Math.max(10, options.idleTimeoutMs / 4)).unref();
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) {
        clearInterval(sweep);
        sweep = undefined;
      }
    });
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${COMMIT_STREAM_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n${paced ? encodePace(idlePaceMs) : ''}`,
    );
    readLines(socket, head, options, stream, onBatch);
  });
  return {
    get open() {
      return sockets.size;
    },
    noteServing() {
      lastServedMs = performance.now();
      if (!paced) return;
      paced = false;
      tellAll(0);
    },
    close() {
      for (const socket of sockets.keys()) socket.destroy();
    },
  };
}

function refusalOf(req: IncomingMessage, options: CommitStreamOptions): AftError | undefined {
  const path = req.url?.split('?')[0];
  if (path !== PATHS.commitStream) {
    return new RouteNotFoundError(`${req.method ?? 'GET'} (upgrade)`, path ?? '/');
  }
  if (req.headers.upgrade?.toLowerCase() !== COMMIT_STREAM_PROTOCOL) {
    return new BadRequestError(`${path} upgrades only to ${COMMIT_STREAM_PROTOCOL}`);
  }
  if (options.isShuttingDown()) return new ShuttingDownError();
  return options.authorize(req.headers.authorization);
}

/** An HTTP answer on a socket no ServerResponse owns, then the end of it. */
function refuse(socket: Socket, error: AftError): void {
  const status = HTTP_STATUS_OF_CODE[error.code];
  const body = JSON.stringify(errorBodyOf(error));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      (error.code === ErrorCode.UNAUTHORIZED ? 'WWW-Authenticate: Bearer\r\n' : '') +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Learns each line of `socket` as it completes; a line too long or not a batch ends it. */
function readLines(
  socket: Socket,
  head: Buffer,
  options: CommitStreamOptions,
  stream: { lastDataMs: number },
  onBatch: () => void,
): void {
  const { logger } = options;
  let partial: Buffer[] = [];
  let partialBytes = 0;
  const close = (why: string) => {
    logger.warn({ why }, 'closing a peer commit stream');
    socket.destroy();
  };
  const onLine = (line: string) => {
    const records = decodeCommitBatch(line);
    if (!records) return close('a line is not a batch of commit records');
    onBatch();
    // Called from a socket's data event: an exception here would end the process.
    try {
      options.learn(records);
    } catch (error) {
      logger.error({ err: error }, 'learning a streamed batch failed');
      close('learning a batch failed');
    }
  };
  const onData = (chunk: Buffer) => {
    stream.lastDataMs = performance.now();
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      if (partialBytes + end - start > options.maxLineBytes) return close('a line is over the limit');
      if (partialBytes === 0) onLine(chunk.toString('utf8', start, end));
      else {
        partial.push(chunk.subarray(start, end));
        onLine(Buffer.concat(partial).toString('utf8'));
        partial = [];
        partialBytes = 0;
      }
      if (socket.destroyed) return;
      start = end + 1;
    }
    if (start < chunk.length) {
      partialBytes += chunk.length - start;
      if (partialBytes > options.maxLineBytes) return close('a line is over the limit');
      partial.push(chunk.subarray(start));
    }
  };
  // No timer of the socket's own (the server's request timeout, say): the sweep closes it.
  socket.setTimeout(0);
  socket.on('data', onData);
  if (head.length > 0) onData(head);
}
