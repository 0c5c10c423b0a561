/**
 * The synthesized template of AftShim, for each storage engine (aws-cdk-lib/assertions):
 * what it creates, least privilege on data, no public exposure, alarms and dashboard, and
 * what connect() gives a function.
 */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AftShim, type AftShimProps, AftStorageEngine } from '../../infra/index.js';
import { stubLayerZip } from './layer-stub.js';

let layerZipPath: string;

beforeAll(async () => {
  layerZipPath = await stubLayerZip();
});

function synth(props: AftShimProps = {}, connect = true) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const aft = new AftShim(stack, 'Aft', {
    image: ecs.ContainerImage.fromRegistry('example.com/aft:test'),
    layerZipPath,
    ...props,
  });
  const fn = new lambda.Function(stack, 'Checkout', {
    runtime: lambda.Runtime.NODEJS_22_X,
    code: lambda.Code.fromInline('exports.handler = async () => 1;'),
    handler: 'index.handler',
    vpc: aft.vpc,
  });
  if (connect) aft.connect(fn);
  return { stack, aft, fn, template: Template.fromStack(stack) };
}

type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

function actions(template: Template): string[] {
  return statements(template).flatMap((statement) => [statement.Action].flat());
}

function containerEnvironment(template: Template, container: string): Record<string, string> {
  const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap(
    (definition) =>
      (
        definition as {
          Properties: {
            ContainerDefinitions: { Name: string; Environment?: { Name: string; Value: unknown }[] }[];
          };
        }
      ).Properties.ContainerDefinitions,
  );
  const found = definitions.find((definition) => definition.Name === container)!;
  return Object.fromEntries(
    (found.Environment ?? []).map(({ Name, Value }) => [Name, JSON.stringify(Value)]),
  );
}

describe.each([AftStorageEngine.S3, AftStorageEngine.DYNAMODB, AftStorageEngine.REDIS])(
  'AftShim on %s',
  (engine) => {
    let template: Template;
    // After the top-level beforeAll has written the layer zip.
    beforeAll(() => {
      ({ template } = synth({ storage: engine }));
    });

    it('runs the nodes on Fargate behind an internal load balancer that checks /readyz', () => {
      template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: 2 });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/readyz',
      });
      template.hasResourceProperties('AWS::ECS::Service', {
        LoadBalancers: [Match.objectLike({ ContainerName: 'shim', ContainerPort: 7070 })],
      });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: 2,
        MaxCapacity: 10,
      });
      template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'ALBRequestCountPerTarget',
            ResourceLabel: Match.anyValue(),
          },
        }),
      });
    });

    it('exposes nothing publicly: no ingress from anywhere, no public subnets for the tasks', () => {
      const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
      expect(groups.length).toBeGreaterThan(0);
      // Ingress rules inline in a group, and standalone ones: every one is checked.
      const rules = [
        ...groups.flatMap(
          (group) =>
            (group as { Properties: { SecurityGroupIngress?: { CidrIp?: string }[] } }).Properties
              .SecurityGroupIngress ?? [],
        ),
        ...Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
          (rule) => (rule as { Properties: { CidrIp?: string } }).Properties,
        ),
      ];
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) expect(rule.CidrIp).not.toBe('0.0.0.0/0');
      template.hasResourceProperties('AWS::ECS::Service', {
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      });
    });

    it('grants no wildcard action, and on data exactly what the adapter calls', () => {
      expect(actions(template).length).toBeGreaterThan(0);
      for (const action of actions(template)) {
        expect(action).not.toBe('*');
        expect(action).not.toMatch(/^[a-z0-9-]+:\*$/);
      }
      const data = actions(template).filter((action) => /^(s3|dynamodb|elasticache):/.test(action));
      const expected = {
        s3: ['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject'],
        dynamodb: [
          'dynamodb:BatchGetItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
        ],
        redis: [],
      }[engine];
      expect([...new Set(data)].sort()).toEqual(expected);
    });

    it('holds the REST token in Secrets Manager and gives it to the nodes as AFT_TOKENS', () => {
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: Match.arrayWith([
          Match.objectLike({
            Name: 'shim',
            Secrets: [{ Name: 'AFT_TOKENS', ValueFrom: Match.anyValue() }],
            Command: ['serve'],
          }),
        ]),
      });
    });

    it('runs aft gc on an EventBridge Scheduler schedule, as a Fargate task', () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(5 minutes)',
        Target: Match.objectLike({ EcsParameters: Match.objectLike({ LaunchType: 'FARGATE' }) }),
      });
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [Match.objectLike({ Name: 'gc', Command: ['gc'] })],
      });
    });

    it('keeps logs for a month, and alarms and a dashboard on the /metrics figures', () => {
      const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup'));
      expect(logGroups.length).toBeGreaterThan(0);
      for (const group of logGroups) {
        expect((group as { Properties: { RetentionInDays?: number } }).Properties.RetentionInDays).toBe(30);
      }
      template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
      for (const metric of ['aft_storage_errors_total', 'aft_gc_backlog']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: metric, Namespace: 'aft' });
      }
      // Commit latency (sum / count) and aborts (the non-committed outcomes) are metric math.
      for (const [metric, dimension] of [
        ['aft_commit_duration_seconds_sum', undefined],
        ['aft_transactions_total', { Name: 'outcome', Value: 'timed_out' }],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Metrics: Match.arrayWith([
            Match.objectLike({
              MetricStat: Match.objectLike({
                Metric: Match.objectLike({
                  MetricName: metric,
                  Namespace: 'aft',
                  ...(dimension && { Dimensions: Match.arrayWith([dimension]) }),
                }),
              }),
            }),
          ]),
        });
      }
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      // The CloudWatch agent beside each node scrapes /metrics into the aft namespace.
      const agent = containerEnvironment(template, 'metrics');
      expect(agent.CW_CONFIG_CONTENT).toContain('metric_namespace');
      expect(agent.PROMETHEUS_CONFIG_CONTENT).toContain('localhost:7070');
    });

    it('gives a connected function the layer, the AFT_* environment, the token and the load balancer', () => {
      template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Layers: [{ Ref: Match.stringLikeRegexp('Layer') }],
        Environment: {
          Variables: {
            AFT_URL: Match.anyValue(),
            AFT_TOKEN_SECRET_ARN: { Ref: Match.stringLikeRegexp('Token') },
          },
        },
      });
      expect(
        statements(template).some(
          (statement) =>
            [statement.Action].flat().includes('secretsmanager:GetSecretValue') &&
            JSON.stringify(statement.Resource).includes('Token'),
        ),
      ).toBe(true);
      // Port 80 of the load balancer, from the function's security group only.
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        FromPort: 80,
        ToPort: 80,
        SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('CheckoutSecurityGroup'), 'GroupId'] },
      });
    });

    it('gives the nodes the storage URL of the engine', () => {
      const url = containerEnvironment(template, 'shim').AFT_STORAGE!;
      expect(url).toMatch(
        { s3: /s3:\/\//, dynamodb: /dynamodb:\/\/aft-/, redis: /redis\+cluster:\/\// }[engine],
      );
    });
  },
);

describe('AftShim storage resources', () => {
  it('S3: a private, encrypted, TLS-only bucket that is kept by default', () => {
    const { template } = synth({ storage: AftStorageEngine.S3 });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: Match.objectLike({
          BlockPublicAcls: true,
          RestrictPublicBuckets: true,
        }),
      }),
    });
  });

  it('S3: an existing bucket is used, not created', () => {
    const app = new App();
    const stack = new Stack(app, 'Existing');
    const bucket = s3.Bucket.fromBucketName(stack, 'Mine', 'my-aft-data');
    new AftShim(stack, 'Aft', { image: ecs.ContainerImage.fromRegistry('x'), layerZipPath, bucket });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(JSON.stringify(template.toJSON())).toContain('my-aft-data');
  });

  it('DynamoDB: the two tables `aft storage init` makes, on demand, with point-in-time recovery', () => {
    const { template } = synth({ storage: AftStorageEngine.DYNAMODB, tablePrefix: 'shop-' });
    for (const [name, partition] of [
      ['shop-versions', 'k'],
      ['shop-commits', 'b'],
    ] as const) {
      template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: partition, KeyType: 'HASH' },
          { AttributeName: 'v', KeyType: 'RANGE' },
        ],
      });
    }
  });

  it('Redis: a cluster-mode replication group reachable from the nodes and the GC task only', () => {
    const { template } = synth({ storage: AftStorageEngine.REDIS, redisShards: 3 });
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      NumNodeGroups: 3,
      CacheParameterGroupName: 'default.redis7.cluster.on',
      AtRestEncryptionEnabled: true,
    });
    const redisIngress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => (rule as { Properties: { FromPort: number } }).Properties.FromPort === 6379,
    );
    expect(redisIngress).toHaveLength(2);
  });

  it('removalPolicy applies to the stateful resources', () => {
    const kept = synth({ storage: AftStorageEngine.DYNAMODB }).template;
    const dropped = synth({
      storage: AftStorageEngine.DYNAMODB,
      removalPolicy: RemovalPolicy.DESTROY,
    }).template;
    const keptTables = Object.values(kept.findResources('AWS::DynamoDB::GlobalTable'));
    const droppedTables = Object.values(dropped.findResources('AWS::DynamoDB::GlobalTable'));
    expect([keptTables.length, droppedTables.length]).toEqual([2, 2]);
    for (const table of keptTables) {
      expect((table as { DeletionPolicy: string }).DeletionPolicy).toBe('Retain');
    }
    for (const table of droppedTables) {
      expect((table as { DeletionPolicy: string }).DeletionPolicy).toBe('Delete');
    }
  });
});

describe('AftShim.connect', () => {
  it('refuses a function outside the VPC, saying why', () => {
    const { stack, aft } = synth({}, false);
    const outside = new lambda.Function(stack, 'Outside', {
      runtime: lambda.Runtime.NODEJS_22_X,
      code: lambda.Code.fromInline('exports.handler = async () => 1;'),
      handler: 'index.handler',
    });
    expect(() => aft.connect(outside)).toThrow(/internal; give the function vpc: aft.vpc/);
  });

  it('says to build the layer when its zip is missing', () => {
    const app = new App();
    const stack = new Stack(app, 'NoLayer');
    const aft = new AftShim(stack, 'Aft', {
      image: ecs.ContainerImage.fromRegistry('x'),
      layerZipPath: '/nonexistent/layer.zip',
      vpc: new ec2.Vpc(stack, 'Vpc'),
    });
    expect(() => aft.layerVersion()).toThrow(/npm run build:layer/);
  });
});
