/**
 * What the DynamoDB adapter's own tests share: a client of the suite's DynamoDB Local (the
 * global setup's `AFT_TEST_DYNAMODB_URL`), and small records to write.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { CommitRecord } from '../../adapters/contract.js';

/** The client configuration that reaches the suite's DynamoDB Local. */
export function localDynamoConfig(): DynamoDBClientConfig & { endpoint: string } {
  const url = process.env.AFT_TEST_DYNAMODB_URL!;
  return {
    endpoint: decodeURIComponent(/endpoint=([^&]+)/.exec(url)![1]!),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}

export function localDynamoClient(): DynamoDBClient {
  return new DynamoDBClient(localDynamoConfig());
}

export const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));

/** A commit record writing `keys` at `versionId`, its txid taken from the id. */
export function recordOf(versionId: string, keys: string[]): CommitRecord {
  return { versionId, txid: `${versionId.split('.')[1]}`, writeSet: keys, deleted: [] };
}
