/**
 * The example checkout app (examples/checkout) end to end: `aft serve` on Redis, `aft
 * lambda-local` running each function in its own process under aws-lambda-ric, and
 * @aws-sdk/client-lambda calling them. A payment provider on 127.0.0.1 that the test
 * controls stands in for the real one, so a charge can be held to kill a function mid-handler.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { AftClient } from '../../lambda-layer/client.js';
import {
  type AftProcess,
  ROOT,
  startAftProcess,
  startLambdaLocalProcess,
  stopProcess,
} from '../helpers/processes.js';
import { ENGINES } from '../servers/engines.js';

const FUNCTIONS = join(ROOT, 'examples', 'checkout', 'functions');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A payment provider: one charge per idempotency key, cards ending 0002 declined (402); charges of held orders wait for release. */
class FakeProvider {
  readonly charges = new Map<string, { id: string; amountCents: number }>();
  /** Requests seen per order, duplicates included. */
  readonly requests = new Map<string, number>();
  private readonly held = new Map<
    string,
    { arrived: Promise<void>; arrive: () => void; release: () => void; released: Promise<void> }
  >();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  hold(orderId: string): { arrived: Promise<void>; release: () => void } {
    let arrive!: () => void;
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.held.set(orderId, { arrived, arrive, release, released });
    return { arrived, release };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of request) body += chunk;
    const orderId = String(request.headers['idempotency-key']);
    this.requests.set(orderId, (this.requests.get(orderId) ?? 0) + 1);
    const held = this.held.get(orderId);
    if (held) {
      held.arrive();
      await held.released;
    }
    const { amountCents, card } = JSON.parse(body) as { amountCents: number; card: string };
    if (card.endsWith('0002')) {
      response.writeHead(402, { 'content-type': 'application/json' }).end('{"error":"card_declined"}');
      return;
    }
    const charge = this.charges.get(orderId) ?? { id: `ch_${orderId}`, amountCents };
    this.charges.set(orderId, charge);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(charge));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let shim: AftProcess;
let local: AftProcess;
let provider: FakeProvider;
let lambda: LambdaClient;
let aft: AftClient;

beforeAll(async () => {
  provider = new FakeProvider();
  await provider.start();
  shim = await startAftProcess([], { AFT_STORAGE: await ENGINES.redis.freshStorageUrl() });
  local = await startLambdaLocalProcess(
    [
      '--functions',
      FUNCTIONS,
      '--async-retry-delay-ms',
      '200',
      '--env',
      `PAYMENT_PROVIDER_URL=${provider.url}`,
    ],
    { AFT_URL: shim.url },
  );
  lambda = new LambdaClient({
    endpoint: local.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  aft = new AftClient({ url: shim.url });
  await aft.run(async (tx) => {
    await tx.putMany([
      { key: 'stock/widget', value: '100' },
      { key: 'prices/widget', value: '1250' },
    ]);
  });
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  if (local) await stopProcess(local.child);
  if (shim) await stopProcess(shim.child);
  await provider?.close();
});

type Order = { orderId: string; sku: string; quantity: number; card: string };
const order = (orderId: string, quantity = 1, card = '4242424242424242'): Order => ({
  orderId,
  sku: 'widget',
  quantity,
  card,
});

async function checkout(
  body: Order,
  invocationType: 'RequestResponse' | 'Event' = 'RequestResponse',
): Promise<{ error?: { errorType: string; errorMessage: string }; value?: Record<string, unknown> }> {
  const answer = await lambda.send(
    new InvokeCommand({
      FunctionName: 'checkout',
      InvocationType: invocationType,
      Payload: JSON.stringify(body),
    }),
  );
  if (invocationType === 'Event') return {};
  const payload = JSON.parse(new TextDecoder().decode(answer.Payload)) as Record<string, unknown>;
  return answer.FunctionError
    ? { error: payload as { errorType: string; errorMessage: string } }
    : { value: payload };
}

/** What storage holds for an order, read in one transaction. */
async function state(orderId: string) {
  const tx = await aft.begin();
  const items = await tx.getMany([
    'stock/widget',
    'ledger/total-cents',
    `orders/${orderId}`,
    `payments/${orderId}`,
    `receipts/${orderId}`,
  ]);
  await tx.abort();
  const [stock, ledger, placed, payment, receipt] = items.map(({ value }) =>
    value === undefined ? undefined : (JSON.parse(new TextDecoder().decode(value)) as unknown),
  );
  return { stock: stock as number, ledger: (ledger as number | undefined) ?? 0, placed, payment, receipt };
}

async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}: ${JSON.stringify(value)}\nlambda-local:\n${local.output()}`,
      );
    }
    await sleep(50);
  }
}

describe('the checkout example on lambda-local, aft serve and Redis', () => {
  it('places an order: stock, payment, ledger and order commit together; the receipt follows once', async () => {
    const before = await state('e2e-1');
    const { value } = await checkout(order('e2e-1', 2));
    expect(value).toEqual({
      orderId: 'e2e-1',
      sku: 'widget',
      quantity: 2,
      amountCents: 2500,
      paymentId: 'pay_e2e-1',
    });
    const after = await state('e2e-1');
    expect(after).toMatchObject({
      stock: before.stock - 2,
      ledger: before.ledger + 2500,
      placed: value,
      payment: { paymentId: 'pay_e2e-1', chargeId: 'ch_e2e-1', amountCents: 2500 },
    });
    await eventually(
      () => state('e2e-1'),
      (s) => s.receipt !== undefined,
      'the receipt',
    );
  });

  it('a callee that throws aborts everything: nothing of the order is visible', async () => {
    const before = await state('e2e-declined');
    const { error } = await checkout(order('e2e-declined', 1, '4000000000000002'));
    expect(error?.errorType).toBe('FunctionError');
    expect(error?.errorMessage).toMatch(/PaymentDeclinedError: card ending 0002 was declined/);
    expect(await state('e2e-declined')).toEqual(before);
  });

  it('a function SIGKILLed mid-handler leaves nothing; Lambda’s retry commits exactly once', async () => {
    const before = await state('e2e-killed');
    const held = provider.hold('e2e-killed');
    await checkout(order('e2e-killed', 3), 'Event');
    await held.arrived;
    // Checkout has reserved stock and called payment, which is charging the card: kill checkout.
    const running = (await (await fetch(`${local.url}/local/functions`)).json()) as Record<
      string,
      { pid: number; requestId: string | null }[]
    >;
    const victim = running.checkout!.find((environment) => environment.requestId !== null)!;
    process.kill(victim.pid, 'SIGKILL');
    await sleep(100);
    expect(await state('e2e-killed')).toEqual(before);
    held.release();

    // lambda-local retries the event with the same request id, as Lambda does.
    const invocations = await eventually(
      async () =>
        (
          (await (await fetch(`${local.url}/local/async-invocations`)).json()) as {
            functionName: string;
            attempts: number;
            status: string;
          }[]
        ).filter((invocation) => invocation.functionName === 'checkout'),
      (list) => list.length === 1 && list[0]!.status !== 'running',
      'the retried checkout',
    );
    expect(invocations[0]).toMatchObject({ status: 'succeeded', attempts: 2 });
    const after = await state('e2e-killed');
    expect(after).toMatchObject({ stock: before.stock - 3, ledger: before.ledger + 3750 });
    expect(after.placed).toMatchObject({ orderId: 'e2e-killed', quantity: 3 });
    expect(provider.charges.get('e2e-killed')).toEqual({ id: 'ch_e2e-killed', amountCents: 3750 });
  });

  it('a request retried after its commit returns the recorded result and writes nothing', async () => {
    const first = await checkout(order('e2e-retried', 1));
    const afterFirst = await eventually(
      () => state('e2e-retried'),
      (s) => s.receipt !== undefined,
      'the receipt',
    );
    const requestsBefore = provider.requests.get('e2e-retried');
    const retry = await checkout(order('e2e-retried', 1));
    expect(retry).toEqual(first);
    expect(await state('e2e-retried')).toEqual(afterFirst);
    // The handler did not run again: payment was not even asked.
    expect(provider.requests.get('e2e-retried')).toBe(requestsBefore);
  });

  it('concurrent duplicates: one commits, every caller gets its result', async () => {
    const before = await state('e2e-concurrent');
    const answers = await Promise.all(Array.from({ length: 4 }, () => checkout(order('e2e-concurrent', 1))));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]!.value).toMatchObject({ orderId: 'e2e-concurrent' });
    expect(await state('e2e-concurrent')).toMatchObject({
      stock: before.stock - 1,
      ledger: before.ledger + 1250,
    });
  });

  it('a killed execution environment is replaced: a new process takes the next request', async () => {
    const running = (await (await fetch(`${local.url}/local/functions`)).json()) as Record<
      string,
      { pid: number }[]
    >;
    const killed = running.payment!.map((environment) => environment.pid);
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    // Lambda replaces an environment once it has died; a request racing the kill itself may
    // fail there too. Wait until lambda-local has seen every exit.
    await eventually(
      async () =>
        ((await (await fetch(`${local.url}/local/functions`)).json()) as Record<string, { pid: number }[]>)
          .payment ?? [],
      (environments) => environments.every((environment) => !killed.includes(environment.pid)),
      'the killed payment environments to be gone',
    );
    // The whole answer, so a failure shows the function error rather than `undefined`.
    expect(await checkout(order('e2e-after-kill', 1))).toMatchObject({
      value: { orderId: 'e2e-after-kill' },
    });
  });
});
