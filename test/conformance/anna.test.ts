/**
 * The conformance suite on the Anna adapter, against the protocol-faithful fake Anna
 * (test/servers/fake-anna.ts): every contract operation through real ZeroMQ frames.
 */
import { AnnaAdapter } from '../../adapters/anna.js';
import { uniquePrefix } from '../servers/engines.js';
import { FakeAnna } from '../servers/fake-anna.js';
import { damageAnnaRecord } from './damage.js';
import { registerConformance } from './jest.js';

let anna: FakeAnna;
beforeAll(async () => {
  anna = await FakeAnna.start();
});
afterAll(() => anna.close());

registerConformance(
  'anna (fake)',
  async () => new AnnaAdapter({ routing: [anna.routingEndpoint], prefix: `${uniquePrefix()}/` }),
  { damageRecord: damageAnnaRecord },
);
