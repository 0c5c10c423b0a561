/** The REST API suite on the Anna adapter, against the fake Anna. */

import { uniquePrefix } from '../servers/engines.js';
import { FakeAnna } from '../servers/fake-anna.js';
import { registerRestApiSuite } from './rest-api-suite.js';

let anna: FakeAnna | undefined;
beforeAll(async () => {
  anna = await FakeAnna.start();
});
afterAll(() => anna?.close());

registerRestApiSuite({
  name: 'anna (fake)',
  freshStorageUrl: async () => `${anna!.url}?prefix=${uniquePrefix()}/`,
});
