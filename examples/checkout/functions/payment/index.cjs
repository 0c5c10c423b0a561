// Payment: charges the card through the payment provider and books the payment. A CommonJS
// handler; it joins the caller's transaction when called through txn.invoke.
const { withTransaction } = require('aft-shim/lambda');

class PaymentDeclinedError extends Error {
  name = 'PaymentDeclinedError';
}

/**
 * The provider's API (PAYMENT_PROVIDER_URL), with the order id as its idempotency key so a
 * rerun never charges twice. Without a provider, a built-in test double: cards ending in
 * 0002 are declined, as with the usual test card numbers.
 */
async function charge({ orderId, card, amountCents }, signal) {
  const provider = process.env.PAYMENT_PROVIDER_URL;
  if (!provider) {
    if (String(card).endsWith('0002')) return { approved: false };
    return { approved: true, chargeId: `ch_${orderId}` };
  }
  const response = await fetch(`${provider}/charges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': orderId },
    body: JSON.stringify({ card, amountCents }),
    signal,
  });
  if (response.status === 402) return { approved: false };
  if (!response.ok) throw new Error(`payment provider answered ${response.status}`);
  const { id } = await response.json();
  return { approved: true, chargeId: id };
}

exports.handler = withTransaction(async (request, txn) => {
  const { orderId, card, amountCents } = request;
  const result = await charge({ orderId, card, amountCents }, txn.signal);
  if (!result.approved) throw new PaymentDeclinedError(`card ending ${String(card).slice(-4)} was declined`);
  const payment = { paymentId: `pay_${orderId}`, chargeId: result.chargeId, amountCents };
  await txn.putJson(`payments/${orderId}`, payment);
  const total = (await txn.getJson('ledger/total-cents')) ?? 0;
  await txn.putJson('ledger/total-cents', total + amountCents);
  return payment;
});
