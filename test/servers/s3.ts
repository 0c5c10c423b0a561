/**
 * s3rver (npm) for tests and benchmarks: an S3 API over a temp directory, with one bucket.
 * It runs in its own Node process with --openssl-legacy-provider, without which its
 * paginated ListObjectsV2 answers 500 on Node 17+, through s3rver-main.cjs, which works
 * around its crash when a DELETE empties a directory a PUT is writing into and its torn
 * objects when a client dies mid-PUT (S3 stores an object whole or not at all), and adds the
 * conditional writes (If-None-Match, If-Match) s3rver ignores, as S3 answers them
 * (test/adapters/s3rver-conditional.test.ts). It accepts only the credentials S3RVER/S3RVER.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess } from './managed-process.js';
import type { RunningServer } from './redis.js';

export const S3RVER_BUCKET = 'aft-test';

export async function startS3rver(): Promise<RunningServer> {
  const directory = await mkdtemp(join(tmpdir(), 'aft-s3rver-'));
  const port = await freePort();
  // This module runs only from dist/test/servers/ (as ESM), where import.meta is available.
  const main = fileURLToPath(new URL('../../../test/servers/s3rver-main.cjs', import.meta.url));
  const server = ManagedProcess.spawn(`s3rver :${port}`, process.execPath, [
    '--openssl-legacy-provider',
    main,
    directory,
    String(port),
    S3RVER_BUCKET,
  ]);
  const endpoint = `http://127.0.0.1:${port}`;
  await server.waitUntil(async () => (await fetch(`${endpoint}/${S3RVER_BUCKET}?list-type=2`)).status < 500);
  return {
    url: `s3://S3RVER:S3RVER@${S3RVER_BUCKET}/PREFIX?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}`,
    async stop() {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
