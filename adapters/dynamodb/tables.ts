/** `aft storage init` on DynamoDB: the two tables, on-demand, created unless they exist. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CallOptions } from '../contract.js';
import { dynamoSdk } from './sdk.js';

/** Creates both tables (on-demand capacity) unless they exist, and waits until they are active. */
export async function createTables(
  client: DynamoDBClient,
  tables: { readonly versionsTable: string; readonly commitsTable: string },
  options?: CallOptions,
): Promise<void> {
  const { CreateTableCommand, ResourceInUseException, waitUntilTableExists } = await dynamoSdk();
  const definitions = [
    { name: tables.versionsTable, partition: 'k' },
    { name: tables.commitsTable, partition: 'b' },
  ];
  for (const { name, partition } of definitions) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: partition, AttributeType: 'S' },
            { AttributeName: 'v', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: partition, KeyType: 'HASH' },
            { AttributeName: 'v', KeyType: 'RANGE' },
          ],
        }),
        { abortSignal: options?.signal },
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await waitUntilTableExists(
      {
        client: client,
        maxWaitTime: 300,
        minDelay: 1,
        maxDelay: 5,
        ...(options?.signal && { abortSignal: options.signal }),
      },
      { TableName: name },
    );
  }
}
