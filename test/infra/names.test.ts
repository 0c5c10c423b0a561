/**
 * The CDK construct names what the runtime defines: every aft_* metric its alarms, dashboard
 * and agent read is one the node exports, every AFT_* variable it sets is a setting of the
 * shim or the layer, and its health checks and port are the server's. A rename on either side
 * fails here, not in production.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AftShim } from '../../infra/index.js';
import { LAMBDA_SETTINGS } from '../../lambda-layer/config.js';
import { PrometheusMetrics } from '../../server/http/metrics.js';
import { DEFAULT_CONFIG, SETTINGS } from '../../shim/config.js';
import { PATHS } from '../../wire/api.js';
import { stubLayerZip } from './layer-stub.js';

let template: string;

beforeAll(async () => {
  const layerZipPath = await stubLayerZip();
  const stack = new Stack(new App(), 'Names');
  const aft = new AftShim(stack, 'Aft', {
    image: ecs.ContainerImage.fromRegistry('example.com/aft:test'),
    layerZipPath,
  });
  const fn = new lambda.Function(stack, 'Fn', {
    runtime: lambda.Runtime.NODEJS_22_X,
    code: lambda.Code.fromInline('exports.handler = async () => 1;'),
    handler: 'index.handler',
    vpc: aft.vpc,
  });
  aft.connect(fn);
  template = JSON.stringify(Template.fromStack(stack).toJSON());
});

describe('names the construct shares with the runtime', () => {
  it('every aft_* metric it reads is one the node exports', async () => {
    const exported = new Set(
      (
        await new PrometheusMetrics({
          openTransactions: () => 0,
          metadataTransactions: () => 0,
        }).registry.getMetricsAsJSON()
      ).map((metric) => metric.name),
    );
    const read = new Set([...template.matchAll(/aft_[a-z_]+[a-z]/g)].map((match) => match[0]));
    expect(read.size).toBeGreaterThan(3);
    const unknown = [...read].filter(
      (name) => !exported.has(name) && !exported.has(name.replace(/_(sum|count|bucket)$/, '')),
    );
    expect(unknown).toEqual([]);
  });

  it('every AFT_* variable it sets is a setting of the shim or the layer', () => {
    const settings = new Set([...SETTINGS, ...LAMBDA_SETTINGS].map((entry) => entry.env));
    const set = new Set([...template.matchAll(/"(AFT_[A-Z_]+)"/g)].map((match) => match[1]!));
    expect(set.size).toBeGreaterThan(3);
    expect([...set].filter((name) => !settings.has(name))).toEqual([]);
  });

  it("its health checks use the server's paths, on the server's default port", () => {
    expect(template).toContain(`"${PATHS.ready}"`);
    expect(template).toContain(`127.0.0.1:${DEFAULT_CONFIG.port}${PATHS.health}`);
  });
});
