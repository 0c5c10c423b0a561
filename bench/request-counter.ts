/**
 * A TCP proxy that counts the HTTP requests passing through it: put in front of S3 or
 * DynamoDB (their `endpoint=`), it tells how many billed requests the nodes made, whatever
 * each contract call turns into (a DynamoDB listing is several queries).
 */
import { connect, createServer, type Socket } from 'node:net';

/** A request line at the start of a chunk or after a CRLF: one request each. */
const REQUEST_LINE = /(?:^|\r\n)(?:GET|PUT|POST|DELETE|HEAD|PATCH) \S+ HTTP\/1\.1\r\n/g;

export interface RequestCounter {
  /** The same URL with its `endpoint=` pointing at the proxy. */
  readonly storageUrl: string;
  readonly requests: () => number;
  close(): Promise<void>;
}

export async function countRequests(storageUrl: string): Promise<RequestCounter | undefined> {
  const match = /endpoint=([^&]+)/.exec(storageUrl);
  if (!match) return undefined;
  const endpoint = new URL(decodeURIComponent(match[1]!));
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(endpoint.port), endpoint.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      requests += chunk.toString('latin1').match(REQUEST_LINE)?.length ?? 0;
      upstream.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const proxied = `${endpoint.protocol}//127.0.0.1:${port}`;
  return {
    storageUrl: storageUrl.replace(match[0], `endpoint=${encodeURIComponent(proxied)}`),
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
