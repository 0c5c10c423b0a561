import { createAdapterFromUrl } from '../../adapters/url.js';
import { ENGINES } from '../servers/engines.js';
import { damageS3Record } from './damage.js';
import { registerConformance } from './jest.js';

// s3rver gets S3's conditional writes from its launcher (test/servers/s3rver-main.cjs), so
// every case runs here, put-if-absent included.
registerConformance('s3 (s3rver)', async () => createAdapterFromUrl(await ENGINES.s3.freshStorageUrl()), {
  damageRecord: damageS3Record,
});
