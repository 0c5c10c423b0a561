/** @aws-sdk/client-dynamodb, loaded once, on the adapter's first call (not when aft is imported). */
import { missingEnginePackage } from '../engine-packages.js';

export type DynamoSdk = typeof import('@aws-sdk/client-dynamodb');

let loading: Promise<DynamoSdk> | undefined;

export function dynamoSdk(): Promise<DynamoSdk> {
  loading ??= import('@aws-sdk/client-dynamodb').catch(
    missingEnginePackage('@aws-sdk/client-dynamodb', 'dynamodb'),
  );
  return loading;
}
