/**
 * withTransaction with a fake Lambda context against a real shim: commit on return, abort on
 * throw and at the deadline, exactly-once by request id or event key, composition through
 * txn.invoke (an in-process invoker that calls wrapped handlers the way Lambda does: the
 * ClientContext passed through JSON, a thrown error turned into a function error).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FileAdapter } from '../../adapters/file.js';
import { AftClient } from '../../lambda-layer/client.js';
import { LambdaConfigError, resolveLambdaSettings } from '../../lambda-layer/config.js';
import { PARTIAL_WRITES_ERROR } from '../../lambda-layer/envelope.js';
import {
  ErrorCode,
  FunctionError,
  type Invoker,
  type LambdaContext,
  withTransaction,
} from '../../lambda-layer/index.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { INTENTS_NAMESPACE } from '../../shim/intents.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const tempDir = tempDirectories();
let shim: RunningShim;
let storage: FaultyAdapter;
let aft: AftClient;

beforeAll(async () => {
  storage = new FaultyAdapter(new FileAdapter({ directory: tempDir() }));
  shim = await startShim({ port: 0, adapter: storage, env: {} });
  await shim.ready;
  aft = new AftClient({ url: shim.url });
});
afterAll(async () => {
  await shim.close();
  await storage.inner.close();
});

let requests = 0;
function fakeContext(overrides: Partial<LambdaContext> & { remainingMs?: number } = {}): LambdaContext {
  const deadline = Date.now() + (overrides.remainingMs ?? 10_000);
  return {
    awsRequestId: overrides.awsRequestId ?? `request-${++requests}-${Math.random()}`,
    functionName: 'test',
    clientContext: overrides.clientContext,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
}

async function read(key: string): Promise<string | undefined> {
  const tx = await aft.begin();
  const value = await tx.getText(key);
  await tx.abort();
  return value;
}

/** A client that notes the path of every request it sends (the txid as `{txid}`). */
function countingClient(): { client: AftClient; sent: string[] } {
  const sent: string[] = [];
  const client = new AftClient({
    url: shim.url,
    fetch: (input, init) => {
      sent.push(
        String(input)
          .replace(shim.url, '')
          .replace(/\/v1\/transactions\/[^/]+/, '/v1/transactions/{txid}'),
      );
      return fetch(input, init);
    },
  });
  return { client, sent };
}

const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls wrapped handlers in this process as Lambda would call them. */
function inProcessLambda(
  functions: Record<string, (event: never, context: LambdaContext) => Promise<unknown>>,
) {
  const asyncCalls: { functionName: string; payload: unknown }[] = [];
  const invoker: Invoker = async ({ functionName, payload, mode, clientContext }) => {
    const fn = functions[functionName];
    if (!fn) throw new Error(`no function ${functionName}`);
    const event = JSON.parse(JSON.stringify(payload ?? null)) as never;
    if (mode === 'async') {
      asyncCalls.push({ functionName, payload: event });
      return { payload: undefined };
    }
    const context = fakeContext({
      clientContext: JSON.parse(JSON.stringify(clientContext ?? null)) ?? undefined,
    });
    try {
      return { payload: JSON.parse(JSON.stringify((await fn(event, context)) ?? null)) };
    } catch (error) {
      throw new FunctionError(functionName, (error as Error).name, (error as Error).message);
    }
  };
  return { invoker, asyncCalls };
}

describe('withTransaction', () => {
  it('commits what the handler wrote when it returns, and passes its value back', async () => {
    const key = unique('k');
    const handler = withTransaction(
      async (event: { value: string }, txn) => {
        await txn.put(key, event.value);
        expect(await txn.getText(key)).toBe(event.value); // read-your-writes from the buffer
        return { ok: true };
      },
      { url: shim.url },
    );
    expect(await handler({ value: 'v1' }, fakeContext())).toEqual({ ok: true });
    expect(await read(key)).toBe('v1');
  });

  it('a handler that reads then writes costs three requests: the commit carries its writes', async () => {
    const key = unique('carried');
    const { client, sent } = countingClient();
    const handler = withTransaction(
      async (_event: unknown, txn) => {
        const count = Number((await txn.getText(key)) ?? 0);
        await txn.putMany([
          { key, value: String(count + 1) },
          { key: `${key}/log`, value: 'incremented' },
        ]);
      },
      { url: shim.url, client, idempotency: false },
    );
    await handler({}, fakeContext());
    expect(sent).toEqual([
      '/v1/transactions',
      '/v1/transactions/{txid}/read',
      '/v1/transactions/{txid}/commit',
    ]);
    expect([await read(key), await read(`${key}/log`)]).toEqual(['1', 'incremented']);
  });

  it('with prefetch, a handler that reads then writes costs two requests, exactly-once included', async () => {
    const key = unique('prefetched');
    const { client, sent } = countingClient();
    const handler = withTransaction(
      async (event: { key: string }, txn) => {
        const count = Number((await txn.getText(event.key)) ?? 0);
        await txn.put(event.key, String(count + 1));
        // A written key is read from the write buffer, not from what the begin read.
        expect(await txn.getText(event.key)).toBe(String(count + 1));
        return count + 1;
      },
      { url: shim.url, client, prefetch: (event) => [event.key] },
    );
    const context = fakeContext();
    expect(await handler({ key }, context)).toBe(1);
    expect(sent).toEqual(['/v1/transactions', '/v1/transactions/{txid}/commit']);
    // Lambda retries the same request: the recorded result, nothing run again.
    expect(await handler({ key }, context)).toBe(1);
    expect(await handler({ key }, fakeContext())).toBe(2);
    expect(await read(key)).toBe('2');
  });

  it('serializable: concurrent read-modify-write runs lose no update; a conflicting run runs again', async () => {
    await aft.run(async (tx) => tx.put('counter/serial', '50'));
    let runs = 0;
    const handler = withTransaction(
      async (_event: unknown, txn) => {
        runs += 1;
        const value = Number(await txn.getText('counter/serial'));
        await txn.put('counter/serial', String(value - 1));
      },
      { url: shim.url, isolation: 'serializable' },
    );
    await Promise.all(Array.from({ length: 8 }, () => handler({}, fakeContext())));
    expect(await read('counter/serial')).toBe('42');
    // Some ran again: they conflicted on the counter.
    expect(runs).toBeGreaterThan(8);
  });

  it('aborts when the handler throws: the error passes through and nothing is visible', async () => {
    const key = unique('k');
    const handler = withTransaction(
      async (_event, txn) => {
        await txn.put(key, 'half');
        throw new TypeError('out of stock');
      },
      { url: shim.url },
    );
    await expect(handler({}, fakeContext())).rejects.toThrow('out of stock');
    expect(await read(key)).toBeUndefined();
  });

  it("aborts before Lambda's deadline, and the late handler can no longer write", async () => {
    const key = unique('k');
    let lateError: unknown;
    const handler = withTransaction(
      async (_event, txn) => {
        await txn.put(key, 'early');
        await sleep(400);
        try {
          await txn.put(key, 'late');
        } catch (error) {
          lateError = error;
        }
      },
      { url: shim.url, timeoutMarginMs: 100 },
    );
    const error = await handler({}, fakeContext({ remainingMs: 250 })).catch((caught: unknown) => caught);
    expect((error as { code: string }).code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    // The handler goes on after the abort; its late write fails once it gets there.
    await eventually(
      () => lateError,
      (error) => error !== undefined,
    );
    expect((lateError as { code: string }).code).toBe(ErrorCode.TXN_NOT_RUNNING);
    expect(await read(key)).toBeUndefined();
  });

  it('runs a retried request (same request id) once and returns the recorded result', async () => {
    const key = unique('counter');
    let runs = 0;
    const handler = withTransaction(
      async (_event, txn) => {
        runs += 1;
        const count = (await txn.getJson<number>(key)) ?? 0;
        await txn.putJson(key, count + 1);
        return { count: count + 1, at: runs };
      },
      { url: shim.url },
    );
    const context = fakeContext();
    const first = await handler({}, context);
    const retry = await handler({}, { ...context, getRemainingTimeInMillis: () => 10_000 });
    expect(retry).toEqual(first);
    expect(runs).toBe(1);
    expect(await read(key)).toBe('1');
  });

  it('uses the idempotency key picked from the event, across request ids', async () => {
    const key = unique('orders');
    const orderId = unique('order');
    let runs = 0;
    const handler = withTransaction(
      async (event: { orderId: string }, txn) => {
        runs += 1;
        const orders = (await txn.getJson<string[]>(key)) ?? [];
        await txn.putJson(key, [...orders, event.orderId]);
        return orders.length + 1;
      },
      { url: shim.url, idempotencyKey: (event) => event.orderId },
    );
    expect(await handler({ orderId }, fakeContext())).toBe(1);
    expect(await handler({ orderId }, fakeContext())).toBe(1);
    expect(await handler({ orderId: `${orderId}-other` }, fakeContext())).toBe(2);
    expect(runs).toBe(2);
    expect(JSON.parse((await read(key))!)).toEqual([orderId, `${orderId}-other`]);
  });

  it('concurrent duplicates: one commits, every one returns its result', async () => {
    const key = unique('counter');
    const handler = withTransaction(
      async (_event, txn) => {
        const count = (await txn.getJson<number>(key)) ?? 0;
        await sleep(20);
        await txn.putJson(key, count + 1);
        return `count ${count + 1}`;
      },
      { url: shim.url },
    );
    const context = fakeContext();
    const results = await Promise.all(Array.from({ length: 5 }, () => handler({}, context)));
    expect(new Set(results)).toEqual(new Set(['count 1']));
    expect(await read(key)).toBe('1');
  });

  it('with idempotency off, every run commits', async () => {
    const key = unique('counter');
    const handler = withTransaction(
      async (_event, txn) => {
        await txn.putJson(key, ((await txn.getJson<number>(key)) ?? 0) + 1);
      },
      { url: shim.url, idempotency: false },
    );
    const context = fakeContext();
    await handler({}, context);
    await handler({}, context);
    expect(await read(key)).toBe('2');
  });

  it('runs the handler again when storage failed under it (nothing was visible)', async () => {
    const key = unique('k');
    let runs = 0;
    const handler = withTransaction(
      async (_event, txn) => {
        runs += 1;
        // The commit's intent, holding the values, fails to land: nothing can become visible.
        if (runs === 1)
          storage.arm({
            operation: 'putEntry',
            namespace: INTENTS_NAMESPACE,
            phase: 'before',
            effect: 'throw',
          });
        await txn.put(key, `run ${runs}`);
      },
      // The client's own retries would hide the one failure; the handler's rerun is tested here.
      { client: new AftClient({ url: shim.url, retry: { attempts: 1 } }) },
    );
    await handler({}, fakeContext());
    expect(runs).toBe(2);
    expect(await read(key)).toBe('run 2');
  });
});

describe('txn.invoke', () => {
  const stockKey = unique('stock');
  const paymentsKey = unique('payments');
  const payment = withTransaction(async (event: { amount: number }, txn) => {
    if (event.amount > 100) throw new RangeError('card declined');
    // The callee reads what its caller wrote before calling.
    const reserved = await txn.getJson<number>(stockKey);
    await txn.putJson(paymentsKey, { amount: event.amount, reserved });
    return { paid: event.amount };
  });

  function checkoutWith(invoker: Invoker, handleDecline: boolean) {
    return withTransaction(
      async (event: { amount: number }, txn) => {
        await txn.putJson(stockKey, 1);
        try {
          return await txn.invoke<{ paid: number }>('payment', event);
        } catch (error) {
          if (!handleDecline) throw error;
          await txn.putJson(stockKey, 0);
          return { declined: (error as FunctionError).errorMessage };
        }
      },
      { url: shim.url, invoker },
    );
  }

  beforeAll(() => {
    process.env.AFT_URL = shim.url;
  });
  afterAll(() => {
    delete process.env.AFT_URL;
  });

  it('a callee joins the caller; its writes commit with the root, once', async () => {
    const { invoker } = inProcessLambda({ payment });
    expect(await checkoutWith(invoker, false)({ amount: 40 }, fakeContext())).toEqual({ paid: 40 });
    expect(JSON.parse((await read(paymentsKey))!)).toEqual({ amount: 40, reserved: 1 });
    expect(await read(stockKey)).toBe('1');
  });

  it('a failing callee aborts the whole transaction unless the caller handles it', async () => {
    const { invoker } = inProcessLambda({ payment });
    const before = await read(paymentsKey);
    const error = await checkoutWith(invoker, false)({ amount: 500 }, fakeContext()).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FunctionError);
    expect((error as FunctionError).errorType).toBe('RangeError');
    expect(await read(paymentsKey)).toBe(before);

    // Handled: the caller commits, and none of the failed callee's writes are in it.
    expect(await checkoutWith(invoker, true)({ amount: 500 }, fakeContext())).toEqual({
      declined: 'card declined',
    });
    expect(await read(stockKey)).toBe('0');
    expect(await read(paymentsKey)).toBe(before);
  });

  it('a callee that dies instead of throwing leaves the transaction uncommittable, handled or not', async () => {
    const leaked = unique('leaked');
    // A joined callee whose writes reached the shared transaction (as a nested sync call
    // makes them) and whose process then died: Lambda reports Runtime.ExitError.
    const dies = async (_event: never, context: LambdaContext) => {
      const txid = (context.clientContext as { custom: Record<string, string> }).custom['aft.txid']!;
      await aft.transaction(txid).put(leaked, 'half of a callee');
      throw Object.assign(new Error('Runtime exited with error: signal: killed'), {
        name: 'Runtime.ExitError',
      });
    };
    const { invoker } = inProcessLambda({ dies });
    const handler = withTransaction(
      async (_event, txn) => {
        await txn.put(stockKey, '5');
        await txn.invoke('dies', {}).catch((error: unknown) => {
          expect((error as FunctionError).errorType).toBe('Runtime.ExitError');
        });
        return 'handled it';
      },
      { url: shim.url, invoker },
    );
    const stockBefore = await read(stockKey);
    await expect(handler({}, fakeContext())).rejects.toThrow(/may have joined the transaction/);
    expect(await read(leaked)).toBeUndefined();
    expect(await read(stockKey)).toBe(stockBefore);
  });

  it('a callee that throws after its own sync call sent its writes: the caller cannot commit, handled or not', async () => {
    const fraudKey = unique('fraud-checked');
    const fraudCheck = withTransaction(async () => ({ ok: true }));
    // The middle callee's write reaches the shared transaction when it calls fraud-check;
    // then it throws, so that write must not commit with the caller.
    const middle = withTransaction(async (_event, txn) => {
      await txn.put(fraudKey, 'yes');
      await txn.invoke('fraud-check', {});
      throw new RangeError('refused after the check');
    });
    const { invoker } = inProcessLambda({ middle, 'fraud-check': fraudCheck });
    let seenType: string | undefined;
    const handler = withTransaction(
      async (_event, txn) => {
        await txn.put(stockKey, '7');
        await txn.invoke('middle', {}).catch((error: unknown) => {
          seenType = (error as FunctionError).errorType;
        });
        return 'handled it';
      },
      { url: shim.url, invoker },
    );
    const stockBefore = await read(stockKey);
    await expect(handler({}, fakeContext())).rejects.toThrow(/may have joined the transaction/);
    expect(seenType).toBe(PARTIAL_WRITES_ERROR);
    expect(await read(fraudKey)).toBeUndefined();
    expect(await read(stockKey)).toBe(stockBefore);
  });

  it('an async call is sent only after the commit, with a key that makes its retries apply once', async () => {
    const counterKey = unique('emails');
    const sendEmail = withTransaction(async (event: { to: string }, txn) => {
      const sent = (await txn.getJson<string[]>(counterKey)) ?? [];
      await txn.putJson(counterKey, [...sent, event.to]);
    });
    const lambda = inProcessLambda({ sendEmail });
    const handler = (fail: boolean) =>
      withTransaction(
        async (_event, txn) => {
          await txn.invoke('sendEmail', { to: 'ada@example.com' }, { mode: 'async' });
          if (fail) throw new Error('changed my mind');
        },
        { url: shim.url, invoker: lambda.invoker },
      );
    await expect(handler(true)({}, fakeContext())).rejects.toThrow('changed my mind');
    expect(lambda.asyncCalls).toHaveLength(0);

    const context = fakeContext();
    await handler(false)({}, context);
    // A retry of the committed request replays and sends the call again.
    await handler(false)({}, context);
    expect(lambda.asyncCalls).toHaveLength(2);
    expect(lambda.asyncCalls[0]).toEqual(lambda.asyncCalls[1]);
    // Delivered twice (and once more by Lambda's own retry): applied once.
    for (const call of [...lambda.asyncCalls, lambda.asyncCalls[0]!])
      await sendEmail(call.payload as never, fakeContext());
    expect(JSON.parse((await read(counterKey))!)).toEqual(['ada@example.com']);
  });
});

describe('settings', () => {
  it('explicit options win over AFT_* variables, which win over defaults', () => {
    const env = {
      AFT_URL: 'http://env:1',
      AFT_TOKEN: 't',
      AFT_TIMEOUT_MARGIN_MS: '250',
      AFT_IDEMPOTENCY: 'off',
    };
    expect(resolveLambdaSettings({ url: 'http://explicit:2', attempts: 5 }, env)).toEqual({
      url: 'http://explicit:2',
      token: 't',
      tokenSecretArn: undefined,
      timeoutMarginMs: 250,
      idempotency: false,
      attempts: 5,
      requestTimeoutMs: 10_000,
    });
  });

  it('a missing or malformed setting is a typed error naming it', () => {
    expect(() => resolveLambdaSettings({}, {})).toThrow(LambdaConfigError);
    expect(() => resolveLambdaSettings({}, { AFT_URL: 'not a url' })).toThrow(/not a URL/);
    expect(() => resolveLambdaSettings({}, { AFT_URL: 'http://x', AFT_ATTEMPTS: '0' })).toThrow(
      /AFT_ATTEMPTS/,
    );
    expect(() => resolveLambdaSettings({}, { AFT_URL: 'http://x', AFT_IDEMPOTENCY: 'maybe' })).toThrow(
      /AFT_IDEMPOTENCY/,
    );
  });

  it('reads the token from Secrets Manager once, when AFT_TOKEN_SECRET_ARN names it', async () => {
    // A shim with auth on, and a Secrets Manager endpoint on 127.0.0.1 that holds its token.
    const secured = await startShim({ port: 0, storage: 'memory:', env: { AFT_TOKENS: 'from-the-secret' } });
    await secured.ready;
    const asked: string[] = [];
    const secrets = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        asked.push(
          `${request.headers['x-amz-target']} ${(JSON.parse(body) as { SecretId: string }).SecretId}`,
        );
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(
          JSON.stringify({
            ARN: 'arn:aws:secretsmanager:us-east-1:0:secret:aft',
            SecretString: 'from-the-secret',
          }),
        );
      });
    });
    await new Promise<void>((resolve) => secrets.listen(0, '127.0.0.1', resolve));
    const secretsClient = new SecretsManagerClient({
      endpoint: `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const handler = withTransaction(async (_event, txn) => txn.put(unique('k'), 'v'), {
      secretsClient,
      env: { AFT_URL: secured.url, AFT_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:0:secret:aft' },
    });
    await handler({}, fakeContext());
    await handler({}, fakeContext());
    expect(asked).toEqual(['secretsmanager.GetSecretValue arn:aws:secretsmanager:us-east-1:0:secret:aft']);
    secretsClient.destroy();
    secrets.close();
    await secured.close();
  });

  it('a handler without a URL fails its request with that error', async () => {
    const handler = withTransaction(async () => 'never', { env: {} });
    await expect(handler({}, fakeContext())).rejects.toBeInstanceOf(LambdaConfigError);
  });
});
