// Checkout: reserves stock, has the payment function charge the card, records the order and
// sends a receipt, all in one transaction. A retried or duplicated request (same orderId)
// runs once: the retry gets the first run's result back.
import { withTransaction } from 'aft-shim/lambda';

// The functions this one calls: their names where they are deployed (infra/app.ts sets these),
// or their folder names under aft lambda-local.
const PAYMENT_FUNCTION = process.env.PAYMENT_FUNCTION ?? 'payment';
const RECEIPT_FUNCTION = process.env.RECEIPT_FUNCTION ?? 'send-receipt';

class InvalidOrderError extends Error {
  name = 'InvalidOrderError';
}
class OutOfStockError extends Error {
  name = 'OutOfStockError';
}

export const handler = withTransaction(
  async (order, txn) => {
    const { orderId, sku, quantity, card } = order ?? {};
    if (
      typeof orderId !== 'string' ||
      typeof sku !== 'string' ||
      !Number.isInteger(quantity) ||
      quantity < 1
    ) {
      throw new InvalidOrderError('an order needs an orderId, a sku and a positive whole quantity');
    }
    const [stock, price] = await Promise.all([txn.getJson(`stock/${sku}`), txn.getJson(`prices/${sku}`)]);
    if (price === undefined) throw new InvalidOrderError(`unknown sku ${sku}`);
    if ((stock ?? 0) < quantity) throw new OutOfStockError(`only ${stock ?? 0} of ${sku} left`);
    await txn.putJson(`stock/${sku}`, stock - quantity);

    // The payment function joins this transaction: its writes commit with ours, or not at all.
    const payment = await txn.invoke(PAYMENT_FUNCTION, { orderId, card, amountCents: price * quantity });

    const placed = { orderId, sku, quantity, amountCents: price * quantity, paymentId: payment.paymentId };
    await txn.putJson(`orders/${orderId}`, placed);
    // Sent once this transaction commits, and applied once however often it is delivered.
    await txn.invoke(RECEIPT_FUNCTION, { orderId, amountCents: placed.amountCents }, { mode: 'async' });
    return placed;
  },
  // It reads the stock (and, through the payment function, the ledger) and writes them back:
  // serializable, so concurrent orders neither oversell nor lose a charge.
  { idempotencyKey: (order) => `checkout/${order?.orderId}`, isolation: 'serializable' },
);
