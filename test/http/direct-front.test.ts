/**
 * The direct front (server/http/direct-front.ts) answers every request exactly as the express
 * app does: the same script of requests, good and bad, goes to a server of each kind and the
 * answers must match, status, error code, headers that matter and body (txids aside).
 */
import { Agent, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { type RunningShim, startShim } from '../../server/start.js';
import { METRIC_NAMES } from '../../wire/metrics.js';

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly version: string | undefined;
  readonly wwwAuthenticate: string | undefined;
  readonly body: string;
}

/** One raw request: node:http, so malformed bodies and odd headers go out as written. */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          version: res.headers['aft-version'] as string | undefined,
          wwwAuthenticate: res.headers['www-authenticate'],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TOKEN = { authorization: 'Bearer the-token' };
const JSON_TYPE = { ...TOKEN, 'content-type': 'application/json' };
const PEER_JSON = { authorization: 'Bearer the-peer-token', 'content-type': 'application/json' };
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The script: each step gets the txid of the last begin, and answers a normalized answer. */
type Step = (url: string, txid: string) => Promise<Answer>;
const STEPS: ReadonlyArray<readonly [string, Step]> = [
  ['begin', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '{}')],
  ['begin without a body or a type', (url) => send(url, 'POST', '/v1/transactions', TOKEN)],
  [
    'begin with a text body',
    (url) => send(url, 'POST', '/v1/transactions', { ...TOKEN, 'content-type': 'text/plain' }, 'hi'),
  ],
  ['begin with an empty JSON body', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '')],
  ['begin reading', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '{"read":["a","b"]}')],
  ['begin with a bad option', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '{"timeoutMs":"x"}')],
  ['malformed JSON', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '{"read":')],
  ['JSON that is not an object', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '"text"')],
  [
    'invalid UTF-8',
    (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, Buffer.from([0x7b, 0xff, 0x7d])),
  ],
  [
    'a charset other than UTF-8',
    (url) =>
      send(
        url,
        'POST',
        '/v1/transactions',
        { ...TOKEN, 'content-type': 'application/json; charset=latin1' },
        '{}',
      ),
  ],
  [
    'a JSON body over the limit',
    (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, `{"x":"${'y'.repeat(300_000)}"}`),
  ],
  [
    'a gzip body (express inflates it)',
    (url) =>
      send(
        url,
        'POST',
        '/v1/transactions',
        { ...JSON_TYPE, 'content-encoding': 'gzip' },
        gzipSync('{"read":["a"]}'),
      ),
  ],
  ['no token', (url) => send(url, 'POST', '/v1/transactions', { 'content-type': 'application/json' }, '{}')],
  ['a wrong token', (url) => send(url, 'POST', '/v1/transactions', { authorization: 'Bearer nope' }, '{}')],
  ['begin again', (url) => send(url, 'POST', '/v1/transactions', JSON_TYPE, '{}')],
  [
    'put a key',
    (url, txid) => send(url, 'PUT', `/v1/transactions/${txid}/keys/a%2Fb`, TOKEN, 'value of a/b'),
  ],
  [
    'put a key of segments',
    (url, txid) => send(url, 'PUT', `/v1/transactions/${txid}/keys/c/d%20e`, TOKEN, 'cde'),
  ],
  [
    'put a value over the limit',
    (url, txid) => send(url, 'PUT', `/v1/transactions/${txid}/keys/big`, TOKEN, 'z'.repeat(2000)),
  ],
  ['put an empty value', (url, txid) => send(url, 'PUT', `/v1/transactions/${txid}/keys/empty`, TOKEN, '')],
  ['get it back', (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/keys/a%2Fb`, TOKEN)],
  [
    'get the key of segments',
    (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/keys/c/d%20e?x=1`, TOKEN),
  ],
  ['get a missing key', (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/keys/missing`, TOKEN)],
  [
    'a malformed percent-encoding',
    (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/keys/%E0%A4%A`, TOKEN),
  ],
  ['no key at all', (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/keys/`, TOKEN)],
  ['delete a key', (url, txid) => send(url, 'DELETE', `/v1/transactions/${txid}/keys/c/d%20e`, TOKEN)],
  [
    'batch write',
    (url, txid) =>
      send(
        url,
        'POST',
        `/v1/transactions/${txid}/write`,
        JSON_TYPE,
        JSON.stringify({ items: [{ key: 'w', value: b64('w') }] }),
      ),
  ],
  [
    'batch write with bad base64',
    (url, txid) =>
      send(
        url,
        'POST',
        `/v1/transactions/${txid}/write`,
        JSON_TYPE,
        JSON.stringify({ items: [{ key: 'w', value: '@@' }] }),
      ),
  ],
  [
    'batch write without a type',
    (url, txid) => send(url, 'POST', `/v1/transactions/${txid}/write`, TOKEN, '{"items":[]}'),
  ],
  [
    'batch read',
    (url, txid) =>
      send(url, 'POST', `/v1/transactions/${txid}/read`, JSON_TYPE, '{"keys":["w","a/b","c/d e"]}'),
  ],
  [
    'a route with a trailing slash',
    (url, txid) => send(url, 'POST', `/v1/transactions/${txid}/read/`, JSON_TYPE, '{"keys":[]}'),
  ],
  [
    'an unknown action',
    (url, txid) => send(url, 'POST', `/v1/transactions/${txid}/frobnicate`, JSON_TYPE, '{}'),
  ],
  ['a wrong method', (url, txid) => send(url, 'GET', `/v1/transactions/${txid}/commit`, TOKEN)],
  ['status', (url, txid) => send(url, 'GET', `/v1/transactions/${txid}`, TOKEN)],
  ['an unknown txid', (url) => send(url, 'GET', '/v1/transactions/nope', TOKEN)],
  [
    'commit with writes',
    (url, txid) =>
      send(
        url,
        'POST',
        `/v1/transactions/${txid}/commit`,
        JSON_TYPE,
        JSON.stringify({ items: [{ key: 'x', value: null }] }),
      ),
  ],
  ['commit again', (url, txid) => send(url, 'POST', `/v1/transactions/${txid}/commit`, JSON_TYPE, '{}')],
  [
    'write after commit',
    (url, txid) => send(url, 'PUT', `/v1/transactions/${txid}/keys/late`, TOKEN, 'late'),
  ],
  ['abort after commit', (url, txid) => send(url, 'POST', `/v1/transactions/${txid}/abort`, TOKEN)],
  ['health', (url) => send(url, 'GET', '/healthz')],
  [
    'a push without a token',
    (url) =>
      send(url, 'POST', '/v1/internal/commits', { 'content-type': 'application/json' }, '{"records":[]}'),
  ],
  [
    'a push with a client token',
    (url) => send(url, 'POST', '/v1/internal/commits', JSON_TYPE, '{"records":[]}'),
  ],
  ['a push that is not a push', (url) => send(url, 'POST', '/v1/internal/commits', PEER_JSON, '{"recs":[]}')],
  [
    'a push of a malformed record',
    (url) =>
      send(
        url,
        'POST',
        '/v1/internal/commits',
        PEER_JSON,
        JSON.stringify({ records: [{ versionId: 'x', txid: 'peer-1', writeSet: ['k'], deleted: [] }] }),
      ),
  ],
  ['an empty push', (url) => send(url, 'POST', '/v1/internal/commits', PEER_JSON, '{"records":[]}')],
];

const TXID = /[a-z2-7]{10}-[0-9a-z]+-[0-9a-z]+-[0-9a-f]{32}/g;

async function runScript(shim: RunningShim): Promise<Array<[string, Answer]>> {
  const answers: Array<[string, Answer]> = [];
  let txid = '';
  for (const [name, step] of STEPS) {
    const answer = await step(shim.url, txid);
    const begun = /"txid":"([^"]+)"/.exec(answer.body)?.[1];
    if (name.startsWith('begin') && answer.status === 201 && begun) txid = begun;
    // Txids and version ids differ between the two servers; everything else must not.
    answers.push([
      name,
      {
        ...answer,
        body: answer.body.replace(TXID, '<txid>').replace(/[0-9a-f]{18}\.<txid>/g, '<version>'),
        version: answer.version?.replace(TXID, '<txid>').replace(/^[0-9a-f]{18}\./, ''),
      },
    ]);
  }
  return answers;
}

describe('the direct front and the express app answer alike', () => {
  const shims: RunningShim[] = [];
  afterAll(() => Promise.all(shims.map((shim) => shim.close())));

  it('for every request of the script, good and bad', async () => {
    const answersOf = async (httpFront: 'direct' | 'express') => {
      const shim = await startShim({
        port: 0,
        storage: 'memory:',
        maxValueBytes: 1000,
        maxTransactionBytes: 100_000,
        env: { AFT_TOKENS: 'the-token' },
        peerTokens: ['the-peer-token'],
        httpFront,
      });
      shims.push(shim);
      await shim.ready;
      const answers = await runScript(shim);
      // Each request is counted once, under its route, whichever front served it.
      const metrics = (await send(shim.url, 'GET', '/metrics', TOKEN)).body;
      const counted = metrics
        .split('\n')
        .filter((line) => line.startsWith(`${METRIC_NAMES.httpRequestDuration}_count{`))
        .sort();
      return { answers, counted };
    };
    const { answers: direct, counted } = await answersOf('direct');
    const viaExpress = await answersOf('express');
    expect(direct).toEqual(viaExpress.answers);
    expect(counted).toEqual(viaExpress.counted);
    expect(counted).toContain(
      `${METRIC_NAMES.httpRequestDuration}_count{method="POST",route="/v1/transactions/:txid/read",status="200"} 1`,
    );
    // The script means something: it reaches the routes and the refusals it names.
    const statusOf = new Map(direct.map(([name, answer]) => [name, answer.status]));
    expect(statusOf.get('get it back')).toBe(200);
    expect(statusOf.get('a JSON body over the limit')).toBe(413);
    expect(statusOf.get('put a value over the limit')).toBe(413);
    expect(statusOf.get('invalid UTF-8')).toBe(400);
    expect(statusOf.get('no token')).toBe(401);
    expect(statusOf.get('commit with writes')).toBe(200);
    expect(statusOf.get('a push with a client token')).toBe(403);
    expect(direct.find(([name]) => name === 'a push of a malformed record')?.[1].body).toBe(
      '{"learned":0,"refused":1}',
    );
    expect(direct.find(([name]) => name === 'batch read')?.[1].body).toContain(b64('value of a/b'));
  });
});

describe.each(['direct', 'express'] as const)(
  'a body over the limit without a length, %s front',
  (httpFront) => {
    it('is refused 413, and the connection still serves the next request', async () => {
      const shim = await startShim({
        port: 0,
        storage: 'memory:',
        maxTransactionBytes: 100_000,
        env: {},
        httpFront,
      });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        await shim.ready;
        const post = (chunks: readonly string[]) =>
          new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
            const req = httpRequest(
              `${shim.url}/v1/transactions`,
              { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
              (res) => {
                res.resume();
                res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
              },
            );
            req.on('error', reject);
            for (const chunk of chunks) req.write(chunk);
            req.end();
          });
        const refused = await post(Array.from({ length: 40 }, () => 'y'.repeat(10_000)));
        expect(refused.status).toBe(413);
        const next = await post(['{}']);
        expect(next.status).toBe(201);
        expect(next.socket).toBe(refused.socket);
      } finally {
        agent.destroy();
        await shim.close();
      }
    });
  },
);
