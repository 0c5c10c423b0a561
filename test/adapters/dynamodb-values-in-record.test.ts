/**
 * Small values in their commit record's item (docs/adapters/dynamodb.md): a commit of a few
 * small keys is one TransactWriteItems of the record and its ticket, not an item per key;
 * every read, listing and deletion finds those values where they are, whether or not the
 * adapter reading wrote or listed the record.
 */
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { CommitRecord, VersionWrite } from '../../adapters/contract.js';
import { recordPartition, VALUES_IN_RECORD_BYTES } from '../../adapters/dynamodb/items.js';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { versionAt } from '../conformance/suite.js';
import { uniquePrefix } from '../servers/engines.js';

function localClient(): DynamoDBClient {
  const url = process.env.AFT_TEST_DYNAMODB_URL!;
  return new DynamoDBClient({
    endpoint: decodeURIComponent(/endpoint=([^&]+)/.exec(url)![1]!),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A client that notes each command's name, and the items of each TransactWriteItems. */
function countingClient(): { client: DynamoDBClient; commands: string[]; transactionItems: number[] } {
  const client = localClient();
  const commands: string[] = [];
  const transactionItems: number[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '');
      if (context.commandName === 'TransactWriteItemsCommand') {
        transactionItems.push((args.input as { TransactItems: unknown[] }).TransactItems.length);
      }
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return { client, commands, transactionItems };
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const recordOf = (versionId: string, keys: string[]): CommitRecord => ({
  versionId,
  txid: `${versionId.split('.')[1]}`,
  writeSet: keys,
  deleted: [],
});
/** Keys a map's names must take as they are: dots, a leading #, a prototype's name, the longest. */
const oddKeys = ['a.b', '#x', '__proto__', 'ключ', 'k'.repeat(1024)];

describe('DynamoDB: small values in the record item', () => {
  const prefix = `${uniquePrefix()}-`;
  const { client, commands, transactionItems } = countingClient();
  const writer = new DynamoDbAdapter({ client, tablePrefix: prefix });
  const ticket = { namespace: 'tickets', id: 'values-in-record' };

  beforeAll(async () => {
    await writer.init();
  });
  afterAll(async () => {
    await writer.close();
    client.destroy();
  });

  /** A commit spending a fresh ticket, as the shim's one-round-trip commit does. */
  async function commit(versions: VersionWrite[], record: CommitRecord): Promise<string> {
    await writer.putEntry(ticket.namespace, ticket.id, bytes('ready'));
    transactionItems.length = 0;
    const outcome = await writer.putVersionsAndRecordSwapping!(versions, record, {
      ...ticket,
      expected: bytes('ready'),
      value: bytes(`spent ${record.versionId}`),
    });
    return outcome;
  }

  async function versionItems(key: string): Promise<number> {
    const answer = await client.send(
      new QueryCommand({
        TableName: writer.versionsTable,
        KeyConditionExpression: 'k = :k',
        ExpressionAttributeValues: { ':k': { S: key } },
        ConsistentRead: true,
      }),
    );
    return answer.Items?.length ?? 0;
  }

  it('writes a commit of small values as two items, the record (holding them) and its ticket', async () => {
    const v = versionAt(80_000);
    const keys = ['a', 'b', ...oddKeys];
    const versions = keys.map((key) => ({ key, versionId: v, value: bytes(`${key.length} at ${v}`) }));
    expect(await commit(versions, recordOf(v, keys))).toBe('created');
    expect(transactionItems).toEqual([2]);
    for (const key of keys) expect(await versionItems(key)).toBe(0);
    for (const { key, value } of versions)
      expect(await writer.getVersion({ key, versionId: v })).toEqual(value);
    // The record reads as it was written; a key it did not write has no version there.
    expect(await writer.getCommitRecord(v)).toEqual(recordOf(v, keys));
    expect(await writer.getVersion({ key: 'c', versionId: v })).toBeUndefined();
    expect(await writer.getVersion({ key: 'a', versionId: versionAt(80_001) })).toBeUndefined();
  });

  it('writes values past one read unit as items of their own, as before', async () => {
    const v = versionAt(81_000);
    const big = new Uint8Array(VALUES_IN_RECORD_BYTES).fill(3);
    const versions = [
      { key: 'small', versionId: v, value: bytes('small') },
      { key: 'big', versionId: v, value: big },
    ];
    expect(await commit(versions, recordOf(v, ['small', 'big']))).toBe('created');
    expect(transactionItems).toEqual([4]);
    expect(await versionItems('big')).toBe(1);
    expect(await writer.getVersion({ key: 'big', versionId: v })).toEqual(big);
    expect(await writer.getVersion({ key: 'small', versionId: v })).toEqual(bytes('small'));
  });

  it('a commit whose id is taken or whose ticket is refused writes no value anywhere', async () => {
    const v = versionAt(82_000);
    expect(await commit([{ key: 'first', versionId: v, value: bytes('1') }], recordOf(v, ['first']))).toBe(
      'created',
    );
    expect(await commit([{ key: 'second', versionId: v, value: bytes('2') }], recordOf(v, ['second']))).toBe(
      'taken',
    );
    expect(await writer.getVersion({ key: 'second', versionId: v })).toBeUndefined();
    expect(await writer.getVersion({ key: 'first', versionId: v })).toEqual(bytes('1'));
    const refused = versionAt(82_100);
    await writer.putEntry(ticket.namespace, ticket.id, bytes('refused'));
    const outcome = await writer.putVersionsAndRecordSwapping!(
      [{ key: 'first', versionId: refused, value: bytes('late') }],
      recordOf(refused, ['first']),
      { ...ticket, expected: bytes('ready'), value: bytes('spent') },
    );
    expect(outcome).toBe('refused');
    expect(await writer.getVersion({ key: 'first', versionId: refused })).toBeUndefined();
  });

  it('another adapter reads those values before and after it lists the record: one request each once it has', async () => {
    const v = versionAt(83_000);
    const versions = ['x', 'y'].map((key) => ({ key, versionId: v, value: bytes(`${key} at ${v}`) }));
    expect(await commit(versions, recordOf(v, ['x', 'y']))).toBe('created');
    const reader = countingClient();
    const fresh = new DynamoDbAdapter({ client: reader.client, tablePrefix: prefix });
    try {
      // Never seen the record: the version's items first, then the record's.
      expect(await fresh.getVersion({ key: 'x', versionId: v })).toEqual(versions[0]!.value);
      expect(reader.commands).toEqual(['QueryCommand', 'GetItemCommand']);
      // Listed it: straight to the record's item.
      expect((await fresh.listCommitRecords(versionAt(82_999))).map((record) => record.versionId)).toContain(
        v,
      );
      reader.commands.length = 0;
      expect(await fresh.getVersion({ key: 'y', versionId: v })).toEqual(versions[1]!.value);
      expect(reader.commands).toEqual(['GetItemCommand']);
    } finally {
      await fresh.close();
      reader.client.destroy();
    }
  });

  it('deletes values from the record item, one update a record, and never writes a record deleted meanwhile', async () => {
    const v = versionAt(84_000);
    const keys = ['p', 'q', 'r', ...oddKeys];
    const versions = keys.map((key) => ({ key, versionId: v, value: bytes(`${key.length}`) }));
    expect(await commit(versions, recordOf(v, keys))).toBe('created');
    // The writer knows where they are: one UpdateItem, no look-up of version items.
    commands.length = 0;
    await writer.deleteVersions([
      { key: 'p', versionId: v },
      { key: 'a.b', versionId: v },
    ]);
    expect(commands).toEqual(['UpdateItemCommand']);
    expect(await writer.getVersion({ key: 'p', versionId: v })).toBeUndefined();
    expect(await writer.getVersion({ key: 'a.b', versionId: v })).toBeUndefined();
    expect(await writer.getVersion({ key: 'q', versionId: v })).toEqual(bytes('1'));
    expect(await writer.getCommitRecord(v)).toEqual(recordOf(v, keys));
    // An adapter that never saw the record (a collector started afresh) finds them too.
    const fresh = new DynamoDbAdapter({ client: localClient(), tablePrefix: prefix });
    try {
      await fresh.deleteVersions(keys.map((key) => ({ key, versionId: v })));
      for (const key of keys) expect(await writer.getVersion({ key, versionId: v })).toBeUndefined();
      expect(await writer.getCommitRecord(v)).toEqual(recordOf(v, keys));
      // Deleting again, and deleting values of a record that is gone: nothing fails, nothing
      // is written (an update would otherwise make an item of the record's key).
      await fresh.deleteVersions([{ key: 'q', versionId: v }]);
      await writer.deleteCommitRecords([v]);
      await writer.deleteVersions([{ key: 'q', versionId: v }]);
      await fresh.deleteVersions([{ key: 'q', versionId: versionAt(84_100) }]);
      for (const id of [v, versionAt(84_100)]) {
        const item = await client.send(
          new GetItemCommand({
            TableName: writer.commitsTable,
            Key: { b: { S: recordPartition(id) }, v: { S: id } },
            ConsistentRead: true,
          }),
        );
        expect(item.Item).toBeUndefined();
      }
    } finally {
      await fresh.close();
    }
  });
});
