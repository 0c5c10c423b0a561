/**
 * Anna as an engine of a parametrized suite: it cannot be installed here, so the
 * protocol-faithful fake stands in for it, started in this process for the test file.
 */
import { type TestEngine, uniquePrefix } from '../servers/engines.js';
import { FakeAnna } from '../servers/fake-anna.js';

/** Starts the fake before the file's tests and stops it after them; each store a new prefix. */
export function fakeAnnaEngine(): TestEngine {
  let anna: FakeAnna | undefined;
  beforeAll(async () => {
    anna = await FakeAnna.start();
  });
  afterAll(() => anna?.close());
  return {
    name: 'anna (fake)',
    freshStorageUrl: async () => `${anna!.url}?prefix=${uniquePrefix()}/`,
  };
}
