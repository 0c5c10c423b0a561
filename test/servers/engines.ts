/**
 * The storage engines every parametrized suite runs on. The servers are started once per
 * Jest run by test/global-setup.ts, which passes their URLs in AFT_TEST_* variables; each
 * call of `freshStorageUrl` names a new, empty, initialized store on them (a new key
 * prefix, bucket prefix or table set), so tests never see each other's data. The S3 and
 * DynamoDB URLs hold the placeholder PREFIX where that goes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdapterFromUrl } from '../../adapters/url.js';

export interface TestEngine {
  readonly name: string;
  freshStorageUrl(): Promise<string>;
}

let counter = 0;
/** A prefix no other store of this run uses: safe in Redis keys, S3 keys and table names. */
export function uniquePrefix(): string {
  counter += 1;
  return `t${process.pid.toString(36)}${Date.now().toString(36)}${counter.toString(36)}`;
}

function required(variable: string): string {
  const value = process.env[variable];
  if (!value) throw new Error(`${variable} is not set: run the tests through Jest's global setup`);
  return value;
}

async function initialized(url: string): Promise<string> {
  const adapter = createAdapterFromUrl(url);
  try {
    await adapter.init?.();
  } finally {
    await adapter.close();
  }
  return url;
}

/** Adds `name=value` to a URL's query. */
export function withParam(url: string, name: string, value: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${name}=${encodeURIComponent(value)}`;
}

export const ENGINES = {
  memory: { name: 'memory', freshStorageUrl: async () => 'memory:' },
  file: {
    name: 'file',
    freshStorageUrl: async () => `file:${mkdtempSync(join(tmpdir(), 'aft-engine-'))}?fsync=false`,
  },
  /** The file store as shipped: every file and directory synced before a write is acknowledged. */
  fileSynced: {
    name: 'file (fsync on)',
    freshStorageUrl: async () => `file:${mkdtempSync(join(tmpdir(), 'aft-engine-'))}`,
  },
  redis: {
    name: 'redis',
    freshStorageUrl: async () => withParam(required('AFT_TEST_REDIS_URL'), 'prefix', `${uniquePrefix()}:`),
  },
  redisCluster: {
    name: 'redis-cluster',
    freshStorageUrl: async () =>
      withParam(required('AFT_TEST_REDIS_CLUSTER_URL'), 'prefix', `${uniquePrefix()}:`),
  },
  s3: {
    name: 's3',
    freshStorageUrl: () => initialized(required('AFT_TEST_S3_URL').replace('PREFIX', uniquePrefix())),
  },
  dynamodb: {
    name: 'dynamodb',
    freshStorageUrl: () =>
      initialized(required('AFT_TEST_DYNAMODB_URL').replace('PREFIX', `${uniquePrefix()}-`)),
  },
} as const satisfies Record<string, TestEngine>;
