/**
 * `aft serve --storage <url>` on every engine, as a new user would run it: one process
 * commits a transaction; a second process, started afterwards on the same storage, learns
 * the commit from the records in storage at start-up and reads it whole, including a key
 * and value no path-based mapping would survive.
 */
import { AftClient } from '../../lambda-layer/client.js';
import { fakeAnnaEngine } from '../helpers/fake-anna-engine.js';
import { kill9, startAftProcess } from '../helpers/processes.js';
import { ENGINES } from '../servers/engines.js';

const awkwardKey = `ü/../%2F ${'k'.repeat(1000)}`;

const annaEngine = fakeAnnaEngine();

describe.each([ENGINES.file, ENGINES.redis, ENGINES.redisCluster, ENGINES.s3, ENGINES.dynamodb, annaEngine])(
  'aft serve --storage $name',
  (engine) => {
    it('commits through one process and is read whole by the next one', async () => {
      const storage = await engine.freshStorageUrl();
      const first = await startAftProcess(['--storage', storage]);
      let version: string | null = null;
      try {
        const client = new AftClient({ url: first.url });
        ({ version } = (
          await client.run(async (tx) => {
            await tx.put('k', 'new k');
            await tx.put('l', 'new l');
            await tx.put(awkwardKey, new Uint8Array([0, 1, 255]));
          })
        ).commit);
      } finally {
        await kill9(first.child);
      }
      const second = await startAftProcess(['--storage', storage]);
      try {
        const tx = await new AftClient({ url: second.url }).begin();
        const items = await tx.getMany(['k', 'l', awkwardKey]);
        expect(items.map((item) => [item.key, item.version])).toEqual([
          ['k', version],
          ['l', version],
          [awkwardKey, version],
        ]);
        expect(await tx.getText('k')).toBe('new k');
        expect(await tx.get(awkwardKey)).toEqual(new Uint8Array([0, 1, 255]));
        await tx.commit();
      } finally {
        await kill9(second.child);
      }
    });
  },
);
