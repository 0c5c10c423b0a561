import { createAdapterFromUrl } from '../../adapters/url.js';
import { ENGINES } from '../servers/engines.js';
import { damageDynamoDbRecord } from './damage.js';
import { registerConformance } from './jest.js';

registerConformance(
  'dynamodb (DynamoDB Local)',
  async () => createAdapterFromUrl(await ENGINES.dynamodb.freshStorageUrl()),
  {
    atomicVersionsAndRecord: true,
    batchPutEntries: true,
    batchCreateEntries: true,
    swappingWrites: true,
    damageRecord: damageDynamoDbRecord,
  },
);
