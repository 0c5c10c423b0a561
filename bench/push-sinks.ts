/**
 * Peers that take a node's commit streams and drop what comes (bench/learning.ts): with them,
 * what pushing to 7 peers costs the pushing node is measured with no learner competing for
 * the machine's CPU. Each answers "who are you" as a node does, so `--peers` finds it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { COMMIT_STREAM_PROTOCOL, PATHS } from '../wire/api.js';

export interface PushSinks {
  readonly urls: readonly string[];
  /** Streams open now, over every sink. */
  readonly streams: () => number;
  /** Stream lines (batches) received so far. */
  readonly batches: () => number;
  close(): Promise<void>;
}

export async function startPushSinks(count: number): Promise<PushSinks> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let batches = 0;
  for (let i = 0; i < count; i += 1) {
    const server = createServer((req, res) => {
      req.resume();
      const body = req.url === PATHS.node ? { nodeId: `sink${i}`, ready: true } : { learned: 0, refused: 0 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    server.on('upgrade', (_req, socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => {
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) batches += 1;
      });
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${COMMIT_STREAM_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  return {
    urls: servers.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    streams: () => sockets.size,
    batches: () => batches,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}
