/**
 * What aft sets on the AWS clients it creates (adapters/aws-clients.ts): the SDK's logger
 * middleware goes when no logger would read it; a logger of the user's, or a client of the
 * user's, is left as it is.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDbAdapter } from '../../adapters/dynamodb.js';
import { S3Adapter } from '../../adapters/s3.js';

interface WithClient {
  readonly middlewareStack: { identify(): string[] };
}

/** The adapter's client, made as its first storage call would make it. */
async function clientOf(adapter: DynamoDbAdapter | S3Adapter): Promise<WithClient> {
  const made = adapter as unknown as { db?: () => Promise<WithClient>; s3?: () => Promise<WithClient> };
  return (made.db ?? made.s3)!.call(adapter);
}

function logs(client: WithClient): boolean {
  return client.middlewareStack.identify().some((entry) => entry.startsWith('loggerMiddleware'));
}

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const endpoint = 'http://127.0.0.1:1';
const credentials = { accessKeyId: 'x', secretAccessKey: 'y' };
const region = 'us-east-1';

describe('the AWS clients aft creates', () => {
  it('carry no logger middleware when no logger was given', async () => {
    const dynamo = new DynamoDbAdapter({ clientConfig: { endpoint, credentials, region } });
    const s3 = new S3Adapter({ bucket: 'b', clientConfig: { endpoint, credentials, region } });
    try {
      expect(logs(await clientOf(dynamo))).toBe(false);
      expect(logs(await clientOf(s3))).toBe(false);
    } finally {
      await dynamo.close();
      await s3.close();
    }
  });

  it("keep it for the user's logger, and leave the user's own client as it is", async () => {
    const dynamo = new DynamoDbAdapter({ clientConfig: { endpoint, credentials, region, logger } });
    const s3 = new S3Adapter({ bucket: 'b', clientConfig: { endpoint, credentials, region, logger } });
    const ownClient = new DynamoDBClient({ endpoint, credentials, region });
    const ownS3 = new S3Client({ endpoint, credentials, region });
    const withOwn = new DynamoDbAdapter({ client: ownClient });
    const withOwnS3 = new S3Adapter({ bucket: 'b', client: ownS3 });
    try {
      expect(logs(await clientOf(dynamo))).toBe(true);
      expect(logs(await clientOf(s3))).toBe(true);
      expect(await clientOf(withOwn)).toBe(ownClient);
      expect(logs(ownClient)).toBe(true);
      expect(await clientOf(withOwnS3)).toBe(ownS3);
      expect(logs(ownS3)).toBe(true);
    } finally {
      for (const adapter of [dynamo, s3, withOwn, withOwnS3]) await adapter.close();
      ownClient.destroy();
      ownS3.destroy();
    }
  });
});
