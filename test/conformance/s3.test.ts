import { createAdapterFromUrl } from '../../adapters/url.js';
import { ENGINES } from '../servers/engines.js';
import { registerConformance } from './jest.js';

registerConformance('s3 (s3rver)', async () => createAdapterFromUrl(await ENGINES.s3.freshStorageUrl()), {
  lacking: {
    conditionalWrites:
      's3rver ignores If-None-Match; test/adapters/s3-requests.test.ts proves the request shape and the 412 handling',
  },
});
