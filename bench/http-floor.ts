/**
 * The floor of the CPU table: a bare `node:http` server that answers the transaction routes
 * with fixed bodies of the same shape and size as aft's (a txid, four 256-byte values, an
 * outcome), doing no work. What it costs per transaction is what Node's HTTP stack and the
 * kernel's loopback cost on this machine, before any of aft's; run as its own process:
 * `node dist/bench/http-floor.js <port> [spin µs]`. With a spin, each answer first keeps the
 * CPU busy that long: a floor as slow as aft, to show what the machine charges a slower
 * server for the same requests (bench/cpu.ts).
 */
import { createServer } from 'node:http';

const TXID = 'aaaaaaaaaa-mwzhg7jv-1-00000000000000000000000000000000';
const VALUE = Buffer.alloc(256, 120).toString('base64');
const VERSION = `0000000000000000000.${TXID}`;

function answerOf(method: string | undefined, url: string, body: string): [number, string | undefined] {
  if (url === '/v1/transactions') {
    const read = (JSON.parse(body || '{}') as { read?: string[] }).read;
    const items = read?.map((key) => ({ key, value: VALUE, version: VERSION }));
    return [201, JSON.stringify(items ? { txid: TXID, items } : { txid: TXID })];
  }
  if (url.endsWith('/read')) {
    const { keys } = JSON.parse(body) as { keys: string[] };
    return [200, JSON.stringify({ items: keys.map((key) => ({ key, value: VALUE, version: VERSION })) })];
  }
  if (url.endsWith('/commit'))
    return [200, JSON.stringify({ txid: TXID, status: 'committed', version: VERSION })];
  if (method === 'GET') return [200, 'x'.repeat(256)];
  return method === 'POST' || method === 'PUT' || method === 'DELETE' ? [204, undefined] : [404, '{}'];
}

const SPIN_MS = Number(process.argv[3] ?? 0) / 1000;

const server = createServer((req, res) => {
  if (SPIN_MS > 0) {
    const until = performance.now() + SPIN_MS;
    while (performance.now() < until) {
      // Busy, as a server doing work would be.
    }
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const [status, body] = answerOf(req.method, req.url ?? '', Buffer.concat(chunks).toString('utf8'));
    if (body === undefined) {
      res.writeHead(status);
      res.end();
      return;
    }
    res.writeHead(status, {
      'Content-Type': req.method === 'GET' ? 'application/octet-stream' : 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  });
});
server.listen(Number(process.argv[2]), '127.0.0.1');
