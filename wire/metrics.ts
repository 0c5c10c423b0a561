/**
 * The names of the metrics a node exports at /metrics: the node registers them
 * (server/http/metrics.ts) and the CDK construct's alarms, dashboard and agent read them
 * (infra/); neither writes a name of its own (test/infra/names.test.ts).
 */
export const METRIC_NAMES = {
  transactions: 'aft_transactions_total',
  readDuration: 'aft_read_duration_seconds',
  commitDuration: 'aft_commit_duration_seconds',
  cacheHits: 'aft_cache_hits_total',
  cacheMisses: 'aft_cache_misses_total',
  cacheHitRatio: 'aft_cache_hit_ratio',
  readsFromIntents: 'aft_reads_from_intents_total',
  storageErrors: 'aft_storage_errors_total',
  storageCalls: 'aft_storage_calls_total',
  openTransactions: 'aft_open_transactions',
  gcDeleted: 'aft_gc_deleted_total',
  gcBacklog: 'aft_gc_backlog',
  metadataTransactions: 'aft_metadata_transactions',
  httpRequestDuration: 'aft_http_request_duration_seconds',
  commitStreams: 'aft_commit_streams',
  commitPushInterval: 'aft_commit_push_interval_seconds',
} as const;
