/**
 * What each request of a commit costs on DynamoDB Local, alone (issue 16, goal 4): the
 * baseline's TransactGetItems of 4 and TransactWriteItems of 2, a PutItem (an intent), and
 * aft's commit transaction, its 2 versions and conditional record, without and with the
 * ticket it spends (a put conditioned on the ticket's value). The requests take turns, 1,500
 * rounds, the first 500 dropped (DynamoDB Local's JVM warms up); p50 ms of each, from one
 * client on its own tables. Run: `node dist/bench/dynamodb-items.js`.
 */
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactGetItemsCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../test/servers/dynamodb.js';

const ROUNDS = Number(process.env.BENCH_DYNAMODB_ROUNDS ?? 1500);
const WARM_UP = Math.floor(ROUNDS / 3);
const VERSIONS = 'bench-versions';
const COMMITS = 'bench-commits';
const VALUE = { B: new Uint8Array(256) };
const READY = { B: Buffer.from('ready') };

function p50(samples: readonly number[]): number {
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const server = await startDynamoDbLocal();
  try {
    const endpoint = new URL(server.url).searchParams.get('endpoint') ?? undefined;
    const db = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    for (const TableName of [VERSIONS, COMMITS]) {
      await db.send(
        new CreateTableCommand({
          TableName,
          AttributeDefinitions: [
            { AttributeName: 'k', AttributeType: 'S' },
            { AttributeName: 'v', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'k', KeyType: 'HASH' },
            { AttributeName: 'v', KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    }
    let n = 0;
    const versions = (): TransactWriteItem[] =>
      [0, 1].map((i) => ({
        Put: {
          TableName: VERSIONS,
          Item: { k: { S: `key${(2 * n + i) % 1000}` }, v: { S: `v${n}` }, d: VALUE },
        },
      }));
    const record = (): TransactWriteItem => ({
      Put: {
        TableName: COMMITS,
        Item: { k: { S: `b#${n % 8}` }, v: { S: `v${n}` }, r: { S: 'x'.repeat(200) } },
        ConditionExpression: 'attribute_not_exists(v)',
      },
    });
    const ticketKey = () => ({ k: { S: `e#tickets#${n % 8}` }, v: { S: `t${n}` } });
    const requests: Record<string, () => Promise<number>> = {
      'TransactGetItems of 4 (the baseline read)': () =>
        timed(() =>
          db.send(
            new TransactGetItemsCommand({
              TransactItems: [0, 1, 2, 3].map((i) => ({
                Get: {
                  TableName: VERSIONS,
                  Key: { k: { S: `key${(n + 7 * i) % 1000}` }, v: { S: `v${n - 10}` } },
                },
              })),
            }),
          ),
        ),
      'TransactWriteItems of 2 puts (the baseline write)': () =>
        timed(() => db.send(new TransactWriteItemsCommand({ TransactItems: versions() }))),
      'PutItem (an intent)': () =>
        timed(() => db.send(new PutItemCommand({ TableName: COMMITS, Item: { ...ticketKey(), d: VALUE } }))),
      '2 versions + the record (the commit after an intent)': () =>
        timed(() => db.send(new TransactWriteItemsCommand({ TransactItems: [...versions(), record()] }))),
      '2 versions + the record + the ticket (the commit spending a ticket)': async () => {
        await db.send(new PutItemCommand({ TableName: COMMITS, Item: { ...ticketKey(), d: READY } }));
        return timed(() =>
          db.send(
            new TransactWriteItemsCommand({
              TransactItems: [
                ...versions(),
                record(),
                {
                  Put: {
                    TableName: COMMITS,
                    Item: { ...ticketKey(), d: { B: Buffer.from(`spent v${n}`) } },
                    ConditionExpression: 'd = :ready',
                    ExpressionAttributeValues: { ':ready': READY },
                  },
                },
              ],
            }),
          ),
        );
      },
    };
    const samples = new Map<string, number[]>(Object.keys(requests).map((name) => [name, []]));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, request] of Object.entries(requests)) {
        n += 1;
        const ms = await request();
        if (round >= WARM_UP) samples.get(name)!.push(ms);
      }
    }
    console.log(`| request (DynamoDB Local, ${ROUNDS - WARM_UP} rounds after ${WARM_UP}) | p50 ms |`);
    console.log('|---|---|');
    for (const [name, ms] of samples) console.log(`| ${name} | ${p50(ms).toFixed(2)} |`);
    db.destroy();
  } finally {
    await server.stop();
  }
}

async function timed(request: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await request();
  return performance.now() - started;
}

await main();
