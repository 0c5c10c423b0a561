/**
 * Bounded memory whatever clients do (docs/protocol.md, "Bounded memory"). Node's HTTP server
 * parses every request a client pipelines and runs each at once, buffering the answers the
 * client has not read: 150 clients pipelining 20 reads of a 4 MiB value took 7.8 GB. Here:
 *
 * - one request per connection runs at a time: the next starts once the answer before it has
 *   been handed to the kernel (Node's response 'close'), so a client that does not read its
 *   answers holds one answer in this process, not all of them;
 * - a connection that pipelines more than MAX_PIPELINED requests ahead is closed;
 * - across connections, answers waiting for their clients may hold at most `maxUnsentBytes`;
 *   past it no new request starts anywhere until some are read (or their connections close,
 *   which the socket inactivity timeout forces on clients that never read).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Requests one connection may have waiting behind the one running. */
export const MAX_PIPELINED = 64;
/** How stale the sum of unsent bytes may be when a request starts. */
const SAMPLE_EVERY_MS = 10;

interface ConnectionState {
  running: boolean;
  readonly waiting: Array<() => void>;
}

export function gateConnections(
  handler: RequestListener,
  { maxUnsentBytes }: { readonly maxUnsentBytes: number },
): RequestListener {
  const connections = new Map<Socket, ConnectionState>();
  /** Starts held back until the unsent answers of all connections fall under the bound. */
  const waitingForBudget: Array<() => void> = [];
  let unsentBytes = 0;
  let sampledAtMs = Number.NEGATIVE_INFINITY;
  let retryScheduled = false;

  /** Bytes written to sockets that the kernel has not taken: answers waiting for their readers. */
  const sampleUnsent = (): number => {
    const nowMs = performance.now();
    if (nowMs - sampledAtMs >= SAMPLE_EVERY_MS) {
      sampledAtMs = nowMs;
      unsentBytes = 0;
      for (const socket of connections.keys()) unsentBytes += socket.writableLength;
    }
    return unsentBytes;
  };

  const scheduleRelease = (): void => {
    if (retryScheduled) return;
    retryScheduled = true;
    setTimeout(releaseWaiting, SAMPLE_EVERY_MS * 5).unref();
  };

  const releaseWaiting = (): void => {
    retryScheduled = false;
    while (waitingForBudget.length > 0 && sampleUnsent() <= maxUnsentBytes) waitingForBudget.shift()!();
    if (waitingForBudget.length > 0) scheduleRelease();
  };

  const startWhenBudgetAllows = (socket: Socket, start: () => void): void => {
    if (waitingForBudget.length === 0 && sampleUnsent() <= maxUnsentBytes) {
      start();
      return;
    }
    waitingForBudget.push(() => (socket.destroyed ? undefined : start()));
    scheduleRelease();
  };

  const connectionOf = (socket: Socket): ConnectionState => {
    let state = connections.get(socket);
    if (!state) {
      const created: ConnectionState = { running: false, waiting: [] };
      socket.once('close', () => {
        created.waiting.length = 0;
        connections.delete(socket);
      });
      connections.set(socket, created);
      state = created;
    }
    return state;
  };

  const next = (socket: Socket, state: ConnectionState): void => {
    state.running = false;
    if (socket.destroyed) return;
    const start = state.waiting.shift();
    if (!start) return;
    state.running = true;
    startWhenBudgetAllows(socket, start);
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const state = connectionOf(socket);
    const start = (): void => {
      res.once('close', () => next(socket, state));
      handler(req, res);
    };
    if (state.running) {
      if (state.waiting.length >= MAX_PIPELINED) {
        socket.destroy();
        return;
      }
      state.waiting.push(start);
      return;
    }
    state.running = true;
    startWhenBudgetAllows(socket, start);
  };
}
