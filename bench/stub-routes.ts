/**
 * Preloaded into an `aft serve` by bench/node-parts.ts (`node --import`): the transaction
 * routes `BENCH_STUB` names (read, write, commit; comma-separated) answer fixed bodies of the
 * same shape after the same validation, without the node's work, so the node's CPU with and
 * without a part shows what the part costs where it runs, between requests.
 */
import { type Route, TRANSACTION_ROUTES } from '../server/http/transaction-routes.js';
import { validateCommit, validateRead, validateWrite } from '../server/http/validation.js';

const stubbed = new Set((process.env.BENCH_STUB ?? '').split(',').filter((part) => part !== ''));
const VALUE = Buffer.alloc(256, 120).toString('base64');
const VERSION = '0000000000000000000.aaaaaaaaaa-mwzhg7jv-1-00000000000000000000000000000000';
// The table's routes are plain objects: their handlers can be replaced in place.
const routes = TRANSACTION_ROUTES as unknown as Record<
  'read' | 'write' | 'commit',
  { handle: Route['handle'] }
>;

if (stubbed.has('read')) {
  routes.read.handle = (_node, { body }) => ({
    status: 200,
    json: { items: validateRead(body).keys.map((key) => ({ key, value: VALUE, version: VERSION })) },
  });
}
if (stubbed.has('write')) {
  routes.write.handle = (_node, { body }) => {
    validateWrite(body);
    return { status: 204 };
  };
}
if (stubbed.has('commit')) {
  // The transaction ends as an abort would end it: the node forgets it, nothing is written.
  routes.commit.handle = (node, { txid, body }) => {
    validateCommit(body ?? {});
    node.abort(txid);
    return { status: 200, json: { txid, status: 'committed', version: VERSION } };
  };
}
