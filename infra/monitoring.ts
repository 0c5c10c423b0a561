/**
 * The shim's /metrics in CloudWatch: a CloudWatch agent sidecar in each task scrapes
 * Prometheus text from localhost and publishes the aft_* series as embedded-metric logs in
 * the `aft` namespace, with the ECS service name as the dimension. Counters arrive as
 * deltas per scrape; histograms as their _sum and _count.
 */

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRIC_NAMES } from '../wire/metrics.js';

export const METRICS_NAMESPACE = 'aft';
export const SERVICE_DIMENSION = 'ServiceName';

/** The agent's configuration (CW_CONFIG_CONTENT) and its Prometheus scrape (PROMETHEUS_CONFIG_CONTENT). */
export function agentConfiguration(serviceName: string, port: number): { agent: string; prometheus: string } {
  const agent = {
    logs: {
      metrics_collected: {
        prometheus: {
          prometheus_config_path: 'env:PROMETHEUS_CONFIG_CONTENT',
          emf_processor: {
            metric_namespace: METRICS_NAMESPACE,
            metric_declaration: [
              {
                source_labels: ['job'],
                label_matcher: '^aft$',
                dimensions: [[SERVICE_DIMENSION]],
                metric_selectors: [
                  `^${METRIC_NAMES.commitDuration}_(sum|count)$`,
                  `^${METRIC_NAMES.storageErrors}$`,
                  `^${METRIC_NAMES.gcBacklog}$`,
                  `^${METRIC_NAMES.gcDeleted}$`,
                  `^${METRIC_NAMES.openTransactions}$`,
                ],
              },
              {
                source_labels: ['job'],
                label_matcher: '^aft$',
                dimensions: [[SERVICE_DIMENSION, 'outcome']],
                metric_selectors: [`^${METRIC_NAMES.transactions}$`],
              },
            ],
          },
        },
      },
      force_flush_interval: 5,
    },
  };
  const prometheus = [
    'global:',
    '  scrape_interval: 30s',
    '  scrape_timeout: 10s',
    'scrape_configs:',
    '  - job_name: aft',
    '    static_configs:',
    `      - targets: ['localhost:${port}']`,
    '        labels:',
    `          ${SERVICE_DIMENSION}: ${serviceName}`,
    '',
  ].join('\n');
  return { agent: JSON.stringify(agent), prometheus };
}

export function aftMetric(
  serviceName: string,
  metricName: string,
  statistic: string,
  extra: Record<string, string> = {},
  period = Duration.minutes(1),
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: serviceName, ...extra },
    statistic,
    period,
  });
}
