/**
 * withTransaction: one line turns a Lambda handler into a transaction.
 *
 *   export const handler = withTransaction(async (event, txn) => {
 *     const stock = (await txn.getJson<number>(`stock/${event.sku}`)) ?? 0;
 *     await txn.putJson(`stock/${event.sku}`, stock - 1);
 *     return { reserved: true };
 *   });
 *
 * Returning commits, throwing aborts, and the transaction is aborted before Lambda's own
 * deadline stops the function. Each run is a root transaction with an idempotency key (the
 * request id, or one the options pick from the event): when a request is retried after its
 * transaction committed, the handler does not run again and the recorded result comes back.
 * A function called by a wrapped function through `txn.invoke` joins the caller's
 * transaction instead (lambda-layer/envelope.ts).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Isolation } from '../wire/api.js';
import { backoffPause } from '../wire/backoff.js';
import { AftError, DuplicateCommittedError, DuplicateInProgressError, ErrorCode } from '../wire/errors.js';
import { AftClient, type ReplayedCommit, type Transaction } from './client.js';
import { LambdaConfigError, type LambdaSettings, resolveLambdaSettings } from './config.js';
import {
  ASYNC_ENVELOPE,
  asyncEnvelopeOf,
  type DeferredInvoke,
  JOINED_ANSWER,
  type JoinedAnswer,
  joinedTxidOf,
  PARTIAL_WRITES_ERROR,
  type RecordedOutcome,
} from './envelope.js';
import { FunctionTransaction } from './function-transaction.js';
import { type Invoker, lambdaInvoker } from './invoke.js';

/** The part of Lambda's context object the wrapper uses (aws-lambda's Context fits it). */
export interface LambdaContext {
  readonly awsRequestId: string;
  readonly functionName?: string;
  readonly clientContext?: unknown;
  getRemainingTimeInMillis(): number;
}

export type TransactionalHandler<TEvent, TResult> = (
  event: TEvent,
  txn: FunctionTransaction,
  context: LambdaContext,
) => Promise<TResult>;

export interface WithTransactionOptions<TEvent> extends Partial<LambdaSettings> {
  /**
   * The idempotency key of a request: retries with the same key run once. Return undefined
   * to fall back on the request id (which Lambda keeps across its own retries of an event).
   */
  readonly idempotencyKey?: (event: TEvent, context: LambdaContext) => string | undefined;
  /**
   * Keys the handler will read, known from the event: they are read in the begin request, so
   * a handler that reads them and writes costs two requests (begin, commit).
   */
  readonly prefetch?: (event: TEvent) => readonly string[];
  /**
   * 'serializable' for a handler that reads, then writes what it read (a counter, a balance,
   * a stock level): its commit fails with a conflict when another serializable commit changed
   * what it read, and the handler runs again (up to 10 runs, or `attempts` if more, after a
   * pause with jitter). @default 'read-atomic'
   */
  readonly isolation?: Isolation;
  /** A REST client of your own (it overrides url, token and requestTimeoutMs). */
  readonly client?: AftClient;
  /** The Lambda client txn.invoke uses. @default a LambdaClient created on first use */
  readonly lambdaClient?: LambdaClient;
  /** The Secrets Manager client that reads `tokenSecretArn`. @default one created on first use */
  readonly secretsClient?: SecretsManagerClient;
  /** How txn.invoke reaches other functions. @default through `lambdaClient` */
  readonly invoker?: Invoker;
  /** The environment the AFT_* settings are read from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs of a serializable handler whose commit conflicts, at least (shim/claims.ts). */
const CONFLICT_RUNS = 10;

/** The handler did not finish before the function's deadline (less the margin); the transaction was aborted. */
export class DeadlineExceededError extends AftError {
  override readonly name: string = 'DeadlineExceededError';
  constructor(budgetMs: number) {
    super(
      ErrorCode.DEADLINE_EXCEEDED,
      `the handler did not finish within ${budgetMs} ms, before the function's deadline; its transaction was aborted`,
      { retryable: true },
    );
  }
}

/** A joined callee failed after some of its writes had reached the transaction; the caller cannot commit. */
class CalleeFailedAfterWritesError extends Error {
  override readonly name = PARTIAL_WRITES_ERROR;
}

const decoder = new TextDecoder();
/** The longest idle timeout a begin asks for: Lambda's own 15-minute limit. */
const MAX_TRANSACTION_TIMEOUT_MS = 900_000;

export function withTransaction<TEvent = unknown, TResult = unknown>(
  handler: TransactionalHandler<TEvent, TResult>,
  options: WithTransactionOptions<TEvent> = {},
): (event: TEvent, context: LambdaContext) => Promise<TResult | { [JOINED_ANSWER]: JoinedAnswer }> {
  // Settings are read once per execution environment, on the first request (so a missing
  // AFT_URL fails that request with a clear error instead of the module import).
  let resolved: Promise<{ settings: LambdaSettings; client: AftClient; invoker: Invoker }> | undefined;
  const setUp = async () => {
    const settings = resolveLambdaSettings(
      { ...options, ...(options.url === undefined && options.client && { url: options.client.url }) },
      options.env ?? process.env,
    );
    const token =
      settings.token ??
      (settings.tokenSecretArn === undefined
        ? undefined
        : await readSecret(settings.tokenSecretArn, options.secretsClient));
    const client =
      options.client ??
      new AftClient({
        url: settings.url,
        ...(token !== undefined && { token }),
        requestTimeoutMs: settings.requestTimeoutMs,
      });
    return { settings, client, invoker: options.invoker ?? lambdaInvoker(options.lambdaClient) };
  };

  return async (rawEvent, context) => {
    resolved ??= setUp();
    // A failed set-up (a missing setting, an unreadable secret) is retried by the next request.
    resolved.catch(() => {
      resolved = undefined;
    });
    const { settings, client, invoker } = await resolved;
    const budgetMs = Math.max(0, context.getRemainingTimeInMillis() - settings.timeoutMarginMs);
    const deadline = AbortSignal.timeout(budgetMs);
    const joinedTxid = joinedTxidOf(context.clientContext);
    if (joinedTxid !== undefined) {
      return runJoined(client.transaction(joinedTxid), rawEvent, context, {
        handler,
        invoker,
        deadline,
        budgetMs,
      });
    }
    const envelope = asyncEnvelopeOf(rawEvent);
    const event = (envelope ? envelope.event : rawEvent) as TEvent;
    const key = !settings.idempotency
      ? undefined
      : (envelope?.idempotencyKey ?? options.idempotencyKey?.(event, context) ?? context.awsRequestId);
    const prefetch = options.prefetch?.(event) ?? [];
    return runRoot(event, context, key, {
      handler,
      client,
      invoker,
      settings,
      deadline,
      budgetMs,
      prefetch,
      ...(options.isolation !== undefined && { isolation: options.isolation }),
    });
  };
}

interface RootRun<TEvent, TResult> {
  readonly handler: TransactionalHandler<TEvent, TResult>;
  readonly client: AftClient;
  readonly invoker: Invoker;
  readonly settings: LambdaSettings;
  readonly deadline: AbortSignal;
  readonly budgetMs: number;
  /** Keys read in the begin request. */
  readonly prefetch: readonly string[];
  readonly isolation?: Isolation;
}

async function runRoot<TEvent, TResult>(
  event: TEvent,
  context: LambdaContext,
  key: string | undefined,
  run: RootRun<TEvent, TResult>,
): Promise<TResult> {
  const { client, settings, deadline, budgetMs } = run;
  const timeoutMs = Math.min(MAX_TRANSACTION_TIMEOUT_MS, Math.max(1000, budgetMs + settings.timeoutMarginMs));
  let runs = 0;
  let conflicts = 0;
  for (let waits = 0; ; ) {
    let begun: Transaction | ReplayedCommit;
    try {
      const beginOptions = {
        timeoutMs,
        signal: deadline,
        read: run.prefetch,
        ...(run.isolation !== undefined && { isolation: run.isolation }),
      };
      begun =
        key === undefined
          ? await client.begin(beginOptions)
          : await client.beginIdempotent(key, beginOptions);
    } catch (error) {
      // The same request is committing elsewhere right now: wait for its outcome.
      if (error instanceof DuplicateInProgressError && !deadline.aborted) {
        await backoffPause(waits++, 50, 2000, deadline).catch(() => undefined);
        if (!deadline.aborted) continue;
      }
      throw deadline.aborted ? new DeadlineExceededError(budgetMs) : error;
    }
    if (begun.replayed) return replay<TResult>(begun, run.invoker);

    runs += 1;
    const txn = new FunctionTransaction(begun, run.invoker, deadline);
    let result: TResult;
    try {
      result = await untilDeadline(run.handler(event, txn, context), deadline, budgetMs);
      txn.assertCommittable();
    } catch (error) {
      txn.close('the handler failed');
      await begun.abort().catch(() => undefined);
      if (runs < settings.attempts && rerunHelps(error) && !deadline.aborted) continue;
      throw error;
    }
    txn.close('the handler returned');
    const outcome: RecordedOutcome = { value: result, deferred: txn.deferred };
    // The commit carries the handler's writes: one request writes and commits them.
    const writes = txn.takeWrites();
    try {
      // The commit gets what is left of the margin: stopping it early only makes its outcome unknown.
      await begun.commit({
        ...(writes.length > 0 && { writes }),
        ...(key !== undefined && { result: JSON.stringify(outcome) }),
      });
    } catch (error) {
      // Writes the shim refused (too large, malformed): nothing of them was buffered; abort.
      if (
        error instanceof AftError &&
        (error.code === ErrorCode.BAD_REQUEST || error.code === ErrorCode.TOO_LARGE)
      ) {
        await begun.abort().catch(() => undefined);
        throw error;
      }
      // Another run of this request committed first: begin again to get its result.
      if (error instanceof DuplicateCommittedError || error instanceof DuplicateInProgressError) continue;
      if (error instanceof AftError && error.code === ErrorCode.TXN_LOST && runs < settings.attempts) {
        continue;
      }
      // A serializable commit found what it read changed: nothing of it was written; run the
      // handler again on fresh reads, after a pause so contenders spread out. Conflicts have a
      // bound of their own: on a contended key they are the normal case, not a failure.
      if (error instanceof AftError && error.code === ErrorCode.CONFLICT) {
        conflicts += 1;
        if (conflicts < Math.max(settings.attempts, CONFLICT_RUNS) && !deadline.aborted) {
          await backoffPause(conflicts - 1, 20, 1000, deadline).catch(() => undefined);
          if (!deadline.aborted) {
            runs -= 1;
            continue;
          }
        }
      }
      // Storage failed: nothing became visible, or the outcome is unknown. Only the key makes a
      // rerun safe in the second case (the claim tells whether the first attempt landed).
      if (
        key !== undefined &&
        error instanceof AftError &&
        error.code === ErrorCode.STORAGE_UNAVAILABLE &&
        runs < settings.attempts &&
        !deadline.aborted
      ) {
        continue;
      }
      throw error;
    }
    await sendDeferred(outcome.deferred, run.invoker);
    return result;
  }
}

async function runJoined<TEvent, TResult>(
  remote: Transaction,
  event: TEvent,
  context: LambdaContext,
  run: {
    handler: TransactionalHandler<TEvent, TResult>;
    invoker: Invoker;
    deadline: AbortSignal;
    budgetMs: number;
  },
): Promise<{ [JOINED_ANSWER]: JoinedAnswer }> {
  const txn = new FunctionTransaction(remote, run.invoker, run.deadline);
  let value: TResult;
  try {
    value = await untilDeadline(run.handler(event, txn, context), run.deadline, run.budgetMs);
    txn.assertCommittable();
  } catch (error) {
    txn.close('the handler failed');
    if (txn.wroteRemotely) {
      throw new CalleeFailedAfterWritesError(
        `the handler failed after some of its writes joined the caller's transaction: ${(error as Error).message}`,
        { cause: error },
      );
    }
    throw error;
  }
  txn.close('the handler returned');
  return { [JOINED_ANSWER]: { value, writes: txn.encodedWrites(), deferred: txn.deferred } };
}

async function replay<TResult>(begun: ReplayedCommit, invoker: Invoker): Promise<TResult> {
  if (begun.result === null) return undefined as TResult;
  const outcome = JSON.parse(decoder.decode(begun.result)) as RecordedOutcome;
  // A run that committed may have died before sending its calls; the callees apply each once.
  await sendDeferred(outcome.deferred, invoker);
  return outcome.value as TResult;
}

async function sendDeferred(deferred: readonly DeferredInvoke[], invoker: Invoker): Promise<void> {
  await Promise.all(
    deferred.map(({ functionName, payload, idempotencyKey }) =>
      invoker({
        functionName,
        mode: 'async',
        payload: { [ASYNC_ENVELOPE]: { idempotencyKey }, event: payload },
      }),
    ),
  );
}

/** The handler's promise, or DeadlineExceededError when the deadline comes first. */
async function untilDeadline<T>(work: Promise<T>, deadline: AbortSignal, budgetMs: number): Promise<T> {
  if (deadline.aborted) throw new DeadlineExceededError(budgetMs);
  // The handler may still fail after the deadline won the race; that is no longer news.
  work.catch(() => undefined);
  let onAbort: (() => void) | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new DeadlineExceededError(budgetMs));
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    deadline.removeEventListener('abort', onAbort!);
  }
}

/** Lost transactions and storage failures make nothing visible: running the handler again is safe. */
function rerunHelps(error: unknown): boolean {
  if (!(error instanceof AftError) || !error.retryable) return false;
  return error.code !== ErrorCode.DEADLINE_EXCEEDED && error.code !== ErrorCode.DUPLICATE_IN_PROGRESS;
}

/** The token in a Secrets Manager secret (the SDK is loaded on first use: the Lambda runtime ships it). */
async function readSecret(secretId: string, given: SecretsManagerClient | undefined): Promise<string> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  const client = given ?? new sdk.SecretsManagerClient({});
  const { SecretString } = await client.send(new sdk.GetSecretValueCommand({ SecretId: secretId }));
  if (SecretString === undefined) throw new LambdaConfigError(`secret ${secretId} holds no string`);
  return SecretString;
}
