/**
 * Careless and hostile clients: a JSON body that is not UTF-8 is refused, not mangled.
 */
import { type RunningShim, startShim } from '../../shim/http/server.js';
import { httpClient } from '../helpers/http.js';
import { expectError } from './rest-api-suite.js';

describe('a JSON body that is not valid UTF-8', () => {
  let shim: RunningShim;
  beforeAll(async () => {
    shim = await startShim({ port: 0, storage: 'memory:', env: {} });
    await shim.ready;
  });
  afterAll(() => shim.close());

  it('is a BAD_REQUEST, and nothing of it is buffered (it was decoded with U+FFFD and committed)', async () => {
    const call = httpClient(shim.url);
    const txid = ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
    const body = Buffer.concat([
      Buffer.from('{"items":[{"key":"k'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","value":null}]}'),
    ]);
    const answer = await call('POST', `/v1/transactions/${txid}/write`, {
      raw: body,
      headers: { 'content-type': 'application/json' },
    });
    expectError(answer, 400, 'BAD_REQUEST');
    expect((answer.json as { error: { message: string } }).error.message).toMatch(/UTF-8/);
    const commit = await call('POST', `/v1/transactions/${txid}/commit`);
    expect(commit.json).toMatchObject({ status: 'committed', version: null });
  });

  it('a body that declares another charset is refused too', async () => {
    const call = httpClient(shim.url);
    const answer = await call('POST', '/v1/transactions', {
      raw: '{}',
      headers: { 'content-type': 'application/json; charset=latin1' },
    });
    expectError(answer, 400, 'BAD_REQUEST');
  });
});
