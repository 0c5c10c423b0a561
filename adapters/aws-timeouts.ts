/**
 * Request timeouts of the AWS clients aft creates (S3, DynamoDB): no request may hang
 * forever. A connection must open within 5 s and a request, its response body included,
 * finish within 60 s, else it fails as a TimeoutError and the SDK retries it. A user's
 * `clientConfig.requestHandler` replaces them.
 */
export const AWS_REQUEST_TIMEOUTS = {
  connectionTimeout: 5_000,
  requestTimeout: 60_000,
  throwOnRequestTimeout: true,
} as const;
