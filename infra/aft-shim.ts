/**
 * AftShim: the aft shim tier as one construct. Shim nodes run as an ECS Fargate service in a
 * VPC, behind an internal Application Load Balancer (never public), over the storage engine
 * of your choice; global GC runs on EventBridge Scheduler; REST tokens live in Secrets
 * Manager; /metrics reaches CloudWatch for alarms and a dashboard. `connect(fn)` gives a
 * Lambda function the layer, the AFT_* environment, network access and the token.
 *
 *   const aft = new AftShim(this, 'Aft', { vpc, storage: AftStorageEngine.DYNAMODB });
 *   aft.connect(checkoutFunction);
 *
 * Over 400 lines: one construct whose parts (service, balancer, GC schedule, alarms,
 * dashboard, connect) share its props and resources; storage and monitoring have their own
 * modules.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { LAMBDA_ENV } from '../lambda-layer/config.js';
import { SETTING_ENV } from '../shim/config.js';
import { DEFAULT_PORT, PATHS } from '../wire/api.js';
import { METRIC_NAMES } from '../wire/metrics.js';
import { aftMetric, agentConfiguration } from './monitoring.js';
import { AftStorage, AftStorageEngine } from './storage.js';

export interface AftShimProps {
  /** The VPC of the shim tier (and of the functions you connect). @default a new VPC over 2 AZs */
  readonly vpc?: ec2.IVpc;
  /** The storage engine. @default AftStorageEngine.S3 */
  readonly storage?: AftStorageEngine;
  /** An existing bucket, for S3 storage. @default a new bucket */
  readonly bucket?: s3.IBucket;
  /** Put before the DynamoDB table names (`<prefix>versions`, `<prefix>commits`). @default 'aft-' */
  readonly tablePrefix?: string;
  /** The node type of the Redis shards. @default 'cache.t4g.small' */
  readonly redisNodeType?: string;
  /** Shards of the Redis cluster. @default 1 */
  readonly redisShards?: number;
  /** Replicas per Redis shard. @default 1 */
  readonly redisReplicasPerShard?: number;
  /** What happens to the storage (bucket, tables, Redis) when the stack goes. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Shim nodes at least. @default 2 */
  readonly minNodes?: number;
  /** Shim nodes at most. @default 10 */
  readonly maxNodes?: number;
  /** vCPU units per node (1024 = 1 vCPU). @default 512 */
  readonly cpu?: number;
  /** Memory per node. @default 1024 */
  readonly memoryLimitMiB?: number;
  /** Scale out above this average CPU. @default 60 */
  readonly targetCpuPercent?: number;
  /** Scale out above this many requests per node per minute. @default 30000 */
  readonly targetRequestsPerNode?: number;
  /** When global GC runs. @default every 5 minutes */
  readonly gcSchedule?: scheduler.ScheduleExpression;
  /** How long logs are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** The shim's image. @default built from the Dockerfile of the aft package */
  readonly image?: ecs.ContainerImage;
  /** The layer zip of `npm run build:layer`. @default dist/layer/aft-lambda-layer.zip of the aft package */
  readonly layerZipPath?: string;
  /** Alarm when the GC backlog stays above this. @default 100000 */
  readonly gcBacklogAlarmThreshold?: number;
  /** Alarm when more transactions than this end without committing, per minute. @default 100 */
  readonly abortsAlarmThreshold?: number;
  /** Alarm when the average commit takes longer. @default Duration.seconds(1) */
  readonly commitLatencyAlarmThreshold?: Duration;
}

const PORT = DEFAULT_PORT;
const LISTENER_PORT = 80;

export class AftShim extends Construct {
  readonly vpc: ec2.IVpc;
  readonly storage: AftStorage;
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** The URL functions use: the internal load balancer. */
  readonly url: string;
  /** The REST API's bearer token (AFT_TOKENS of the nodes). */
  readonly tokenSecret: secretsmanager.ISecret;
  readonly gcSchedule: scheduler.Schedule;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: readonly cloudwatch.Alarm[];
  private readonly serviceName: string;
  private readonly layerZipPath: string | undefined;
  private layer: lambda.LayerVersion | undefined;

  constructor(scope: Construct, id: string, props: AftShimProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.vpc = props.vpc ?? new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    this.storage = new AftStorage(this, 'Storage', {
      engine: props.storage ?? AftStorageEngine.S3,
      vpc: this.vpc,
      removalPolicy,
      tablePrefix: props.tablePrefix ?? 'aft-',
      redisNodeType: props.redisNodeType ?? 'cache.t4g.small',
      redisShards: props.redisShards ?? 1,
      redisReplicasPerShard: props.redisReplicasPerShard ?? 1,
      ...(props.bucket && { bucket: props.bucket }),
    });
    this.tokenSecret = new secretsmanager.Secret(this, 'Token', {
      description: 'aft REST API bearer token',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    });
    const packageRoot = findPackageRoot();
    // One image asset for the nodes and the GC task: built and pushed once.
    const image = props.image ?? imageFromPackage(this, packageRoot);
    this.layerZipPath =
      props.layerZipPath ??
      (packageRoot ? join(packageRoot, 'dist', 'layer', 'aft-lambda-layer.zip') : undefined);

    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 512,
      memoryLimitMiB: props.memoryLimitMiB ?? 1024,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.serviceName = `${Stack.of(this).stackName}-${id}`.slice(0, 255);
    const environment = {
      [SETTING_ENV.storage]: this.storage.storageUrl,
      [SETTING_ENV.host]: '0.0.0.0',
      [SETTING_ENV.port]: String(PORT),
      [SETTING_ENV.logLevel]: 'info',
      // The CloudWatch agent beside each node scrapes /metrics without a token.
      [SETTING_ENV.metricsAuth]: 'off',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    taskDefinition.addContainer('shim', {
      image,
      command: ['serve'],
      environment,
      secrets: { [SETTING_ENV.tokens]: ecs.Secret.fromSecretsManager(this.tokenSecret) },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'shim' }),
      portMappings: [{ containerPort: PORT }],
      healthCheck: {
        command: [
          'CMD-SHELL',
          `node -e "fetch('http://127.0.0.1:${PORT}${PATHS.health}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`,
        ],
        interval: Duration.seconds(15),
        startPeriod: Duration.seconds(30),
      },
      stopTimeout: Duration.seconds(30),
    });
    const { agent, prometheus } = agentConfiguration(this.serviceName, PORT);
    taskDefinition.addContainer('metrics', {
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest'),
      essential: false,
      environment: { CW_CONFIG_CONTENT: agent, PROMETHEUS_CONFIG_CONTENT: prometheus },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'cloudwatch-agent' }),
      memoryReservationMiB: 64,
    });
    // The agent writes embedded metrics to /aws/ecs/containerinsights/<cluster>/prometheus.
    taskDefinition.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
        ],
        resources: [
          Stack.of(this).formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: `/aws/ecs/containerinsights/${cluster.clusterName}/prometheus:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    this.storage.grantData(taskDefinition.taskRole);

    const balanced = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster,
      taskDefinition,
      serviceName: this.serviceName,
      publicLoadBalancer: false,
      listenerPort: LISTENER_PORT,
      desiredCount: props.minNodes ?? 2,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      taskSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      openListener: false,
    });
    balanced.targetGroup.configureHealthCheck({
      path: PATHS.ready,
      healthyHttpCodes: '200',
      interval: Duration.seconds(10),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    balanced.targetGroup.setAttribute('deregistration_delay.timeout_seconds', '30');
    this.service = balanced.service;
    this.loadBalancer = balanced.loadBalancer;
    this.url = `http://${balanced.loadBalancer.loadBalancerDnsName}`;
    // Nodes forward requests to each other's transactions (server/http/forwarding.ts).
    for (const group of this.service.connections.securityGroups) {
      group.addIngressRule(group, ec2.Port.tcp(PORT), 'aft nodes forward to each other');
    }
    if (this.storage.redisSecurityGroup) {
      this.storage.redisSecurityGroup.connections.allowFrom(this.service, ec2.Port.tcp(6379), 'aft nodes');
    }

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: props.minNodes ?? 2,
      maxCapacity: props.maxNodes ?? 10,
    });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: props.targetCpuPercent ?? 60 });
    scaling.scaleOnRequestCount('Requests', {
      targetGroup: balanced.targetGroup,
      requestsPerTarget: props.targetRequestsPerNode ?? 30_000,
    });

    // Global GC: `aft gc` as a one-off task on a schedule (one pass; it stands down while a
    // node holds the GC lease, so the two never run at once).
    const gcTask = new ecs.FargateTaskDefinition(this, 'GcTask', { cpu: 256, memoryLimitMiB: 512 });
    gcTask.addContainer('gc', {
      image,
      command: ['gc'],
      environment: {
        [SETTING_ENV.storage]: this.storage.storageUrl,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'gc' }),
    });
    this.storage.grantData(gcTask.taskRole);
    const gcSecurityGroup = new ec2.SecurityGroup(this, 'GcSecurityGroup', {
      vpc: this.vpc,
      description: 'aft gc task',
    });
    if (this.storage.redisSecurityGroup) {
      this.storage.redisSecurityGroup.connections.allowFrom(gcSecurityGroup, ec2.Port.tcp(6379), 'aft gc');
    }
    this.gcSchedule = new scheduler.Schedule(this, 'GcSchedule', {
      description: 'aft global garbage collection',
      schedule: props.gcSchedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      target: new schedulerTargets.EcsRunFargateTask(cluster, {
        taskDefinition: gcTask,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [gcSecurityGroup],
        retryAttempts: 0,
      }),
    });

    // Each alarm fires when its figure stays above the threshold for 3 of 5 minutes (the GC
    // backlog: 6 of 6, as passes run every few minutes); no data is no alarm.
    const alarm = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      gc = false,
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: `aft: ${description}`,
        metric,
        threshold,
        evaluationPeriods: gc ? 6 : 5,
        datapointsToAlarm: gc ? 6 : 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.alarms = [
      alarm('StorageErrorsAlarm', 'the storage engine is failing requests', this.metricStorageErrors(), 10),
      alarm(
        'CommitLatencyAlarm',
        'commits are slow',
        this.metricCommitLatency(),
        (props.commitLatencyAlarmThreshold ?? Duration.seconds(1)).toMilliseconds() / 1000,
      ),
      alarm(
        'AbortsAlarm',
        'many transactions abort (by their functions, their idle timeout or storage)',
        this.metricAborts(),
        props.abortsAlarmThreshold ?? 100,
      ),
      alarm(
        'GcBacklogAlarm',
        'garbage collection is falling behind',
        this.metricGcBacklog(),
        props.gcBacklogAlarmThreshold ?? 100_000,
        true,
      ),
    ];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Transactions by outcome',
            left: ['committed', 'aborted', 'timed_out', 'failed'].map((outcome) =>
              this.metricTransactions(outcome),
            ),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Average commit latency (s)',
            left: [this.metricCommitLatency()],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Storage errors',
            left: [this.metricStorageErrors()],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'GC backlog', left: [this.metricGcBacklog()], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Nodes: CPU and open transactions',
            left: [this.service.metricCpuUtilization()],
            right: [aftMetric(this.serviceName, METRIC_NAMES.openTransactions, 'Sum')],
            width: 8,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'aft alarms', alarms: [...this.alarms], width: 24 })],
      ],
    });
  }

  /** Transactions ended with this outcome (committed, aborted, timed_out, failed), per minute. */
  metricTransactions(outcome: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return aftMetric(this.serviceName, METRIC_NAMES.transactions, 'Sum', { outcome }).with(props);
  }

  /** Transactions that ended without committing (aborted, timed out, failed in storage), per minute. */
  metricAborts(props: cloudwatch.MetricOptions = {}): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'FILL(aborted, 0) + FILL(timedOut, 0) + FILL(failed, 0)',
      usingMetrics: {
        aborted: this.metricTransactions('aborted', props),
        timedOut: this.metricTransactions('timed_out', props),
        failed: this.metricTransactions('failed', props),
      },
      label: 'aborts',
      period: props.period ?? Duration.minutes(1),
    });
  }

  /** The average commit latency in seconds. */
  metricCommitLatency(props: cloudwatch.MetricOptions = {}): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'IF(commits > 0, seconds / commits, 0)',
      usingMetrics: {
        seconds: aftMetric(this.serviceName, `${METRIC_NAMES.commitDuration}_sum`, 'Sum').with(props),
        commits: aftMetric(this.serviceName, `${METRIC_NAMES.commitDuration}_count`, 'Sum').with(props),
      },
      label: 'average commit latency (s)',
      period: props.period ?? Duration.minutes(1),
    });
  }

  /** Storage calls that failed, per minute. */
  metricStorageErrors(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return aftMetric(this.serviceName, METRIC_NAMES.storageErrors, 'Sum').with(props);
  }

  /** Collectable versions the last GC pass left for later (aft_gc_backlog). */
  metricGcBacklog(props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return aftMetric(this.serviceName, METRIC_NAMES.gcBacklog, 'Maximum').with(props);
  }

  /**
   * Gives a Lambda function what it needs to use aft: the layer, AFT_URL and
   * AFT_TOKEN_SECRET_ARN, read access to the token, and network access to the load
   * balancer. The function must run in this construct's VPC.
   */
  connect(fn: lambda.Function): void {
    if (!fn.isBoundToVpc) {
      throw new Error(`${fn.node.path}: aft's load balancer is internal; give the function vpc: aft.vpc`);
    }
    fn.addLayers(this.layerVersion());
    fn.addEnvironment(LAMBDA_ENV.url, this.url);
    fn.addEnvironment(LAMBDA_ENV.tokenSecretArn, this.tokenSecret.secretArn);
    this.grantConnect(fn);
  }

  /** Read access to the token and network access to the load balancer, for any grantee in the VPC. */
  grantConnect(grantee: iam.IGrantable & ec2.IConnectable): iam.Grant {
    this.loadBalancer.connections.allowFrom(grantee, ec2.Port.tcp(LISTENER_PORT), 'aft clients');
    return this.tokenSecret.grantRead(grantee);
  }

  /** The Lambda layer, from the `npm run build:layer` zip (created once, on first use). */
  layerVersion(): lambda.LayerVersion {
    if (this.layer) return this.layer;
    if (!this.layerZipPath || !existsSync(this.layerZipPath)) {
      throw new Error(
        `the aft layer zip ${this.layerZipPath ?? '(no aft package found)'} is missing: run npm run build:layer`,
      );
    }
    this.layer = new lambda.LayerVersion(this, 'Layer', {
      code: lambda.Code.fromAsset(this.layerZipPath),
      compatibleRuntimes: [
        lambda.Runtime.NODEJS_20_X,
        lambda.Runtime.NODEJS_22_X,
        lambda.Runtime.NODEJS_24_X,
      ],
      description: 'aft: withTransaction for Node.js handlers',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return this.layer;
  }
}

/** The installed aft package, as the CDK app's project resolves it (or this repository itself). */
function findPackageRoot(): string | undefined {
  try {
    return dirname(createRequire(join(process.cwd(), 'noop.js')).resolve('aft-shim/package.json'));
  } catch {
    return undefined;
  }
}

function imageFromPackage(scope: Construct, packageRoot: string | undefined): ecs.ContainerImage {
  if (!packageRoot || !existsSync(join(packageRoot, 'Dockerfile'))) {
    throw new Error('no aft package with a Dockerfile found from this directory: pass props.image');
  }
  const asset = new ecrAssets.DockerImageAsset(scope, 'Image', {
    directory: packageRoot,
    file: 'Dockerfile',
    platform: ecrAssets.Platform.LINUX_AMD64,
  });
  return ecs.ContainerImage.fromDockerImageAsset(asset);
}
