import { createAdapterFromUrl } from '../../adapters/url.js';
import { ENGINES } from '../servers/engines.js';
import { damageRedisRecord } from './damage.js';
import { registerConformance } from './jest.js';

registerConformance('redis', async () => createAdapterFromUrl(await ENGINES.redis.freshStorageUrl()), {
  atomicVersionsAndRecord: true,
  batchPutEntries: true,
  damageRecord: damageRedisRecord,
});
registerConformance(
  'redis cluster',
  async () => createAdapterFromUrl(await ENGINES.redisCluster.freshStorageUrl()),
  { batchPutEntries: true, damageRecord: damageRedisRecord },
);
