/**
 * The REST API (wire/api.ts, server/http/openapi.ts), over real HTTP: every route and every error code, on one
 * storage engine. Each engine's test file registers it (test/http/rest-api.<engine>.test.ts).
 */
import { createAdapterFromUrl } from '../../adapters/url.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { INTENTS_NAMESPACE, writesWithoutIntents } from '../../shim/intents.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { errorCodeOf, type HttpAnswer, httpClient } from '../helpers/http.js';
import type { TestEngine } from '../servers/engines.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const txt = (answer: HttpAnswer) => Buffer.from(answer.bytes).toString('utf8');
const keyPath = (txid: string, key: string) => `/v1/transactions/${txid}/keys/${encodeURIComponent(key)}`;

export function expectError(answer: HttpAnswer, status: number, code: string, retryable = false): void {
  expect({ status: answer.status, code: errorCodeOf(answer) }).toEqual({ status, code });
  const body = answer.json as { error: { message: string; retryable: boolean } };
  expect(typeof body.error.message).toBe('string');
  expect(body.error.retryable).toBe(retryable);
}

/** `httpFront`: how requests reach the transaction routes (server/start.ts); both must pass. */
export function registerRestApiSuite(
  engine: TestEngine,
  { httpFront = 'direct' }: { readonly httpFront?: 'direct' | 'express' } = {},
): void {
  describe(`REST API on ${engine.name}${httpFront === 'express' ? ', every request through express' : ''}`, () => {
    let shim: RunningShim;
    let storage: FaultyAdapter;
    let call: ReturnType<typeof httpClient>;

    beforeAll(async () => {
      storage = new FaultyAdapter(createAdapterFromUrl(await engine.freshStorageUrl()));
      shim = await startShim({
        port: 0,
        adapter: storage,
        maxValueBytes: 1000,
        maxTransactionBytes: 5000,
        maxOpenTransactions: 50,
        env: {},
        httpFront,
      });
      await shim.ready;
      call = httpClient(shim.url);
    });
    afterAll(async () => {
      await shim.close();
      await storage.inner.close();
    });

    async function begin(body?: unknown): Promise<string> {
      const answer = await call('POST', '/v1/transactions', body === undefined ? {} : { json: body });
      expect(answer.status).toBe(201);
      return (answer.json as { txid: string }).txid;
    }

    it('runs a transaction: begin, put, batch write, get, batch read, commit, status', async () => {
      const txid = await begin();
      expect((await call('GET', `/v1/transactions/${txid}`)).json).toEqual({ txid, status: 'running' });
      expect((await call('PUT', keyPath(txid, 'k'), { raw: 'value of k' })).status).toBe(204);
      const write = await call('POST', `/v1/transactions/${txid}/write`, {
        json: {
          items: [
            { key: 'l', value: b64('value of l') },
            { key: 'gone', value: null },
          ],
        },
      });
      expect(write.status).toBe(204);
      const own = await call('GET', keyPath(txid, 'k'));
      expect([own.status, txt(own), own.headers.get('aft-version')]).toEqual([200, 'value of k', null]);
      expect(own.headers.get('content-type')).toBe('application/octet-stream');
      const commit = await call('POST', `/v1/transactions/${txid}/commit`);
      expect(commit.status).toBe(200);
      const { version } = commit.json as { version: string };
      expect(commit.json).toEqual({ txid, status: 'committed', version });
      expect((await call('GET', `/v1/transactions/${txid}`)).json).toEqual({ txid, status: 'committed' });

      const reader = await begin({ timeoutMs: 5000 });
      const got = await call('GET', keyPath(reader, 'k'));
      expect([got.status, txt(got), got.headers.get('aft-version')]).toEqual([200, 'value of k', version]);
      const read = await call('POST', `/v1/transactions/${reader}/read`, {
        json: { keys: ['l', 'missing', 'gone', 'k'] },
      });
      expect(read.json).toEqual({
        items: [
          { key: 'l', value: b64('value of l'), version },
          { key: 'missing', value: null, version: null },
          { key: 'gone', value: null, version: null },
          { key: 'k', value: b64('value of k'), version },
        ],
      });
      expectError(await call('GET', keyPath(reader, 'missing')), 404, 'KEY_NOT_FOUND');
    });

    it('a transaction in two requests: begin reads, commit writes', async () => {
      const setup = await begin();
      await call('PUT', keyPath(setup, 'stock'), { raw: '10' });
      await call('POST', `/v1/transactions/${setup}/commit`);

      const begun = await call('POST', '/v1/transactions', { json: { read: ['stock', 'nothing'] } });
      expect(begun.status).toBe(201);
      const { txid, items } = begun.json as { txid: string; items: { key: string; value: string | null }[] };
      expect(items.map(({ key, value }) => [key, value && Buffer.from(value, 'base64').toString()])).toEqual([
        ['stock', '10'],
        ['nothing', null],
      ]);
      const commit = await call('POST', `/v1/transactions/${txid}/commit`, {
        json: {
          items: [
            { key: 'stock', value: b64('9') },
            { key: 'ledger', value: b64('sold one') },
          ],
        },
      });
      expect(commit.json).toMatchObject({ txid, status: 'committed' });
      const { version } = commit.json as { version: string };
      // Repeated with its items (a lost answer): the first outcome, nothing written again.
      const again = await call('POST', `/v1/transactions/${txid}/commit`, {
        json: { items: [{ key: 'stock', value: b64('8') }] },
      });
      expect(again.json).toEqual(commit.json);
      const check = await call('POST', '/v1/transactions', { json: { read: ['stock', 'ledger'] } });
      const checked = (check.json as { items: { key: string; value: string; version: string }[] }).items;
      expect(
        checked.map(({ value, version: read }) => [Buffer.from(value, 'base64').toString(), read]),
      ).toEqual([
        ['9', version],
        ['sold one', version],
      ]);
    });

    it('a commit whose items are refused writes nothing and leaves the transaction running', async () => {
      const txid = await begin();
      const refused = await call('POST', `/v1/transactions/${txid}/commit`, {
        json: {
          items: [
            { key: 'ok', value: b64('x') },
            { key: 'bad', value: '!!!!' },
          ],
        },
      });
      expectError(refused, 400, 'BAD_REQUEST');
      expect((await call('GET', `/v1/transactions/${txid}`)).json).toEqual({ txid, status: 'running' });
      expectError(await call('GET', keyPath(txid, 'ok')), 404, 'KEY_NOT_FOUND');
      expectError(await call('POST', '/v1/transactions', { json: { read: [''] } }), 400, 'BAD_REQUEST');
    });

    it('repeating a commit returns the same answer; a read-only commit has a null version', async () => {
      const txid = await begin();
      await call('PUT', keyPath(txid, 'twice'), { raw: 'x' });
      const first = await call('POST', `/v1/transactions/${txid}/commit`);
      const second = await call('POST', `/v1/transactions/${txid}/commit`);
      expect(second.status).toBe(200);
      expect(second.json).toEqual(first.json);
      const readOnly = await begin();
      expect((await call('POST', `/v1/transactions/${readOnly}/commit`)).json).toEqual({
        txid: readOnly,
        status: 'committed',
        version: null,
      });
    });

    it('an idempotency key: the first commit records its result, a later begin replays it', async () => {
      const key = `request ${Math.random()}`;
      const txid = await begin({ idempotencyKey: key });
      await call('PUT', keyPath(txid, 'paid'), { raw: 'once' });
      const loser = await begin({ idempotencyKey: key });
      await call('PUT', keyPath(loser, 'paid'), { raw: 'twice' });
      const commit = await call('POST', `/v1/transactions/${txid}/commit`, {
        json: { result: b64('receipt 1') },
      });
      expect(commit.status).toBe(200);
      const version = (commit.json as { version: string }).version;

      const duplicate = await call('POST', `/v1/transactions/${loser}/commit`, {
        json: { result: b64('receipt 2') },
      });
      expectError(duplicate, 409, 'DUPLICATE_COMMITTED');
      const replay = await call('POST', '/v1/transactions', { json: { idempotencyKey: key } });
      expect(replay.status).toBe(200);
      expect(replay.json).toEqual({
        txid,
        status: 'committed',
        version,
        result: b64('receipt 1'),
        replayed: true,
      });

      const reader = await begin();
      expect(txt(await call('GET', keyPath(reader, 'paid')))).toBe('once');
    });

    it('an idempotency key: bad input is a BAD_REQUEST', async () => {
      expectError(
        await call('POST', '/v1/transactions', { json: { idempotencyKey: '' } }),
        400,
        'BAD_REQUEST',
      );
      expectError(
        await call('POST', '/v1/transactions', { json: { idempotencyKey: 7 } }),
        400,
        'BAD_REQUEST',
      );
      const plain = await begin();
      expectError(
        await call('POST', `/v1/transactions/${plain}/commit`, { json: { result: b64('r') } }),
        400,
        'BAD_REQUEST',
      );
      const keyed = await begin({ idempotencyKey: `request ${Math.random()}` });
      expectError(
        await call('POST', `/v1/transactions/${keyed}/commit`, { json: { result: 'not base64!' } }),
        400,
        'BAD_REQUEST',
      );
      expect((await call('POST', `/v1/transactions/${keyed}/commit`, { json: {} })).status).toBe(200);
    });

    it('DELETE writes a tombstone: later reads get KEY_NOT_FOUND', async () => {
      const writer = await begin();
      await call('PUT', keyPath(writer, 'to-delete'), { raw: 'x' });
      await call('POST', `/v1/transactions/${writer}/commit`);
      const deleter = await begin();
      expect((await call('DELETE', keyPath(deleter, 'to-delete'))).status).toBe(204);
      expectError(await call('GET', keyPath(deleter, 'to-delete')), 404, 'KEY_NOT_FOUND');
      await call('POST', `/v1/transactions/${deleter}/commit`);
      expectError(await call('GET', keyPath(await begin(), 'to-delete')), 404, 'KEY_NOT_FOUND');
    });

    it('keys with /, %, spaces and non-ASCII round-trip through paths and JSON alike', async () => {
      const keys = [
        'a/b/c',
        '100%',
        '%2F',
        'with space',
        'ümlaut/日本/🦀',
        'trailing/',
        'é'.repeat(512),
        '?x=1#y',
      ];
      const valueFor = (key: string) => `v:${key.slice(0, 20)}`;
      const txid = await begin();
      for (const key of keys)
        expect((await call('PUT', keyPath(txid, key), { raw: valueFor(key) })).status).toBe(204);
      await call('POST', `/v1/transactions/${txid}/commit`);
      const reader = await begin();
      for (const key of keys) expect(txt(await call('GET', keyPath(reader, key)))).toBe(valueFor(key));
      const read = await call('POST', `/v1/transactions/${reader}/read`, { json: { keys } });
      const items = (read.json as { items: { key: string; value: string }[] }).items;
      expect(items.map((item) => [item.key, Buffer.from(item.value, 'base64').toString()])).toEqual(
        keys.map((key) => [key, valueFor(key)]),
      );
      // An unencoded slash is literal: a/b/c and a%2Fb%2Fc are one key.
      expect(txt(await call('GET', `/v1/transactions/${reader}/keys/a/b/c`))).toBe(valueFor('a/b/c'));
      // 'trailing/' and 'trailing' are different keys.
      expectError(await call('GET', keyPath(reader, 'trailing')), 404, 'KEY_NOT_FOUND');
    });

    it('empty values round-trip', async () => {
      const txid = await begin();
      expect((await call('PUT', keyPath(txid, 'empty'), { raw: '' })).status).toBe(204);
      await call('POST', `/v1/transactions/${txid}/commit`);
      const got = await call('GET', keyPath(await begin(), 'empty'));
      expect([got.status, got.bytes.byteLength]).toEqual([200, 0]);
    });

    describe('BAD_REQUEST', () => {
      let txid: string;
      beforeAll(async () => {
        txid = await begin();
      });

      it.each([
        ['malformed JSON', 'POST', 'read', '{"keys": ['],
        ['a non-object body', 'POST', 'read', '"keys"'],
        ['keys that are not an array', 'POST', 'read', { keys: 'k' }],
        ['a key that is not a string', 'POST', 'read', { keys: [1] }],
        ['an empty key in a batch read', 'POST', 'read', { keys: [''] }],
        ['items missing', 'POST', 'write', {}],
        ['a value that is not base64', 'POST', 'write', { items: [{ key: 'k', value: 'not base64!' }] }],
        ['base64 without padding', 'POST', 'write', { items: [{ key: 'k', value: 'YWJj ZA' }] }],
        ['a value of the wrong type', 'POST', 'write', { items: [{ key: 'k', value: 5 }] }],
        ['an empty key in a batch write', 'POST', 'write', { items: [{ key: '', value: null }] }],
        ['a 1025-byte key', 'POST', 'write', { items: [{ key: 'k'.repeat(1025), value: null }] }],
        ['a lone surrogate in a key', 'POST', 'write', { items: [{ key: '\ud800', value: null }] }],
      ])('%s', async (_name, method, action, body) => {
        expectError(
          await call(method, `/v1/transactions/${txid}/${action}`, { json: body }),
          400,
          'BAD_REQUEST',
        );
      });

      it('in begin: malformed JSON, a timeout of the wrong type or out of range', async () => {
        expectError(await call('POST', '/v1/transactions', { json: '{' }), 400, 'BAD_REQUEST');
        expectError(
          await call('POST', '/v1/transactions', { json: { timeoutMs: 'soon' } }),
          400,
          'BAD_REQUEST',
        );
        expectError(await call('POST', '/v1/transactions', { json: { timeoutMs: 0 } }), 400, 'BAD_REQUEST');
        expectError(
          await call('POST', '/v1/transactions', { json: { timeoutMs: 10 ** 9 } }),
          400,
          'BAD_REQUEST',
        );
      });

      it('in key paths: an empty key, a 1025-byte key, bad percent-encoding', async () => {
        expectError(await call('PUT', `/v1/transactions/${txid}/keys/`, { raw: 'x' }), 400, 'BAD_REQUEST');
        expectError(await call('PUT', keyPath(txid, 'é'.repeat(513)), { raw: 'x' }), 400, 'BAD_REQUEST');
        expectError(await call('GET', keyPath(txid, 'k'.repeat(1025))), 400, 'BAD_REQUEST');
        expectError(await call('GET', `/v1/transactions/${txid}/keys/%E9`), 400, 'BAD_REQUEST');
        expectError(await call('GET', `/v1/transactions/${txid}/keys/%zz`), 400, 'BAD_REQUEST');
      });

      it('nothing of a refused batch is buffered', async () => {
        const writer = await begin();
        const refused = await call('POST', `/v1/transactions/${writer}/write`, {
          json: {
            items: [
              { key: 'ok', value: b64('x') },
              { key: 'bad', value: '!!!!' },
            ],
          },
        });
        expect(refused.status).toBe(400);
        expectError(await call('GET', keyPath(writer, 'ok')), 404, 'KEY_NOT_FOUND');
      });
    });

    it('TOO_LARGE: a value over the limit, raw or in a batch, and a transaction over its buffer limit', async () => {
      const txid = await begin();
      expectError(await call('PUT', keyPath(txid, 'big'), { raw: 'x'.repeat(1001) }), 413, 'TOO_LARGE');
      expectError(
        await call('POST', `/v1/transactions/${txid}/write`, {
          json: { items: [{ key: 'big', value: b64('x'.repeat(1001)) }] },
        }),
        413,
        'TOO_LARGE',
      );
      for (let i = 0; i < 4; i += 1) await call('PUT', keyPath(txid, `part${i}`), { raw: 'x'.repeat(1000) });
      expectError(await call('PUT', keyPath(txid, 'part4'), { raw: 'x'.repeat(1000) }), 413, 'TOO_LARGE');
      // The transaction is still usable.
      expect((await call('POST', `/v1/transactions/${txid}/commit`)).status).toBe(200);
    });

    it('TXN_NOT_FOUND for an unknown txid, TXN_LOST for one of a node that is gone', async () => {
      expectError(await call('GET', '/v1/transactions/nope'), 404, 'TXN_NOT_FOUND');
      expectError(await call('POST', '/v1/transactions/nope/commit'), 404, 'TXN_NOT_FOUND');
      expectError(await call('GET', keyPath('nope', 'k')), 404, 'TXN_NOT_FOUND');
      // A well-formed txid of a node that is gone, with nothing of it in storage: lost.
      const gone = `aaaaaaaaaa-${Date.now().toString(36)}-1-${'0'.repeat(32)}`;
      expectError(await call('GET', `/v1/transactions/${gone}`), 410, 'TXN_LOST', true);
    });

    it('TXN_NOT_RUNNING for operations after commit or abort, and commit after abort', async () => {
      const committed = await begin();
      await call('POST', `/v1/transactions/${committed}/commit`);
      expectError(await call('PUT', keyPath(committed, 'k'), { raw: 'x' }), 409, 'TXN_NOT_RUNNING');
      expectError(await call('GET', keyPath(committed, 'k')), 409, 'TXN_NOT_RUNNING');
      expectError(await call('POST', `/v1/transactions/${committed}/abort`), 409, 'TXN_NOT_RUNNING');

      const aborted = await begin();
      expect((await call('POST', `/v1/transactions/${aborted}/abort`)).json).toEqual({
        txid: aborted,
        status: 'aborted',
      });
      expectError(await call('DELETE', keyPath(aborted, 'k')), 409, 'TXN_NOT_RUNNING');
      expectError(
        await call('POST', `/v1/transactions/${aborted}/read`, { json: { keys: ['k'] } }),
        409,
        'TXN_NOT_RUNNING',
      );
      expectError(await call('POST', `/v1/transactions/${aborted}/commit`), 409, 'TXN_NOT_RUNNING');
      expect((await call('GET', `/v1/transactions/${aborted}`)).json).toEqual({
        txid: aborted,
        status: 'aborted',
      });
    });

    it('an idle transaction is aborted by its timeout and answers 409', async () => {
      const txid = await begin({ timeoutMs: 100 });
      // The reaper aborts it within about a second of going idle; asking its status is no activity.
      const { status } = await eventually(
        async () => (await call('GET', `/v1/transactions/${txid}`)).json as { status: string },
        (info) => info.status !== 'running',
        { everyMs: 100 },
      );
      expect(status).toBe('aborted');
      expectError(await call('PUT', keyPath(txid, 'k'), { raw: 'x' }), 409, 'TXN_NOT_RUNNING');
    });

    it('STORAGE_UNAVAILABLE (503, retryable) when storage fails; the transaction goes on afterwards', async () => {
      const writer = await begin();
      await call('PUT', keyPath(writer, 'stored'), { raw: 'x' });
      await call('POST', `/v1/transactions/${writer}/commit`);
      // A fresh node of the same storage has nothing cached, so the read goes to storage.
      const fresh = await startShim({ port: 0, adapter: storage, env: {} });
      await fresh.ready;
      const freshCall = httpClient(fresh.url);
      const reader = (
        (await freshCall('POST', '/v1/transactions')).json as {
          txid: string;
        }
      ).txid;
      storage.arm({ operation: 'getVersion', phase: 'before', effect: 'throw' });
      expectError(await freshCall('GET', keyPath(reader, 'stored')), 503, 'STORAGE_UNAVAILABLE', true);
      expect(txt(await freshCall('GET', keyPath(reader, 'stored')))).toBe('x');

      const failing = (
        (await freshCall('POST', '/v1/transactions')).json as {
          txid: string;
        }
      ).txid;
      await freshCall('PUT', keyPath(failing, 'k'), { raw: 'x' });
      // The write of the values fails: with the record in one atomic write (its outcome
      // unknown until the commit is repeated, which settles it), or in the intent (aborted).
      const atomic = storage.putVersionsAndRecord !== undefined;
      storage.arm(
        atomic
          ? {
              // With no intent where the engine applies the write by its clock (Redis).
              operation: writesWithoutIntents(storage) ? 'putVersionsAndRecordBy' : 'putVersionsAndRecord',
              phase: 'before',
              effect: 'throw',
            }
          : { operation: 'putEntry', namespace: INTENTS_NAMESPACE, phase: 'before', effect: 'throw' },
      );
      expectError(
        await freshCall('POST', `/v1/transactions/${failing}/commit`),
        503,
        'STORAGE_UNAVAILABLE',
        true,
      );
      if (atomic) {
        const repeated = await freshCall('POST', `/v1/transactions/${failing}/commit`);
        expect(repeated.json).toMatchObject({ txid: failing, status: 'committed' });
      }
      const metrics = txt(await freshCall('GET', '/metrics'));
      expect(metrics).toMatch(/aft_storage_errors_total\{operation="getVersion"\} 1/);
      expect(metrics).toMatch(
        atomic
          ? /aft_transactions_total\{outcome="committed"\} 1/
          : /aft_transactions_total\{outcome="failed"\} 1/,
      );
      await fresh.close();
    });

    it('TOO_MANY_TRANSACTIONS (429, retryable) past the open transaction limit', async () => {
      const limited = await startShim({ port: 0, storage: 'memory:', maxOpenTransactions: 1, env: {} });
      await limited.ready;
      const limitedCall = httpClient(limited.url);
      expect((await limitedCall('POST', '/v1/transactions')).status).toBe(201);
      expectError(await limitedCall('POST', '/v1/transactions'), 429, 'TOO_MANY_TRANSACTIONS', true);
      await limited.close();
    });

    it('ROUTE_NOT_FOUND for unknown routes', async () => {
      expectError(await call('GET', '/v2/anything'), 404, 'ROUTE_NOT_FOUND');
      expectError(await call('PATCH', '/v1/transactions'), 404, 'ROUTE_NOT_FOUND');
    });

    it('serves health, readiness, metrics and the OpenAPI document', async () => {
      expect((await call('GET', '/healthz')).status).toBe(200);
      expect((await call('GET', '/readyz')).status).toBe(200);
      const metrics = await call('GET', '/metrics');
      expect(metrics.status).toBe(200);
      for (const name of [
        'aft_transactions_total',
        'aft_read_duration_seconds',
        'aft_commit_duration_seconds',
        'aft_cache_hit_ratio',
        'aft_storage_errors_total',
        'aft_open_transactions',
      ]) {
        expect(txt(metrics)).toContain(name);
      }
      const doc = (await call('GET', '/v1/openapi.json')).json as {
        openapi: string;
        paths: Record<string, Record<string, unknown>>;
      };
      expect(doc.openapi).toBe('3.1.0');
      // Every documented operation is served (none answers ROUTE_NOT_FOUND).
      const txid = await begin();
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const method of Object.keys(operations)) {
          const concrete = path.replace('{txid}', txid).replace('{key}', 'k');
          const answer = await call(method.toUpperCase(), concrete, method === 'put' ? { raw: 'x' } : {});
          expect(errorCodeOf(answer)).not.toBe('ROUTE_NOT_FOUND');
        }
      }
    });
  });
}
