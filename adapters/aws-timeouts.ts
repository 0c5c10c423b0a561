/**
 * Request timeouts of the AWS clients aft creates (S3, DynamoDB): no request may hang
 * forever. A connection must open within 5 s and a request, its response body included,
 * finish within 20 s, else it fails as a TimeoutError and the SDK retries it. A user's
 * `clientConfig.requestHandler` replaces them. The shim also gives each logical call one
 * deadline through its AbortSignal (shim/guarded-storage.ts). Neither stops a request already
 * sent from landing later; abort markers make that safe (shim/commit-outcome.ts).
 */
export const AWS_REQUEST_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 20_000,
  throwOnRequestTimeout: true,
} as const;
