/**
 * What aft sets on the AWS clients it creates (S3, DynamoDB); a client the user passes is
 * left as it is.
 *
 * Request timeouts: no request may hang forever. A connection must open within 5 s and a
 * request, its response body included, finish within 20 s, else it fails as a TimeoutError
 * and the SDK retries it. A user's `clientConfig.requestHandler` replaces them. The shim also
 * gives each logical call one deadline through its AbortSignal (shim/guarded-storage.ts).
 * Neither stops a request already sent from landing later; abort markers make that safe
 * (shim/commit-outcome.ts).
 */
export const AWS_REQUEST_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 20_000,
  throwOnRequestTimeout: true,
} as const;

/** The parts of an AWS SDK v3 client this module touches. */
interface SdkClient {
  readonly middlewareStack: { remove(toRemove: string): boolean };
}

/**
 * Drops the SDK's logger middleware from a client aft created with no `logger` of the user's.
 * The SDK's default logger discards everything, yet the middleware still copies every
 * request's input and every answer through the schema's sensitive-data filter to hand them to
 * it: 3% of a node's CPU on DynamoDB in a `--cpu-prof` profile of the bench (bench/RESULTS.md).
 */
export function withoutDiscardedLogging<Client extends SdkClient>(
  client: Client,
  clientConfig: { readonly logger?: unknown } | undefined,
): Client {
  if (clientConfig?.logger === undefined) client.middlewareStack.remove('loggerMiddleware');
  return client;
}
