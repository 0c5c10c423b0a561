/**
 * `npx cdk synth` of the example app (infra/app.ts, cdk.json) as a user runs it, for each
 * storage engine, with no network: no notices, no version check, no telemetry, no lookups.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/processes.js';

const OFFLINE = {
  CDK_DISABLE_VERSION_CHECK: '1',
  CDK_DISABLE_CLI_TELEMETRY: 'true',
  // No AWS account or region: the stack is environment-agnostic.
  AWS_ACCESS_KEY_ID: '',
  AWS_PROFILE: '',
};

beforeAll(() => {
  // The app gives the functions the layer zip of `npm run build:layer`.
  execFileSync(process.execPath, [join(ROOT, 'dist', 'bin', 'build-layer.js')], { cwd: ROOT });
}, 60_000);

describe('cdk synth of the example app', () => {
  it.each(['s3', 'dynamodb', 'redis'])(
    'synthesizes the shim tier and the checkout functions on %s',
    (storage) => {
      const out = mkdtempSync(join(tmpdir(), 'aft-cdk-out-'));
      execFileSync(
        join(ROOT, 'node_modules', '.bin', 'cdk'),
        ['synth', '--no-notices', '--quiet', '--output', out, '--context', `storage=${storage}`],
        {
          cwd: ROOT,
          env: { ...process.env, ...OFFLINE },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 120_000,
        },
      );
      const template = JSON.parse(readFileSync(join(out, 'AftCheckout.template.json'), 'utf8')) as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
        Outputs: Record<string, unknown>;
      };
      const types = Object.values(template.Resources).map((resource) => resource.Type);
      expect(types.filter((type) => type === 'AWS::Lambda::Function')).toHaveLength(3);
      expect(types).toEqual(
        expect.arrayContaining([
          'AWS::ECS::Service',
          'AWS::ElasticLoadBalancingV2::LoadBalancer',
          'AWS::Scheduler::Schedule',
          'AWS::SecretsManager::Secret',
          'AWS::Lambda::LayerVersion',
          'AWS::CloudWatch::Dashboard',
          {
            s3: 'AWS::S3::Bucket',
            dynamodb: 'AWS::DynamoDB::GlobalTable',
            redis: 'AWS::ElastiCache::ReplicationGroup',
          }[storage]!,
        ]),
      );
      expect(Object.keys(template.Outputs)).toEqual(expect.arrayContaining(['AftUrl', 'CheckoutFunction']));
      // The shim image is an asset built from the repository's Dockerfile at deploy time.
      const assets = JSON.parse(readFileSync(join(out, 'AftCheckout.assets.json'), 'utf8')) as {
        dockerImages: Record<string, { source: { directory: string } }>;
      };
      const images = Object.values(assets.dockerImages);
      expect(images).toHaveLength(1);
      expect(existsSync(join(out, images[0]!.source.directory, 'Dockerfile'))).toBe(true);
      expect(existsSync(join(out, images[0]!.source.directory, 'node_modules'))).toBe(false);
    },
    120_000,
  );

  it('refuses an unknown storage engine, naming the choices', () => {
    const failure = (() => {
      try {
        execFileSync(
          join(ROOT, 'node_modules', '.bin', 'cdk'),
          [
            'synth',
            '--no-notices',
            '-q',
            '-o',
            mkdtempSync(join(tmpdir(), 'aft-cdk-out-')),
            '-c',
            'storage=mysql',
          ],
          {
            cwd: ROOT,
            env: { ...process.env, ...OFFLINE },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        return '';
      } catch (error) {
        return String((error as { stderr?: Buffer }).stderr);
      }
    })();
    expect(failure).toContain('-c storage=mysql: expected one of s3, dynamodb, redis');
  }, 120_000);
});
