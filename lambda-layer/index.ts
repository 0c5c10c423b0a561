/**
 * `aft-shim/lambda`: the Lambda layer's entry point. Wrap a handler with withTransaction;
 * everything else here is what its handlers and options touch.
 */

export * from '../wire/errors.js';
export {
  AftClient,
  type AftClientOptions,
  type ReadItem,
  type ReplayedCommit,
  Transaction,
  type Value,
} from './client.js';
export { LAMBDA_SETTINGS, LambdaConfigError, type LambdaSettings } from './config.js';
export { FunctionTransaction, type InvokeOptions, TransactionClosedError } from './function-transaction.js';
export {
  FunctionError,
  type InvokeAnswer,
  type InvokeMode,
  type InvokeRequest,
  type Invoker,
} from './invoke.js';
export {
  DeadlineExceededError,
  type LambdaContext,
  type TransactionalHandler,
  type WithTransactionOptions,
  withTransaction,
} from './with-transaction.js';
