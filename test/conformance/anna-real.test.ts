/**
 * The conformance suite against a real Anna, when a person started one and named its
 * routing node: ANNA_ROUTING_ADDR=127.0.0.1:6450 (ANNA_RESPONSE_HOST: the address Anna
 * reaches this machine at, default 127.0.0.1). Anna cannot be installed from npm or Debian,
 * so CI runs the same suite against the fake (anna.test.ts) and says this one was skipped.
 */
import { AnnaAdapter } from '../../adapters/anna.js';
import { uniquePrefix } from '../servers/engines.js';
import { registerConformance } from './jest.js';

const routing = process.env.ANNA_ROUTING_ADDR;

if (routing) {
  registerConformance(
    `anna (real, ${routing})`,
    async () =>
      new AnnaAdapter({
        routing: routing.split(','),
        prefix: `${uniquePrefix()}-${Date.now()}/`,
        ...(process.env.ANNA_RESPONSE_HOST && { responseHost: process.env.ANNA_RESPONSE_HOST }),
      }),
  );
} else {
  describe('storage conformance: anna (real)', () => {
    it.skip('every case (skipped: ANNA_ROUTING_ADDR names no running Anna)', () => undefined);
  });
}
