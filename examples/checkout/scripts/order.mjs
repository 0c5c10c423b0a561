// Places an order by invoking the checkout function through the Lambda Invoke API, then
// shows what storage holds.
//   node examples/checkout/scripts/order.mjs --order 1001 --sku widget --quantity 2 [--card 4242424242424242]
import { parseArgs } from 'node:util';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { AftClient } from 'aft-shim/client';

const { values } = parseArgs({
  options: {
    order: { type: 'string', default: String(Date.now()) },
    sku: { type: 'string', default: 'widget' },
    quantity: { type: 'string', default: '1' },
    card: { type: 'string', default: '4242424242424242' },
    endpoint: { type: 'string', default: process.env.AWS_ENDPOINT_URL_LAMBDA ?? 'http://127.0.0.1:9001' },
    url: { type: 'string', default: process.env.AFT_URL ?? 'http://127.0.0.1:7070' },
  },
});

// On Node 20 the AWS SDK warns once per process that its releases from 2027 need Node 22; this
// example runs on both and keeps quiet (README, "Set up", recommends Node 22).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const lambda = new LambdaClient({
  endpoint: values.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
const order = {
  orderId: values.order,
  sku: values.sku,
  quantity: Number(values.quantity),
  card: values.card,
};
const answer = await lambda.send(
  new InvokeCommand({ FunctionName: 'checkout', Payload: JSON.stringify(order) }),
);
const payload = JSON.parse(new TextDecoder().decode(answer.Payload));
console.log(
  answer.FunctionError ? `checkout failed: ${payload.errorType}: ${payload.errorMessage}` : payload,
);

const aft = new AftClient({ url: values.url, token: process.env.AFT_TOKEN });
const tx = await aft.begin();
const items = await tx.getMany([
  `stock/${values.sku}`,
  `orders/${values.order}`,
  `payments/${values.order}`,
  `receipts/${values.order}`,
]);
await tx.abort();
for (const { key, value } of items)
  console.log(`${key.padEnd(24)} ${value ? new TextDecoder().decode(value) : '(none)'}`);
