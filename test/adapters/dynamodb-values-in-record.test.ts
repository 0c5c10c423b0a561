/**
 * Small values in their commit record's item (docs/adapters/dynamodb.md): a commit of a few
 * small keys is one TransactWriteItems of the record and its ticket, not an item per key;
 * every read finds those values where they are, whether or not the adapter reading wrote or
 * listed the record, and they go with the record.
 */
import { type DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { CommitRecord, VersionWrite } from '../../adapters/contract.js';
import { recordPartition, VALUES_IN_RECORD_BYTES } from '../../adapters/dynamodb/items.js';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { versionAt } from '../conformance/suite.js';
import { bytes, localDynamoClient, recordOf } from '../helpers/dynamodb-local.js';
import { uniquePrefix } from '../servers/engines.js';

/** A client that notes each command's name, and the items of each TransactWriteItems. */
function countingClient(): { client: DynamoDBClient; commands: string[]; transactionItems: number[] } {
  const client = localDynamoClient();
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

  it('writes every value as an item of its own where valuesInRecord is false (a tier upgraded node by node)', async () => {
    const counted = countingClient();
    const older = new DynamoDbAdapter({ client: counted.client, tablePrefix: prefix, valuesInRecord: false });
    try {
      const v = versionAt(81_500);
      const versions = ['old-a', 'old-b'].map((key) => ({ key, versionId: v, value: bytes(key) }));
      expect(await older.putVersionsAndRecord!(versions, recordOf(v, ['old-a', 'old-b']))).toBe(true);
      expect(counted.transactionItems).toEqual([3]);
      for (const { key } of versions) expect(await versionItems(key)).toBe(1);
      for (const { key, value } of versions)
        expect(await writer.getVersion({ key, versionId: v })).toEqual(value);
    } finally {
      await older.close();
      counted.client.destroy();
    }
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

  it('an adapter whose own commits keep their values in records reads a peer’s there first: one request', async () => {
    const v = versionAt(85_000);
    const versions = ['peer-a', 'peer-b'].map((key) => ({
      key,
      versionId: v,
      value: bytes(`${key} at ${v}`),
    }));
    expect(await commit(versions, recordOf(v, ['peer-a', 'peer-b']))).toBe('created');
    const big = versionAt(85_100);
    const bigValue = new Uint8Array(VALUES_IN_RECORD_BYTES).fill(5);
    expect(
      await commit([{ key: 'peer-big', versionId: big, value: bigValue }], recordOf(big, ['peer-big'])),
    ).toBe('created');
    const reader = countingClient();
    const node = new DynamoDbAdapter({ client: reader.client, tablePrefix: prefix });
    try {
      // Its own commits: small ones, their values in their records.
      for (let i = 0; i < 7; i += 1) {
        const own = versionAt(85_200 + i);
        expect(
          await node.putVersionsAndRecord!(
            [{ key: 'own', versionId: own, value: bytes(`${i}`) }],
            recordOf(own, ['own']),
          ),
        ).toBe(true);
      }
      reader.commands.length = 0;
      expect(await node.getVersion({ key: 'peer-a', versionId: v })).toEqual(versions[0]!.value);
      expect(reader.commands).toEqual(['GetItemCommand']);
      // A peer's value in an item of its own: the record first, then the item.
      reader.commands.length = 0;
      expect(await node.getVersion({ key: 'peer-big', versionId: big })).toEqual(bigValue);
      expect(reader.commands).toEqual(['GetItemCommand', 'QueryCommand']);
    } finally {
      await node.close();
      reader.client.destroy();
    }
  });

  it('a value in the record goes with the record: deleting it sends nothing where the adapter knows, and writes nothing', async () => {
    const v = versionAt(84_000);
    const keys = ['p', 'q', ...oddKeys];
    const versions = keys.map((key) => ({ key, versionId: v, value: bytes(`${key.length}`) }));
    expect(await commit(versions, recordOf(v, keys))).toBe('created');
    const refs = keys.map((key) => ({ key, versionId: v }));
    commands.length = 0;
    await writer.deleteVersions(refs);
    expect(commands).toEqual([]);
    // An adapter that never saw the record (a collector started afresh) looks for their
    // items, then for their record, finds them there, and sends nothing more: no query a
    // version, no write.
    const reader = countingClient();
    const fresh = new DynamoDbAdapter({ client: reader.client, tablePrefix: prefix });
    try {
      await fresh.deleteVersions(refs);
      expect(reader.commands).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand']);
    } finally {
      await fresh.close();
      reader.client.destroy();
    }
    expect(await writer.getCommitRecord(v)).toEqual(recordOf(v, keys));
    // The record's deletion takes them.
    await writer.deleteCommitRecords([v]);
    for (const ref of refs) expect(await writer.getVersion(ref)).toBeUndefined();
    const item = await client.send(
      new GetItemCommand({
        TableName: writer.commitsTable,
        Key: { b: { S: recordPartition(v) }, v: { S: v } },
        ConsistentRead: true,
      }),
    );
    expect(item.Item).toBeUndefined();
  });
});
