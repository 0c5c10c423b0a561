/**
 * The sending end of commit streams (./commit-stream.ts): one upgraded connection per peer,
 * opened on the first batch for it, closed after a while without one. Until a stream is open
 * (or where a peer does not take streams: an older node, a user's own express mount) the
 * caller pushes the batch as a request, as before; nothing waits for a stream.
 *
 * A peer that stops reading (paused, overloaded) must not make this node buffer without
 * bound: past `maxBacklogBytes` unsent on its stream, batches for it are dropped. A dropped
 * batch costs only latency: the peer learns those commits from storage on its next pull.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { NodeLogger } from '../../shim/telemetry.js';
import { COMMIT_STREAM_PROTOCOL, PATHS } from '../../wire/api.js';
import { decodePace } from './commit-stream.js';

export interface PeerStreamsOptions {
  /** The peer credential; undefined while it is not known yet (no stream is opened then). */
  readonly token: () => string | undefined;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
  /** A stream with no batch this long is closed. @default 30000 */
  readonly idleTimeoutMs?: number;
  /** Unsent bytes on a stream past which its batches are dropped. @default 1 MiB */
  readonly maxBacklogBytes?: number;
  /** After a failed connection (or a 5xx), how long batches go as requests before trying again. @default 1000 */
  readonly retryAfterMs?: number;
  /** After a refusal (a 4xx: no streams there, or a credential it does not take). @default 60000 */
  readonly retryAfterRefusalMs?: number;
  readonly now?: () => number;
  readonly logger?: NodeLogger;
  /** A peer asked for a pace on its stream (0: none any more). */
  readonly onPace?: (peerUrl: string, paceMs: number) => void;
}

type StreamState =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'open'; readonly socket: Socket }
  | { readonly kind: 'waiting'; readonly untilMs: number };

/** What `send` did with a batch. */
export type SendOutcome = 'sent' | 'dropped' | 'no-stream';

/** The longest pace a peer may ask for: past it, its batches wait no longer. */
export const MAX_PACE_MS = 1000;
const MAX_PACE_LINE = 256;

export class PeerStreams {
  private readonly streams = new Map<string, StreamState>();
  /** The pace each peer asked for on its open stream. */
  private readonly paces = new Map<string, number>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: PeerStreamsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Peers with a stream open now. */
  get openCount(): number {
    let open = 0;
    for (const state of this.streams.values()) if (state.kind === 'open') open += 1;
    return open;
  }

  /**
   * Writes `line` (one encoded batch) on the stream to `peerUrl`. 'no-stream': none is open
   * yet (one is being opened when allowed), the caller sends the batch another way.
   */
  send(peerUrl: string, line: string): SendOutcome {
    const state = this.streams.get(peerUrl);
    if (state?.kind === 'open') {
      const { socket } = state;
      if (socket.writable) {
        if (socket.writableLength > (this.options.maxBacklogBytes ?? 1024 * 1024)) {
          this.options.logger?.debug(
            { peer: peerUrl },
            'a peer is not reading its commit stream: batch dropped',
          );
          return 'dropped';
        }
        socket.write(`${line}\n`);
        return 'sent';
      }
      this.streams.delete(peerUrl);
    } else if (state?.kind === 'connecting' || (state?.kind === 'waiting' && this.now() < state.untilMs)) {
      return 'no-stream';
    }
    this.connect(peerUrl);
    return 'no-stream';
  }

  /**
   * The least time between two batches `peerUrl` asked for on its stream (an idle peer asks
   * to be woken less often), capped at MAX_PACE_MS; 0 when it asked for none.
   */
  paceOf(peerUrl: string): number {
    return this.paces.get(peerUrl) ?? 0;
  }

  private readPaces(peerUrl: string, socket: Socket): void {
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      // A peer that writes more than pace lines is not one to buffer for.
      if (partial.length > MAX_PACE_LINE) return socket.destroy();
      for (const line of lines) {
        const asked = decodePace(line);
        if (asked === undefined) continue;
        const paceMs = Math.min(asked, MAX_PACE_MS);
        this.paces.set(peerUrl, paceMs);
        this.options.onPace?.(peerUrl, paceMs);
      }
    });
  }

  /** Closes every stream; none is opened after. */
  close(): void {
    this.closed = true;
    for (const state of this.streams.values()) if (state.kind === 'open') state.socket.destroy();
    this.streams.clear();
  }

  private connect(peerUrl: string): void {
    const token = this.options.token();
    if (token === undefined || this.closed) return;
    const connecting: StreamState = { kind: 'connecting' };
    this.streams.set(peerUrl, connecting);
    const request = peerUrl.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(`${peerUrl.replace(/\/$/, '')}${PATHS.commitStream}`, {
      method: 'GET',
      agent: false,
      headers: { connection: 'Upgrade', upgrade: COMMIT_STREAM_PROTOCOL, authorization: `Bearer ${token}` },
    });
    const timer = setTimeout(
      () => req.destroy(new Error('the peer did not take the stream in time')),
      this.options.connectTimeoutMs ?? 2000,
    );
    const wait = (afterMs: number, why: string) => {
      clearTimeout(timer);
      if (this.streams.get(peerUrl) !== connecting) return;
      this.streams.set(peerUrl, { kind: 'waiting', untilMs: this.now() + afterMs });
      this.options.logger?.debug({ peer: peerUrl, why }, 'no commit stream to a peer: pushing by request');
    };
    req.on('upgrade', (_res, socket: Socket) => {
      clearTimeout(timer);
      if (this.closed || this.streams.get(peerUrl) !== connecting) {
        socket.destroy();
        return;
      }
      const open: StreamState = { kind: 'open', socket };
      socket.setNoDelay(true);
      socket.setTimeout(this.options.idleTimeoutMs ?? 30_000, () => socket.destroy());
      socket.on('error', () => socket.destroy());
      socket.once('close', () => {
        if (this.streams.get(peerUrl) === open) this.streams.delete(peerUrl);
        this.paces.delete(peerUrl);
      });
      // The peer writes back only the pace it asks for, a line now and then.
      this.readPaces(peerUrl, socket);
      this.streams.set(peerUrl, open);
    });
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const refused = status >= 400 && status < 500;
      wait(
        refused ? (this.options.retryAfterRefusalMs ?? 60_000) : (this.options.retryAfterMs ?? 1000),
        `it answered ${status}`,
      );
    });
    req.on('error', (error) => wait(this.options.retryAfterMs ?? 1000, error.message));
    req.end();
  }
}
