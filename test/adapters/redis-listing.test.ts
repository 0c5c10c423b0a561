/**
 * Listing a namespace on Redis in pages (adapters/listing-rests.ts): one HGETALL per listing,
 * where each page read the whole namespace again (the idempotency claims and the collector's
 * notes hold thousands); a listing's later pages hold what its first page read, and a new
 * listing, or two listings whose pages end at the same id, read anew.
 */
import { Redis } from 'ioredis';
import type { Entry } from '../../adapters/contract.js';
import { ListingRests } from '../../adapters/listing-rests.js';
import { RedisAdapter } from '../../adapters/redis.js';
import { uniquePrefix } from '../servers/engines.js';

const bytes = (text: string) => new TextEncoder().encode(text);

async function listAll(adapter: RedisAdapter, namespace: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  for (let after: string | undefined; ; ) {
    const page: Entry[] = await adapter.listEntries(namespace, { limit, ...(after && { after }) });
    if (page.length === 0) return ids;
    ids.push(...page.map((entry) => entry.id));
    after = page[page.length - 1]!.id;
  }
}

describe('the rests of listings', () => {
  it('gives a rest to the next page only within its time, and once', () => {
    let nowMs = 0;
    const rests = new ListingRests<string>(5000, () => nowMs);
    rests.keep('claims', 'b', { items: ['a', 'b', 'c'], from: 2 });
    expect(rests.take('claims', 'b')).toEqual({ items: ['a', 'b', 'c'], from: 2 });
    expect(rests.take('claims', 'b')).toBeUndefined();
    rests.keep('claims', 'b', { items: ['a', 'b', 'c'], from: 2 });
    nowMs = 5000;
    // A listing that paused past it reads anew.
    expect(rests.take('claims', 'b')).toBeUndefined();
  });
});

describe('listing entries on Redis', () => {
  let client: Redis;
  let adapter: RedisAdapter;
  let reads: jest.SpyInstance;

  beforeEach(() => {
    client = new Redis(process.env.AFT_TEST_REDIS_URL!);
    adapter = new RedisAdapter({ client, prefix: `${uniquePrefix()}:` });
    reads = jest.spyOn(client, 'hgetallBuffer');
  });

  afterEach(async () => {
    await adapter.close();
    await client.quit();
  });

  it('reads a namespace once per listing, however many pages it takes', async () => {
    const ids = Array.from({ length: 2500 }, (_, i) => `claim-${String(i).padStart(4, '0')}`);
    for (const id of ids) await adapter.putEntry('claims', id, bytes(id));
    reads.mockClear();
    expect(await listAll(adapter, 'claims', 1000)).toEqual(ids);
    expect(reads).toHaveBeenCalledTimes(1);
    // A new listing reads anew, and sees what was written since.
    await adapter.putEntry('claims', 'claim-9999', bytes('late'));
    expect(await listAll(adapter, 'claims', 1000)).toEqual([...ids, 'claim-9999']);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('has two listings whose pages end at the same id read anew rather than share a rest', async () => {
    for (const id of ['a', 'b', 'c', 'd']) await adapter.putEntry('intents', id, bytes(id));
    const first = await adapter.listEntries('intents', { limit: 2 });
    const second = await adapter.listEntries('intents', { limit: 2 });
    expect([first, second].map((page) => page.map((entry) => entry.id))).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    // Neither keeps a rest (whose would the next page take?): that page reads anew, with 'e'.
    await adapter.putEntry('intents', 'e', bytes('e'));
    reads.mockClear();
    const rest = await adapter.listEntries('intents', { after: 'b', limit: 10 });
    expect(rest.map((entry) => entry.id)).toEqual(['c', 'd', 'e']);
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
