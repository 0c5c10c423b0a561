/**
 * Listing a large namespace of entries on Redis in pages of 1,000, as the GC pass lists the
 * idempotency claims (adapters/listing-rests.ts); a section of `npm run bench`
 * (`BENCH_REDIS_LISTING=off` skips it). One adapter lists it whole, keeping the rest of the
 * listing for its next pages; then each page comes from a fresh adapter, which keeps nothing,
 * as every page did before: one HGETALL of the whole namespace per page. Redis's own time in
 * HGETALL is from `INFO commandstats` (a command Redis runs blocks every other client).
 */
import { Redis } from 'ioredis';
import { RedisAdapter } from '../adapters/redis.js';

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
  ];
}
