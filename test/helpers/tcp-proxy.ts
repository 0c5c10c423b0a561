/**
 * Fault injection on the wire: a TCP proxy on a free port of 127.0.0.1 in front of an engine.
 * `stall()` makes the engine look stalled (a paused process, a partition that drops packets):
 * connections stay open, and nothing more goes either way, nor do new connections get through.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port of the proxy. */
  readonly address: string;
  /** From now on nothing passes either way; connections stay open. */
  stall(): void;
  /** Clients' connections open now. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  let stalled = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    clients.add(client);
    client.once('close', () => {
      sockets.delete(client);
      clients.delete(client);
    });
    client.on('error', () => undefined);
    if (stalled) return;
    const upstream = connect(target);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (!stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!stalled) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    stall() {
      stalled = true;
    },
    get openConnections() {
      return clients.size;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
