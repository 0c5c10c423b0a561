/**
 * Request timeouts of the AWS clients aft creates (S3, DynamoDB): no request may hang
 * forever. A connection must open within 5 s and a request, its response body included,
 * finish within 20 s, else it fails as a TimeoutError and the SDK retries it. A user's
 * `clientConfig.requestHandler` replaces them. The bound matters to the protocol: a write
 * that cannot land after 20 s lets nodes know when no late commit record can still appear
 * (shim/timing.ts).
 */
export const AWS_REQUEST_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 20_000,
  throwOnRequestTimeout: true,
} as const;
