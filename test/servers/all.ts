/** Starts every storage server the engine-parametrized suites and the benchmarks use, in parallel. */

import { startDynamoDbLocal } from './dynamodb.js';
import { type RunningServer, startRedis, startRedisCluster } from './redis.js';
import { startS3rver } from './s3.js';

export interface TestServers {
  /** AFT_TEST_* variables naming each server's storage URL. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startTestServers(): Promise<TestServers> {
  const names = [
    'AFT_TEST_REDIS_URL',
    'AFT_TEST_REDIS_CLUSTER_URL',
    'AFT_TEST_S3_URL',
    'AFT_TEST_DYNAMODB_URL',
  ] as const;
  const starts = [startRedis(), startRedisCluster(), startS3rver(), startDynamoDbLocal()];
  const results = await Promise.allSettled(starts);
  const running = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    await Promise.all(running.map((server: RunningServer) => server.stop()));
  };
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const env: Record<string, string> = {};
  names.forEach((name, i) => {
    env[name] = running[i]!.url;
  });
  return { env, stop };
}
