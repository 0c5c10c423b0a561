/**
 * A commit's TransactWriteItems sent past the SDK's middleware (adapters/dynamodb/direct-transact.ts),
 * on DynamoDB Local, with the client's HTTP handler wrapped to count what is sent and to
 * lose or refuse chosen answers: whatever the direct attempt cannot tell, the SDK sends
 * again as the same idempotent transaction.
 */
import {
  DescribeTableCommand,
  DynamoDBClient,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { CommitRecord, VersionWrite } from '../../adapters/contract.js';
import { DirectTransactWrites } from '../../adapters/dynamodb/direct-transact.js';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { versionAt } from '../conformance/suite.js';
import { bytes, localDynamoConfig, recordOf } from '../helpers/dynamodb-local.js';
import { uniquePrefix } from '../servers/engines.js';

type Handle = NodeHttpHandler['handle'];
type HandlerAnswer = Awaited<ReturnType<Handle>>;

/**
 * The SDK's own handler, seeing each request first: `fault` may answer a TransactWriteItems
 * itself ('throttle'), or let it through and lose its answer ('lose').
 */
class FaultyHandler extends NodeHttpHandler {
  /** The x-amz-target of each request, and whether the SDK's middleware built it. */
  readonly sent: Array<{ target: string; bySdk: boolean }> = [];
  faults: Array<'throttle' | 'lose' | 'abort' | 'shapeless'> = [];
  /** Called at an 'abort' fault, before the request goes on (with its signal aborted). */
  abortNow: () => void = () => {};

  override async handle(...[request, options]: Parameters<Handle>): Promise<HandlerAnswer> {
    const target = String(request.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    // The SDK's user-agent middleware adds this header; the direct attempt does not.
    this.sent.push({ target, bySdk: 'x-amz-user-agent' in request.headers });
    const fault = target === 'TransactWriteItems' ? this.faults.shift() : undefined;
    if (fault === 'throttle') {
      const { Readable } = await import('node:stream');
      return {
        response: {
          statusCode: 400,
          reason: 'Bad Request',
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: Readable.from([
            Buffer.from(
              JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
                message: 'Rate exceeded',
              }),
            ),
          ]),
        },
      } as unknown as HandlerAnswer;
    }
    if (fault === 'shapeless') {
      // An answer of a shape this SDK's handler never gives: no status code.
      const { Readable } = await import('node:stream');
      return { response: { headers: {}, body: Readable.from([]) } } as unknown as HandlerAnswer;
    }
    if (fault === 'abort') this.abortNow();
    const answer = await super.handle(request, options);
    if (fault === 'lose') {
      await new Promise((resolve) =>
        (answer.response.body as NodeJS.ReadableStream).resume().on('end', resolve),
      );
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    return answer;
  }
}

function adapterWith(handler: FaultyHandler, extra: { logger?: unknown; directCommits?: boolean } = {}) {
  return new DynamoDbAdapter({
    tablePrefix: `${uniquePrefix()}-`,
    ...(extra.directCommits !== undefined && { directCommits: extra.directCommits }),
    clientConfig: {
      ...localDynamoConfig(),
      requestHandler: handler,
      ...(extra.logger !== undefined && { logger: extra.logger as never }),
    },
  });
}

/** Runs `body` on a fresh adapter of its own tables, its client's handler a FaultyHandler. */
async function onAdapter(
  body: (adapter: DynamoDbAdapter, handler: FaultyHandler) => Promise<void>,
): Promise<void> {
  const handler = new FaultyHandler();
  const adapter = adapterWith(handler);
  try {
    await adapter.init();
    await body(adapter, handler);
  } finally {
    await adapter.close();
  }
}

async function commitOn(adapter: DynamoDbAdapter, at: number, keys = ['a', 'b']) {
  const v = versionAt(at);
  const versions: VersionWrite[] = keys.map((key) => ({ key, versionId: v, value: bytes(`${key} at ${v}`) }));
  await adapter.putEntry('tickets', `t${at}`, bytes('ready'));
  const outcome = await adapter.putVersionsAndRecordSwapping!(versions, recordOf(v, keys), {
    namespace: 'tickets',
    id: `t${at}`,
    expected: bytes('ready'),
    value: bytes(`spent ${v}`),
  });
  return { v, versions, outcome };
}

const transactions = (handler: FaultyHandler) =>
  handler.sent.filter(({ target }) => target === 'TransactWriteItems');

describe('DynamoDB commits sent past the SDK middleware', () => {
  it('sends a commit once, directly, once the client knows its endpoint; taken and refused answer as before', () =>
    onAdapter(async (adapter, handler) => {
      const { v, versions, outcome } = await commitOn(adapter, 90_000);
      expect(outcome).toBe('created');
      expect(transactions(handler)).toEqual([{ target: 'TransactWriteItems', bySdk: false }]);
      for (const { key, value } of versions)
        expect(await adapter.getVersion({ key, versionId: v })).toEqual(value);
      expect(await adapter.getCommitRecord(v)).toEqual(recordOf(v, ['a', 'b']));
      expect(await adapter.getEntry('tickets', 't90000')).toEqual(bytes(`spent ${v}`));
      // Its id taken: canceled, told by the direct attempt alone.
      handler.sent.length = 0;
      const again = await adapter.putVersionsAndRecordSwapping!(
        [{ key: 'c', versionId: v, value: bytes('late') }],
        recordOf(v, ['c']),
        { namespace: 'tickets', id: 't90000', expected: bytes(`spent ${v}`), value: bytes('x') },
      );
      expect(again).toBe('taken');
      // A ticket refused: canceled on the swap.
      await adapter.putEntry('tickets', 't90001', bytes('refused'));
      const refused = await adapter.putVersionsAndRecordSwapping!(
        [{ key: 'c', versionId: versionAt(90_001), value: bytes('late') }],
        recordOf(versionAt(90_001), ['c']),
        { namespace: 'tickets', id: 't90001', expected: bytes('ready'), value: bytes('x') },
      );
      expect(refused).toBe('refused');
      expect(transactions(handler)).toEqual([
        { target: 'TransactWriteItems', bySdk: false },
        { target: 'TransactWriteItems', bySdk: false },
      ]);
      expect(await adapter.getVersion({ key: 'c', versionId: versionAt(90_001) })).toBeUndefined();
    }));

  it('a direct attempt that landed and lost its answer is answered created by the SDK’s repeat, the same transaction', () =>
    onAdapter(async (adapter, handler) => {
      handler.faults = ['lose'];
      const { v, versions, outcome } = await commitOn(adapter, 91_000);
      // Without the shared ClientRequestToken the repeat would find its own record: 'taken'.
      expect(outcome).toBe('created');
      expect(transactions(handler)).toEqual([
        { target: 'TransactWriteItems', bySdk: false },
        { target: 'TransactWriteItems', bySdk: true },
      ]);
      for (const { key, value } of versions)
        expect(await adapter.getVersion({ key, versionId: v })).toEqual(value);
    }));

  it('an answer of a shape the attempt does not know is left to the SDK, not thrown', () =>
    onAdapter(async (adapter, handler) => {
      handler.faults = ['shapeless'];
      const { outcome } = await commitOn(adapter, 92_500);
      expect(outcome).toBe('created');
      expect(transactions(handler)).toEqual([
        { target: 'TransactWriteItems', bySdk: false },
        { target: 'TransactWriteItems', bySdk: true },
      ]);
    }));

  it('a throttled direct attempt is sent again by the SDK, with its retries', () =>
    onAdapter(async (adapter, handler) => {
      // The direct attempt, then the SDK's first try, both throttled; the SDK's retry lands.
      handler.faults = ['throttle', 'throttle'];
      const { outcome } = await commitOn(adapter, 92_000);
      expect(outcome).toBe('created');
      expect(transactions(handler)).toEqual([
        { target: 'TransactWriteItems', bySdk: false },
        { target: 'TransactWriteItems', bySdk: true },
        { target: 'TransactWriteItems', bySdk: true },
      ]);
    }));

  it('a signal aborted during the direct attempt rejects with its reason, and the SDK sends nothing more', () =>
    onAdapter(async (adapter, handler) => {
      const controller = new AbortController();
      handler.abortNow = () => controller.abort(new Error('caller gave up'));
      handler.faults = ['abort'];
      const v = versionAt(93_000);
      await expect(
        adapter.putVersionsAndRecord!([{ key: 'a', versionId: v, value: bytes('x') }], recordOf(v, ['a']), {
          signal: controller.signal,
        }),
      ).rejects.toThrow('caller gave up');
      expect(transactions(handler)).toEqual([{ target: 'TransactWriteItems', bySdk: false }]);
      expect(await adapter.getCommitRecord(v)).toBeUndefined();
    }));

  it('stops trying directly for a minute after three answers in a row it could not read', async () => {
    const handler = new FaultyHandler();
    const adapter = adapterWith(handler);
    const client = new DynamoDBClient({ ...localDynamoConfig(), requestHandler: handler });
    let clock = 1_000_000;
    const direct = new DirectTransactWrites(client, () => clock);
    try {
      await adapter.init();
      // Any request of the client tells the direct sender its endpoint.
      await client.send(new DescribeTableCommand({ TableName: adapter.commitsTable }));
      let n = 0;
      const input = (): TransactWriteItemsCommandInput => ({
        ClientRequestToken: `token-${++n}`,
        TransactItems: [
          { Put: { TableName: adapter.commitsTable, Item: { b: { S: 'e#test#0' }, v: { S: `x${n}` } } } },
        ],
      });
      handler.sent.length = 0;
      expect(await direct.attempt(input())).toBe('written');
      handler.faults = ['throttle', 'throttle', 'throttle'];
      for (let i = 0; i < 3; i += 1) expect(await direct.attempt(input())).toBe('unsure');
      expect(transactions(handler)).toHaveLength(4);
      // Paused: nothing sent.
      expect(await direct.attempt(input())).toBe('unsure');
      clock += 59_000;
      expect(await direct.attempt(input())).toBe('unsure');
      expect(transactions(handler)).toHaveLength(4);
      clock += 1_000;
      expect(await direct.attempt(input())).toBe('written');
      expect(transactions(handler)).toHaveLength(5);
      // Two unread answers, then a good one: the count starts again.
      handler.faults = ['throttle', 'throttle'];
      for (let i = 0; i < 2; i += 1) expect(await direct.attempt(input())).toBe('unsure');
      expect(await direct.attempt(input())).toBe('written');
      handler.faults = ['throttle', 'throttle'];
      for (let i = 0; i < 2; i += 1) expect(await direct.attempt(input())).toBe('unsure');
      expect(await direct.attempt(input())).toBe('written');
      expect(transactions(handler)).toHaveLength(11);
    } finally {
      client.destroy();
      await adapter.close();
    }
  });

  it('keeps every request in the SDK where the client has a logger, or directCommits is false', async () => {
    for (const extra of [
      { logger: { debug() {}, info() {}, warn() {}, error() {} } },
      { directCommits: false },
    ]) {
      const handler = new FaultyHandler();
      const adapter = adapterWith(handler, extra);
      try {
        await adapter.init();
        expect((await commitOn(adapter, 94_000)).outcome).toBe('created');
        expect(transactions(handler)).toEqual([{ target: 'TransactWriteItems', bySdk: true }]);
      } finally {
        await adapter.close();
      }
    }
  });
});
