/**
 * What each request of a commit costs on DynamoDB Local, alone (issue 16, goal 4): the
 * baseline's TransactGetItems of 4 and TransactWriteItems of 2, a PutItem (an intent), and
 * aft's commit transaction, its 2 versions and conditional record, without and with the
 * ticket it spends (a put conditioned on the ticket's value). The requests take turns, 1,500
 * rounds, the first 500 dropped (DynamoDB Local's JVM warms up); p50 ms of each, and the CPU
 * this process spent sending it, from one client on its own tables; last, the commit as
 * aft sends it now (the record's item holding the values, and the ticket), through the SDK
 * and past its middleware (adapters/dynamodb/direct-transact.ts). Then an `aft serve`
 * node on the same DynamoDB Local runs the 2-request transaction (begin reading 4, commit
 * writing 2) one at a time: its p50, the node's CPU per transaction (user and system, from
 * `/proc/<pid>/stat`) and the storage calls it made per transaction (its metrics): where a
 * transaction's time goes beside the engine. Run: `node dist/bench/dynamodb-items.js`.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactGetItemsCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DirectTransactWrites } from '../adapters/dynamodb/direct-transact.js';
import { createAdapterFromUrl } from '../adapters/url.js';
import { AftClient } from '../lambda-layer/client.js';
import { startDynamoDbLocal } from '../test/servers/dynamodb.js';
import { processCpuSplit, summarize, time } from './measure.js';
import { benchTwoRequestTransaction, startShimProcess, storageCallsOf } from './shim-process.js';

const ROUNDS = Number(process.env.BENCH_DYNAMODB_ROUNDS ?? 1500);
const WARM_UP = Math.floor(ROUNDS / 3);
const VERSIONS = 'bench-versions';
const COMMITS = 'bench-commits';
const VALUE = { B: new Uint8Array(256) };
const READY = { B: Buffer.from('ready') };

async function main(): Promise<void> {
  const server = await startDynamoDbLocal();
  try {
    const endpoint = new URL(server.url).searchParams.get('endpoint') ?? undefined;
    const db = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    // Learns the endpoint from the requests below, as a node's does.
    const direct = new DirectTransactWrites(db);
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
    const requests: Record<string, () => Promise<{ ms: number; cpuMicros: number }>> = {
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
    // The commit as aft sends it now: the record's item holds the 2 values, then the ticket.
    const recordHoldingValues = (): TransactWriteItemsCommandInput => ({
      ClientRequestToken: randomUUID(),
      TransactItems: [
        {
          Put: {
            TableName: COMMITS,
            Item: {
              k: { S: `b#${n % 8}` },
              v: { S: `v${n}` },
              r: { S: 'x'.repeat(200) },
              i: { M: { [`kkey${(2 * n) % 1000}`]: VALUE, [`kkey${(2 * n + 1) % 1000}`]: VALUE } },
            },
            ConditionExpression: 'attribute_not_exists(v)',
          },
        },
        {
          Put: {
            TableName: COMMITS,
            Item: { ...ticketKey(), d: { B: Buffer.from(`spent v${n}`) } },
            ConditionExpression: 'd = :ready',
            ExpressionAttributeValues: { ':ready': READY },
          },
        },
      ],
    });
    requests['the record holding the 2 values + the ticket, through the SDK'] = async () => {
      await db.send(new PutItemCommand({ TableName: COMMITS, Item: { ...ticketKey(), d: READY } }));
      return timed(() => db.send(new TransactWriteItemsCommand(recordHoldingValues())));
    };
    requests['the same, sent past the SDK middleware (a node’s commit now)'] = async () => {
      await db.send(new PutItemCommand({ TableName: COMMITS, Item: { ...ticketKey(), d: READY } }));
      return timed(async () => {
        if ((await direct.attempt(recordHoldingValues())) !== 'written')
          throw new Error('direct send not written');
      });
    };
    const samples = new Map<string, number[]>(Object.keys(requests).map((name) => [name, []]));
    const cpu = new Map<string, number>(Object.keys(requests).map((name) => [name, 0]));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, request] of Object.entries(requests)) {
        n += 1;
        const { ms, cpuMicros } = await request();
        if (round < WARM_UP) continue;
        samples.get(name)!.push(ms);
        cpu.set(name, cpu.get(name)! + cpuMicros);
      }
    }
    const rounds = ROUNDS - WARM_UP;
    console.log(
      `| request (DynamoDB Local, ${rounds} rounds after ${WARM_UP}) | p50 ms | client CPU µs per request |`,
    );
    console.log('|---|---|---|');
    for (const [name, ms] of samples) {
      console.log(`| ${name} | ${summarize(ms).p50.toFixed(2)} | ${(cpu.get(name)! / rounds).toFixed(0)} |`);
    }
    db.destroy();
    await aftNode(server.url);
  } finally {
    await server.stop();
  }
}

async function timed(request: () => Promise<unknown>): Promise<{ ms: number; cpuMicros: number }> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await request();
  const ms = performance.now() - started;
  const { user, system } = process.cpuUsage(cpuBefore);
  return { ms, cpuMicros: user + system };
}

/** aft's 2-request transaction through a node on `storageUrl`'s DynamoDB Local, one at a time. */
async function aftNode(storageUrl: string): Promise<void> {
  const url = storageUrl.replace('PREFIX', `bench-node-${Date.now().toString(36)}-`);
  const adapter = createAdapterFromUrl(url);
  await adapter.init?.();
  await adapter.close();
  const { url: nodeUrl, child } = await startShimProcess(url);
  try {
    const client = new AftClient({ url: nodeUrl });
    const value = new Uint8Array(256);
    for (let i = 0; i < WARM_UP; i += 1) await benchTwoRequestTransaction(client, 1000, value);
    const callsBefore = await storageCallsOf(nodeUrl);
    const cpuBefore = processCpuSplit(child.pid!);
    const latencies: number[] = [];
    const count = ROUNDS - WARM_UP;
    for (let i = 0; i < count; i += 1) {
      latencies.push(await time(() => benchTwoRequestTransaction(client, 1000, value)));
    }
    const cpuAfter = processCpuSplit(child.pid!);
    const callsAfter = await storageCallsOf(nodeUrl);
    const perTx = [...callsAfter]
      .map(([operation, calls]) => [operation, (calls - (callsBefore.get(operation) ?? 0)) / count] as const)
      .filter(([, calls]) => calls >= 0.001)
      .sort((a, b) => b[1] - a[1])
      .map(([operation, calls]) => `${operation} ${calls.toFixed(3)}`)
      .join(', ');
    console.log('');
    console.log(
      `| aft on the same DynamoDB Local: ${count} transactions of 2 requests after ${WARM_UP} | p50 ms | node CPU µs per tx, user | system | storage calls per tx |`,
    );
    console.log('|---|---|---|---|---|');
    console.log(
      `| begin reading 4, commit writing 2 | ${summarize(latencies).p50.toFixed(2)} | ${((cpuAfter.user - cpuBefore.user) / count).toFixed(0)} | ${((cpuAfter.system - cpuBefore.system) / count).toFixed(0)} | ${perTx} |`,
    );
  } finally {
    child.kill();
  }
}

await main();
