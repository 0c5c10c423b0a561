/**
 * Commit streams (docs/protocol.md, "Pushed records"): a peer pushes its commits on one
 * upgraded connection instead of a request per batch. Only the peer credential opens one;
 * every streamed record passes the push route's checks; a line that is not a batch, or is
 * over the limit, ends the stream; a peer that stops reading never makes the sender buffer
 * without bound; and where a peer takes no streams, batches go as requests.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CommitRecord } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import {
  acceptCommitStreams,
  decodeCommitBatch,
  decodePace,
  encodeCommitBatch,
  encodePace,
} from '../../server/http/commit-stream.js';
import { MAX_PACE_MS, PeerStreams } from '../../server/http/peer-streams.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { formatVersionId, TxidGenerator } from '../../shim/ids.js';
import { silentLogger } from '../../shim/telemetry.js';
import { COMMIT_STREAM_PROTOCOL, PATHS } from '../../wire/api.js';
import { eventually } from '../helpers/eventually.js';
import { httpClient } from '../helpers/http.js';
import { startPushingPair } from '../helpers/pushing-pair.js';

const MINUTE = 60_000;
const peerTxids = new TxidGenerator('streamstre');

function peerRecord(atMs: number, writeSet: string[], deleted: string[] = []): CommitRecord {
  const txid = peerTxids.next();
  return { versionId: formatVersionId({ physicalMs: atMs, logical: 0 }, txid), txid, writeSet, deleted };
}

type Opened = { readonly socket: Socket } | { readonly status: number; readonly body: string };

/** Asks `url` for a commit stream with `headers`: the socket, or the answer that refused it. */
function openStream(
  url: string,
  headers: Record<string, string>,
  path: string = PATHS.commitStream,
): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      agent: false,
      headers: { connection: 'Upgrade', upgrade: COMMIT_STREAM_PROTOCOL, ...headers },
    });
    req.on('upgrade', (_res, socket: Socket) => resolve({ socket }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function socketOf(opened: Opened): Socket {
  if (!('socket' in opened)) throw new Error(`the stream was refused: ${opened.status} ${opened.body}`);
  return opened.socket;
}

describe('the commit stream route', () => {
  let shim: RunningShim;
  beforeEach(async () => {
    shim = await startShim({
      port: 0,
      adapter: new MemoryAdapter(),
      tokens: ['client-token'],
      peerTokens: ['peer-token'],
      pullIntervalMs: 600_000,
      env: {},
    });
    await shim.ready;
  });
  afterEach(() => shim.close());

  it('takes the peer credential only, and only its own protocol on its own path', async () => {
    const refused = async (headers: Record<string, string>, path?: string) => {
      const opened = await openStream(shim.url, headers, path);
      if ('socket' in opened) {
        opened.socket.destroy();
        throw new Error('a stream was opened');
      }
      return {
        status: opened.status,
        code: (JSON.parse(opened.body) as { error: { code: string } }).error.code,
      };
    };
    expect(await refused({})).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(await refused({ authorization: 'Bearer client-token' })).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect(await refused({ authorization: 'Bearer peer-token', upgrade: 'websocket' })).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
    });
    expect(await refused({ authorization: 'Bearer peer-token' }, '/v1/elsewhere')).toEqual({
      status: 404,
      code: 'ROUTE_NOT_FOUND',
    });
    socketOf(await openStream(shim.url, { authorization: 'Bearer peer-token' })).destroy();
    // Asked without an upgrade, the path says what it takes.
    const plain = await httpClient(shim.url, { authorization: 'Bearer peer-token' })(
      'GET',
      PATHS.commitStream,
    );
    expect(plain.status).toBe(400);
  });

  it('learns the records of each line, split anywhere, and refuses what the push route refuses', async () => {
    const socket = socketOf(await openStream(shim.url, { authorization: 'Bearer peer-token' }));
    try {
      const before = shim.node.stats.transactions;
      const line = `${encodeCommitBatch([peerRecord(Date.now(), ['a']), peerRecord(Date.now(), ['b', 'c'], ['c'])])}\n`;
      // One line written in three pieces, then a record from a clock far ahead.
      socket.write(line.slice(0, 7));
      socket.write(line.slice(7, 40));
      socket.write(`${line.slice(40)}${encodeCommitBatch([peerRecord(Date.now() + 10 * MINUTE, ['d'])])}\n`);
      await eventually(
        () => shim.node.stats.transactions,
        (count) => count === before + 2,
      );
      // The far-ahead record is not learned, however long one waits for it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(shim.node.stats.transactions).toBe(before + 2);
      expect(socket.destroyed).toBe(false);
    } finally {
      socket.destroy();
    }
  });

  it('ends a stream whose line is not a batch of records', async () => {
    const socket = socketOf(await openStream(shim.url, { authorization: 'Bearer peer-token' }));
    socket.write('{"records": []}\n');
    await once(socket, 'close');
  });

  it('ends a stream whose line runs past the body limit before its newline', async () => {
    const limited = await startShim({
      port: 0,
      adapter: new MemoryAdapter(),
      peerTokens: ['peer-token'],
      maxTransactionBytes: 1024,
      env: {},
    });
    try {
      await limited.ready;
      const socket = socketOf(await openStream(limited.url, { authorization: 'Bearer peer-token' }));
      socket.on('error', () => undefined);
      const closed = new Promise((resolve) => socket.once('close', resolve));
      // Chunks with no newline: the node stops buffering past its limit (~66 KiB here).
      for (let i = 0; i < 100 && !socket.destroyed; i += 1) socket.write(`["${'x'.repeat(4096)}`);
      await closed;
    } finally {
      await limited.close();
    }
  });

  it("outlives the server's request timeouts while it carries batches, and closes once idle that long", async () => {
    const strict = await startShim({
      port: 0,
      adapter: new MemoryAdapter(),
      peerTokens: ['peer-token'],
      httpRequestTimeoutMs: 600,
      httpHeadersTimeoutMs: 300,
      env: {},
    });
    try {
      await strict.ready;
      const socket = socketOf(await openStream(strict.url, { authorization: 'Bearer peer-token' }));
      socket.on('error', () => undefined);
      // A sender reads what the receiver writes back (the pace it asks for once idle).
      socket.resume();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      for (let i = 0; i < 15; i += 1) {
        socket.write('[]\n');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // 1.5 s: past both timeouts, and the stream still takes batches.
      expect(socket.destroyed).toBe(false);
      const idleFrom = performance.now();
      await closed;
      expect(performance.now() - idleFrom).toBeGreaterThanOrEqual(400);
    } finally {
      await strict.close();
    }
  });

  it('closes a stream on shutdown', async () => {
    const socket = socketOf(await openStream(shim.url, { authorization: 'Bearer peer-token' }));
    const closed = once(socket, 'close');
    await shim.close();
    await closed;
  });
});

describe('a batch the node fails to learn', () => {
  it('ends that stream and nothing else', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const logged: string[] = [];
    const logger = {
      ...silentLogger,
      error: (_fields: object, message?: string) => logged.push(message ?? ''),
    };
    const server = createServer((_req, res) => res.writeHead(404).end());
    const streams = acceptCommitStreams(server, {
      authorize: () => undefined,
      learn: () => {
        throw new Error('the metadata refused it');
      },
      maxLineBytes: 1024,
      idleTimeoutMs: 10_000,
      logger,
      isShuttingDown: () => false,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const socket = socketOf(await openStream(url, {}));
      socket.on('error', () => undefined);
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(`${encodeCommitBatch([peerRecord(Date.now(), ['k'])])}\n`);
      await closed;
      // The server goes on taking streams; the failure was logged, not thrown out of the process.
      socketOf(await openStream(url, {})).destroy();
      expect(logged).toEqual(['learning a streamed batch failed']);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      streams.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('nodes push on commit streams', () => {
  it('after the first batch, a peer learns commits on its stream, not by requests', async () => {
    const { a, b, close } = await startPushingPair();
    try {
      const callA = httpClient(a.url);
      const commit = async (key: string) => {
        const txid = ((await callA('POST', '/v1/transactions')).json as { txid: string }).txid;
        await callA('POST', `/v1/transactions/${txid}/commit`, {
          json: { items: [{ key, value: Buffer.from(key).toString('base64') }] },
        });
      };
      const pushRequests = async () => {
        const text = Buffer.from((await httpClient(b.url)('GET', '/metrics')).bytes).toString('utf8');
        return text
          .split('\n')
          .filter(
            (row) =>
              row.startsWith('aft_http_request_duration_seconds_count') && row.includes(PATHS.pushCommits),
          )
          .reduce((sum, row) => sum + Number(row.split(' ').pop()), 0);
      };
      const streamsOf = async (url: string) => {
        const text = Buffer.from((await httpClient(url)('GET', '/metrics')).bytes).toString('utf8');
        const value = (direction: string) =>
          Number(
            text
              .split('\n')
              .find((row) => row.startsWith(`aft_commit_streams{direction="${direction}"}`))
              ?.split(' ')
              .pop(),
          );
        return { in: value('in'), out: value('out') };
      };
      // Commit until b has a stream from a (a pushes only to the members it has seen).
      const opened = await eventually(
        async () => {
          await commit(`warm/${Math.random()}`);
          return (await streamsOf(b.url)).in;
        },
        (count) => count === 1,
        { everyMs: 50 },
      );
      expect(opened).toBe(1);
      expect((await streamsOf(a.url)).out).toBe(1);
      // The pushing node says how often it sends a peer a batch: 10 ms, up to 30 ms when busy.
      const metricsOfA = Buffer.from((await callA('GET', '/metrics')).bytes).toString('utf8');
      const interval = Number(
        metricsOfA
          .split('\n')
          .find((row) => row.startsWith('aft_commit_push_interval_seconds '))
          ?.split(' ')
          .pop(),
      );
      expect(interval).toBeGreaterThanOrEqual(0.01);
      expect(interval).toBeLessThanOrEqual(0.03);
      const requestsBefore = await pushRequests();
      const learnedBefore = b.node.stats.transactions;
      for (let i = 0; i < 20; i += 1) await commit(`k${i}`);
      await eventually(
        () => b.node.stats.transactions,
        (count) => count >= learnedBefore + 20,
      );
      expect(b.node.stats.transactions).toBeGreaterThanOrEqual(learnedBefore + 20);
      expect(await pushRequests()).toBe(requestsBefore);
    } finally {
      await close();
    }
  });
});

describe('the sending end', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** A peer that takes streams and then never reads them (a paused process, say). */
  async function stalledPeer(): Promise<string> {
    server = createServer((_req, res) => res.writeHead(500).end());
    server.on('upgrade', (_req, socket: Socket) => {
      sockets.push(socket);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${COMMIT_STREAM_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`,
      );
      socket.pause();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('drops batches for a peer that does not read, so its backlog stays bounded', async () => {
    const url = await stalledPeer();
    const streams = new PeerStreams({ token: () => 'peer-token', maxBacklogBytes: 64 * 1024 });
    try {
      expect(streams.send(url, 'first')).toBe('no-stream');
      await eventually(
        () => streams.openCount,
        (count) => count === 1,
      );
      const line = 'x'.repeat(16 * 1024);
      const outcomes: string[] = [];
      // Far more than the kernel's buffers and the backlog bound together.
      for (let i = 0; i < 2000; i += 1) {
        outcomes.push(streams.send(url, line));
        if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(outcomes).toContain('dropped');
      expect(outcomes.filter((outcome) => outcome === 'sent').length).toBeLessThan(2000);
    } finally {
      streams.close();
    }
  });

  it('a peer that takes no streams gets requests, and is asked again only after the refusal wait', async () => {
    let asked = 0;
    server = createServer((_req, res) => {
      asked += 1;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let now = 0;
    const streams = new PeerStreams({
      token: () => 'peer-token',
      retryAfterRefusalMs: 60_000,
      now: () => now,
    });
    try {
      expect(streams.send(url, 'a')).toBe('no-stream');
      await eventually(
        () => asked,
        (count) => count === 1,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 5; i += 1) expect(streams.send(url, 'b')).toBe('no-stream');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(asked).toBe(1);
      now = 60_001;
      expect(streams.send(url, 'c')).toBe('no-stream');
      await eventually(
        () => asked,
        (count) => count === 2,
      );
      expect(asked).toBe(2);
    } finally {
      streams.close();
    }
  });

  it('closes a stream that carried nothing for its idle time, and opens another for the next batch', async () => {
    const url = await stalledPeer();
    const streams = new PeerStreams({ token: () => 'peer-token', idleTimeoutMs: 50 });
    try {
      streams.send(url, 'first');
      await eventually(
        () => streams.openCount,
        (count) => count === 1,
      );
      await eventually(
        () => streams.openCount,
        (count) => count === 0,
      );
      expect(streams.openCount).toBe(0);
      expect(streams.send(url, 'again')).toBe('no-stream');
      await eventually(
        () => streams.openCount,
        (count) => count === 1,
      );
      expect(sockets).toHaveLength(2);
    } finally {
      streams.close();
    }
  });
});

describe('the idle pace', () => {
  it('a node that began nothing for a while asks its peers to push less often, and a begin asks them back', async () => {
    const server = createServer((_req, res) => res.writeHead(404).end());
    const learned: string[] = [];
    const receiver = acceptCommitStreams(server, {
      authorize: () => undefined,
      learn: (records) => learned.push(...records.map((record) => record.versionId)),
      maxLineBytes: 1024 * 1024,
      idleTimeoutMs: 10_000,
      logger: silentLogger,
      isShuttingDown: () => false,
      idlePaceMs: 250,
      idleAfterMs: 50,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const asked: number[] = [];
    const sender = new PeerStreams({
      token: () => 'peer-token',
      onPace: (_peer, paceMs) => asked.push(paceMs),
    });
    const batch = () => {
      const record = peerRecord(Date.now(), ['k']);
      return { line: encodeCommitBatch([record]), versionId: record.versionId };
    };
    try {
      expect(sender.send(url, batch().line)).toBe('no-stream');
      await eventually(
        () => sender.openCount,
        (count) => count === 1,
      );
      // Serving: no pace asked.
      receiver.noteServing();
      const first = batch();
      expect(sender.send(url, first.line)).toBe('sent');
      await eventually(
        () => learned,
        (versions) => versions.includes(first.versionId),
      );
      expect(sender.paceOf(url)).toBe(0);
      // Idle past 50 ms: the next batch it takes, it asks for 250 ms.
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(sender.send(url, batch().line)).toBe('sent');
      expect(
        await eventually(
          () => sender.paceOf(url),
          (paceMs) => paceMs === 250,
        ),
      ).toBe(250);
      // A transaction begins there: the pace is lifted.
      receiver.noteServing();
      expect(
        await eventually(
          () => sender.paceOf(url),
          (paceMs) => paceMs === 0,
        ),
      ).toBe(0);
      // The sender heard both (its node sends what it held at the second: shim/commit-push.ts).
      expect(asked).toEqual([250, 0]);
    } finally {
      sender.close();
      receiver.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('decodes only a pace line, and caps what a sender honours', () => {
    expect(decodePace(encodePace(100).trim())).toBe(100);
    for (const line of ['', 'x', '{"paceMs":-1}', '{"paceMs":"5"}', '[1]', 'null']) {
      expect(decodePace(line)).toBeUndefined();
    }
    expect(MAX_PACE_MS).toBe(1000);
  });
});

describe('the stream encoding', () => {
  it('round-trips records and refuses what is not a batch', () => {
    const records = [
      peerRecord(1_700_000_000_000, ['a', 'b\nc'], ['a']),
      peerRecord(1_700_000_000_001, ['d']),
    ];
    expect(decodeCommitBatch(encodeCommitBatch(records))).toEqual(records);
    expect(encodeCommitBatch(records)).not.toContain('\n');
    for (const line of [
      '',
      'null',
      '{}',
      '[[1, []]]',
      '[["v", "a"]]',
      '[["v", [1]]]',
      '[["v", [], [], 4]]',
    ]) {
      expect(decodeCommitBatch(line)).toBeUndefined();
    }
  });
});
