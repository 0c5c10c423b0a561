/**
 * Prometheus metrics (prom-client), one registry per app so several apps can live in one
 * process (tests, embedding). Implements the core's NodeMetrics.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeMetrics, TransactionOutcome } from '../../shim/telemetry.js';
import { METRIC_NAMES } from '../../wire/metrics.js';

/** How often the event-loop delay histogram samples (nodejs_eventloop_lag_*), ms. */
const EVENT_LOOP_SAMPLE_MS = 100;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PrometheusMetrics implements NodeMetrics {
  readonly registry = new Registry();
  private readonly transactions: Counter<'outcome'>;
  private readonly readSeconds: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly readsFromIntents: Counter;
  private readonly storageErrors: Counter<'operation'>;
  private readonly storageCalls: Counter<'operation'>;
  readonly httpSeconds: Histogram<'method' | 'route' | 'status'>;
  /** Objects deleted by global GC passes run in this node, by kind. */
  readonly gcDeleted: Counter<'kind'>;
  /** Collectable versions the last GC pass left for the next one. */
  readonly gcBacklog: Gauge;

  constructor(
    options: {
      openTransactions?: () => number;
      metadataTransactions?: () => number;
      /** Peers' commit streams open now: to peers ('out') and from them ('in'). */
      commitStreams?: () => { readonly in: number; readonly out: number };
      /** The least time between two commit batches to a peer now, ms (shim/commit-push.ts). */
      commitPushIntervalMs?: () => number;
      defaultMetrics?: boolean;
    } = {},
  ) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) {
      // The event-loop delay histogram samples on a timer of its own: prom-client's 10 ms
      // woke an idle node 100 times a second, half of all it spent idle. At 100 ms a stall
      // still shows (the next tick is late by it), for a tenth of the wake-ups.
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
    this.transactions = new Counter({
      name: METRIC_NAMES.transactions,
      help: 'Transactions ended, by outcome (committed, aborted, timed_out, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.readSeconds = new Histogram({
      name: METRIC_NAMES.readDuration,
      help: 'Time to serve one read request (one or more keys)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commitSeconds = new Histogram({
      name: METRIC_NAMES.commitDuration,
      help: 'Time from commit request to acknowledgement, for transactions with writes',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.cacheHits = new Counter({
      name: METRIC_NAMES.cacheHits,
      help: 'Version reads served by the data cache',
      registers,
    });
    this.cacheMisses = new Counter({
      name: METRIC_NAMES.cacheMisses,
      help: 'Version reads that went to storage',
      registers,
    });
    this.readsFromIntents = new Counter({
      name: METRIC_NAMES.readsFromIntents,
      help: "Committed versions read from their commit's intent, not written as versions yet",
      registers,
    });
    const hits = this.cacheHits;
    const misses = this.cacheMisses;
    new Gauge({
      name: METRIC_NAMES.cacheHitRatio,
      help: 'Cache hits over all version reads since start',
      registers,
      async collect() {
        const hit = (await hits.get()).values[0]?.value ?? 0;
        const miss = (await misses.get()).values[0]?.value ?? 0;
        this.set(hit + miss === 0 ? 0 : hit / (hit + miss));
      },
    });
    this.storageErrors = new Counter({
      name: METRIC_NAMES.storageErrors,
      help: 'Failed storage calls, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.storageCalls = new Counter({
      name: METRIC_NAMES.storageCalls,
      help: 'Calls of the storage contract, by operation (a listing of several pages counts once)',
      labelNames: ['operation'],
      registers,
    });
    readingGauge(
      registers,
      METRIC_NAMES.openTransactions,
      'Transactions running on this node',
      options.openTransactions,
    );
    this.gcDeleted = new Counter({
      name: METRIC_NAMES.gcDeleted,
      help: 'Objects deleted from storage by GC passes run here: versions, orphans, records',
      labelNames: ['kind'],
      registers,
    });
    this.gcBacklog = new Gauge({
      name: METRIC_NAMES.gcBacklog,
      help: 'Collectable versions the last GC pass run here left for the next one',
      registers,
    });
    const commitStreams = options.commitStreams;
    if (commitStreams) {
      new Gauge({
        name: METRIC_NAMES.commitStreams,
        help: 'Commit streams open between this node and its peers, by direction',
        labelNames: ['direction'],
        registers,
        collect() {
          const open = commitStreams();
          this.set({ direction: 'in' }, open.in);
          this.set({ direction: 'out' }, open.out);
        },
      });
    }
    const pushIntervalMs = options.commitPushIntervalMs;
    readingGauge(
      registers,
      METRIC_NAMES.commitPushInterval,
      'The least time between two commit batches this node sends a peer now: 0.01 s, more while its event loop is busy or it has many peers',
      pushIntervalMs && (() => pushIntervalMs() / 1000),
    );
    readingGauge(
      registers,
      METRIC_NAMES.metadataTransactions,
      "Committed transactions in this node's metadata (bounded by local GC)",
      options.metadataTransactions,
    );
    this.httpSeconds = new Histogram({
      name: METRIC_NAMES.httpRequestDuration,
      help: 'HTTP requests, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  transactionEnded(outcome: TransactionOutcome): void {
    this.transactions.inc({ outcome });
  }
  observeRead(seconds: number): void {
    this.readSeconds.observe(seconds);
  }
  observeCommit(seconds: number): void {
    this.commitSeconds.observe(seconds);
  }
  cacheHit(): void {
    this.cacheHits.inc();
  }
  cacheMiss(): void {
    this.cacheMisses.inc();
  }
  readFromIntent(): void {
    this.readsFromIntents.inc();
  }
  storageError(operation: string): void {
    this.storageErrors.inc({ operation });
  }
  storageCall(operation: string): void {
    this.storageCalls.inc({ operation });
  }
}

/** A gauge that reads `read` at each scrape; none when there is nothing to read. */
function readingGauge(
  registers: Registry[],
  name: string,
  help: string,
  read: (() => number) | undefined,
): void {
  if (!read) return;
  new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}
