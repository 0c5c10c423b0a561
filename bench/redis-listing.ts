/**
 * Listing a large namespace of entries on Redis in pages of 1,000, as the GC pass lists the
 * idempotency claims (adapters/listing-rests.ts); a section of `npm run bench`
 * (`BENCH_REDIS_LISTING=off` skips it). One adapter lists it whole, keeping the rest of the
 * listing for its next pages; then each page comes from a fresh adapter, which keeps nothing,
 * as every page did before: one HGETALL of the whole namespace per page. Redis's own time in
 * HGETALL is from `INFO commandstats` (a command Redis runs blocks every other client).
 * Then 30 GC passes a second apart over the same number of committed claims: with the
 * collector's index kept, as `aft serve` runs them (claims listed by the pass that lists
 * everything, once a minute), and listing everything every pass (as the claims were).
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisAdapter } from '../adapters/redis.js';
import { collectGarbage } from '../gc/collector.js';
import { CommitIndex } from '../gc/commit-index.js';
import { encodeClaim, epochAt } from '../shim/idempotency.js';
import { IDEMPOTENCY_NAMESPACE } from '../shim/namespaces.js';

const GC_PASSES = 30;
const CLAIM_TTL_MS = 3_600_000;

async function hgetallStats(client: Redis): Promise<{ calls: number; micros: number }> {
  const match = /cmdstat_hgetall:calls=(\d+),usec=(\d+)/.exec(await client.info('commandstats'));
  return { calls: Number(match?.[1] ?? 0), micros: Number(match?.[2] ?? 0) };
}

/** Lists `claims` in pages of 1000, each page through `adapterFor()`; resolves with the count. */
async function listInPages(adapterFor: () => RedisAdapter): Promise<number> {
  let listed = 0;
  let adapter = adapterFor();
  for (let after: string | undefined; ; ) {
    const page = await adapter.listEntries('claims', { limit: 1000, ...(after && { after }) });
    if (page.length === 0) break;
    listed += page.length;
    after = page[page.length - 1]!.id;
    const next = adapterFor();
    if (next !== adapter) await adapter.close();
    adapter = next;
  }
  await adapter.close();
  return listed;
}

export async function benchRedisListing(redisUrl: string, sizes = [10_000, 50_000]): Promise<string[]> {
  const client = new Redis(redisUrl);
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      const prefix = `listing${size}-${Date.now().toString(36)}:`;
      const writer = new RedisAdapter({ url: redisUrl, prefix });
      const value = new Uint8Array(150);
      await Promise.all(
        Array.from({ length: size }, (_, i) =>
          writer.putEntry('claims', `claim-${String(i).padStart(6, '0')}`, value),
        ),
      );
      await writer.close();
      const cells: string[] = [];
      for (const fresh of [false, true]) {
        const kept = new RedisAdapter({ url: redisUrl, prefix });
        const adapterFor = () => (fresh ? new RedisAdapter({ url: redisUrl, prefix }) : kept);
        const before = await hgetallStats(client);
        const started = performance.now();
        const listed = await listInPages(adapterFor);
        const wallMs = performance.now() - started;
        const after = await hgetallStats(client);
        if (listed !== size) throw new Error(`listed ${listed} of ${size}`);
        cells.push(
          `${after.calls - before.calls}`,
          ((after.micros - before.micros) / 1000).toFixed(0),
          wallMs.toFixed(0),
        );
        if (fresh) await kept.close();
      }
      rows.push(`| ${size} | ${cells.join(' | ')} |`);
      await client.del(`${prefix}{e:claims}`);
    }
  } finally {
    await client.quit();
  }
  return [
    '### Listing entries on Redis in pages of 1000, as the GC pass lists the claims',
    '',
    '| entries | HGETALLs, the rest kept | Redis ms in them | wall ms | HGETALLs, each page anew (as before) | Redis ms in them | wall ms |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(await benchClaimPasses(redisUrl, sizes)),
  ];
}

/** `count` committed claims of the current epoch, as the Lambda layer leaves them. */
async function writeClaims(storage: RedisAdapter, count: number, nowMs: number): Promise<void> {
  const epoch = epochAt(nowMs, CLAIM_TTL_MS);
  for (let i = 0; i < count; i += 1000) {
    await storage.putEntries(
      IDEMPOTENCY_NAMESPACE,
      Array.from({ length: Math.min(1000, count - i) }, (_, j) => {
        const key = `order-${i + j}`;
        const hash = createHash('sha256').update(key).digest('hex');
        const txid = `t${i + j}`;
        return {
          id: `${hash}.${epoch}.0000`,
          value: encodeClaim({
            key,
            txid,
            versionId: `${String(nowMs).padStart(19, '0')}.${txid}`,
            expiresAtMs: nowMs + CLAIM_TTL_MS,
            result: null,
            committed: true,
          }),
        };
      }),
    );
  }
}

async function benchClaimPasses(redisUrl: string, sizes: readonly number[]): Promise<string[]> {
  const client = new Redis(redisUrl);
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      const prefix = `claims${size}-${Date.now().toString(36)}:`;
      const storage = new RedisAdapter({ url: redisUrl, prefix });
      const startMs = Date.now();
      await writeClaims(storage, size, startMs);
      const cells: string[] = [];
      // Kept: a full listing once a minute. Every pass: a full listing each time.
      for (const fullListingEveryMs of [60_000, 0]) {
        const index = new CommitIndex({ fullListingEveryMs });
        const before = await hgetallStats(client);
        const cpu = process.cpuUsage();
        for (let pass = 0; pass < GC_PASSES; pass += 1)
          await collectGarbage({ storage, index, now: () => startMs + pass * 1000 });
        const used = process.cpuUsage(cpu);
        const after = await hgetallStats(client);
        cells.push(
          ((after.micros - before.micros) / 1000).toFixed(0),
          ((used.user + used.system) / 1000).toFixed(0),
        );
      }
      rows.push(`| ${size} | ${cells.join(' | ')} |`);
      await storage.close();
      await client.del(...(await client.keys(`${prefix}*`)));
    }
  } finally {
    await client.quit();
  }
  return [
    `### ${GC_PASSES} GC passes a second apart over committed idempotency claims, on Redis`,
    '',
    '| claims | Redis ms in HGETALL, index kept | collector CPU ms | Redis ms, every pass lists everything (claims as before) | collector CPU ms |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ];
}
