// Send receipt: called asynchronously once a checkout commits. It runs its own transaction
// under the key the caller gave the call, so a redelivered event does not send twice.
import { withTransaction } from 'aft-shim/lambda';

export const handler = withTransaction(async ({ orderId, amountCents }, txn) => {
  const receipt = { orderId, text: `Thank you! We charged ${(amountCents / 100).toFixed(2)}.` };
  await txn.putJson(`receipts/${orderId}`, receipt);
  return receipt;
});
