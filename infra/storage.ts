/**
 * The storage engine behind the shim: what AftShim creates for each choice, the storage URL
 * the nodes get, and the least privilege that URL needs (docs/adapters/<engine>.md).
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The storage engines AftShim deploys. */
export const AftStorageEngine = {
  /** An S3 bucket (new, or `bucket`). */
  S3: 's3',
  /** Two on-demand DynamoDB tables, as `aft storage init` makes them. */
  DYNAMODB: 'dynamodb',
  /** An ElastiCache for Redis replication group in cluster mode. */
  REDIS: 'redis',
} as const;
export type AftStorageEngine = (typeof AftStorageEngine)[keyof typeof AftStorageEngine];

export interface AftStorageProps {
  readonly engine: AftStorageEngine;
  readonly vpc: ec2.IVpc;
  readonly removalPolicy: RemovalPolicy;
  /** An existing bucket (S3 only). */
  readonly bucket?: s3.IBucket;
  readonly tablePrefix: string;
  readonly redisNodeType: string;
  readonly redisShards: number;
  readonly redisReplicasPerShard: number;
}

/** The resources of one storage choice. */
export class AftStorage extends Construct {
  /** The storage URL of `aft serve` (AFT_STORAGE). */
  readonly storageUrl: string;
  readonly bucket: s3.IBucket | undefined;
  readonly versionsTable: dynamodb.ITable | undefined;
  readonly commitsTable: dynamodb.ITable | undefined;
  readonly replicationGroup: elasticache.CfnReplicationGroup | undefined;
  /** Who may reach Redis on its port (the shim's tasks are added). */
  readonly redisSecurityGroup: ec2.SecurityGroup | undefined;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: AftStorageProps) {
    super(scope, id);
    this.region = props.vpc.env.region;
    switch (props.engine) {
      case AftStorageEngine.S3: {
        this.bucket =
          props.bucket ??
          new s3.Bucket(this, 'Bucket', {
            encryption: s3.BucketEncryption.S3_MANAGED,
            blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
            enforceSSL: true,
            removalPolicy: props.removalPolicy,
            autoDeleteObjects: false,
          });
        this.storageUrl = `s3://${this.bucket.bucketName}?region=${this.region}`;
        break;
      }
      case AftStorageEngine.DYNAMODB: {
        // The keys `aft storage init` creates (adapters/dynamodb.ts).
        const table = (name: string, partition: string) =>
          new dynamodb.TableV2(this, name === 'versions' ? 'VersionsTable' : 'CommitsTable', {
            tableName: `${props.tablePrefix}${name}`,
            partitionKey: { name: partition, type: dynamodb.AttributeType.STRING },
            sortKey: { name: 'v', type: dynamodb.AttributeType.STRING },
            billing: dynamodb.Billing.onDemand(),
            pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
            removalPolicy: props.removalPolicy,
          });
        this.versionsTable = table('versions', 'k');
        this.commitsTable = table('commits', 'b');
        this.storageUrl = `dynamodb://${props.tablePrefix}?region=${this.region}`;
        break;
      }
      case AftStorageEngine.REDIS: {
        this.redisSecurityGroup = new ec2.SecurityGroup(this, 'RedisSecurityGroup', {
          vpc: props.vpc,
          description: 'aft Redis: reachable from the shim tasks only',
          allowAllOutbound: false,
        });
        const subnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
          description: 'aft Redis subnets',
          subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
        });
        this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Redis', {
          replicationGroupDescription: 'aft storage',
          engine: 'redis',
          cacheNodeType: props.redisNodeType,
          cacheParameterGroupName: 'default.redis7.cluster.on',
          numNodeGroups: props.redisShards,
          replicasPerNodeGroup: props.redisReplicasPerShard,
          automaticFailoverEnabled: true,
          multiAzEnabled: props.redisReplicasPerShard > 0,
          atRestEncryptionEnabled: true,
          cacheSubnetGroupName: subnets.ref,
          securityGroupIds: [this.redisSecurityGroup.securityGroupId],
          port: 6379,
          // aft keeps its data in Redis: snapshots let an operator restore it.
          snapshotRetentionLimit: 7,
        });
        this.replicationGroup.applyRemovalPolicy(props.removalPolicy);
        this.storageUrl = `redis+cluster://${this.replicationGroup.attrConfigurationEndPointAddress}:${this.replicationGroup.attrConfigurationEndPointPort}`;
        break;
      }
      default:
        throw new Error(`unknown aft storage engine ${JSON.stringify(props.engine)}`);
    }
  }

  /** The data-plane permissions the shim nodes and `aft gc` need: exactly the calls the adapter makes. */
  grantData(grantee: iam.IGrantable): void {
    if (this.bucket) {
      iam.Grant.addToPrincipalOrResource({
        grantee,
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resourceArns: [this.bucket.arnForObjects('*')],
        resource: this.bucket,
      });
      iam.Grant.addToPrincipalOrResource({
        grantee,
        actions: ['s3:ListBucket'],
        resourceArns: [this.bucket.bucketArn],
        resource: this.bucket,
      });
    }
    for (const table of [this.versionsTable, this.commitsTable]) {
      table?.grant(
        grantee,
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
      );
    }
  }
}
