#!/usr/bin/env node
/**
 * The example deployment: the aft shim tier and the checkout example's functions
 * (examples/checkout), connected to it. `npx cdk synth` runs it (cdk.json); pick the storage
 * engine with `-c storage=s3|dynamodb|redis` (default s3).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AftShim } from './aft-shim.js';
import { AftStorageEngine } from './storage.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const app = new App();
const storage = (app.node.tryGetContext('storage') as string | undefined) ?? AftStorageEngine.S3;
const engines: readonly string[] = Object.values(AftStorageEngine);
if (!engines.includes(storage)) {
  throw new Error(`-c storage=${storage}: expected one of ${engines.join(', ')}`);
}

const stack = new Stack(app, 'AftCheckout', { description: 'aft shim tier and the checkout example' });
const aft = new AftShim(stack, 'Aft', {
  storage: storage as AftStorageEngine,
  // An example: `cdk destroy` removes its data too. Keep the default (RETAIN) for real data.
  removalPolicy: RemovalPolicy.DESTROY,
  minNodes: 2,
});

const functionsDirectory = join(root, 'examples', 'checkout', 'functions');
const functions = new Map<string, lambda.Function>();
for (const name of ['checkout', 'payment', 'send-receipt']) {
  const directory = join(functionsDirectory, name);
  const config = JSON.parse(readFileSync(join(directory, 'function.json'), 'utf8')) as {
    handler: string;
    timeout?: number;
    memorySize?: number;
  };
  const fn = new lambda.Function(stack, `${name}-function`, {
    runtime: lambda.Runtime.NODEJS_22_X,
    code: lambda.Code.fromAsset(directory),
    handler: config.handler,
    timeout: Duration.seconds(config.timeout ?? 3),
    memorySize: config.memorySize ?? 128,
    vpc: aft.vpc,
    logGroup: new logs.LogGroup(stack, `${name}-logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    }),
  });
  aft.connect(fn);
  functions.set(name, fn);
}
const checkout = functions.get('checkout')!;
// Checkout calls payment (sync, joined) and send-receipt (async, after commit) by name.
checkout.addEnvironment('PAYMENT_FUNCTION', functions.get('payment')!.functionName);
checkout.addEnvironment('RECEIPT_FUNCTION', functions.get('send-receipt')!.functionName);
functions.get('payment')!.grantInvoke(checkout);
functions.get('send-receipt')!.grantInvoke(checkout);

new CfnOutput(stack, 'AftUrl', { value: aft.url, description: 'the shim, inside the VPC' });
new CfnOutput(stack, 'CheckoutFunction', { value: checkout.functionName });
app.synth();
