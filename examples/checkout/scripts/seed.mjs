// Puts the catalogue in storage: stock and prices (in cents), in one transaction.
//   node examples/checkout/scripts/seed.mjs [--url http://127.0.0.1:7070]
import { parseArgs } from 'node:util';
import { AftClient } from 'aft-shim/client';

const { values } = parseArgs({
  options: { url: { type: 'string', default: process.env.AFT_URL ?? 'http://127.0.0.1:7070' } },
});
const aft = new AftClient({ url: values.url, token: process.env.AFT_TOKEN });
await aft.run(async (tx) => {
  await tx.putMany([
    { key: 'stock/widget', value: '10' },
    { key: 'prices/widget', value: '1250' },
    { key: 'stock/gadget', value: '3' },
    { key: 'prices/gadget', value: '4999' },
  ]);
});
console.log('seeded: 10 widgets at 12.50, 3 gadgets at 49.99');
