import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DbBackupStack } from '../../infra/dbbackup-stack.js';
import { type DeploymentConfig, loadDeploymentConfig } from '../../shared/deployment-config.js';
import { repoRoot } from '../harness/test-env.js';

/** A stand-in build context (a one-line Dockerfile): the template is the same, without copying the repository. */
function imageCode(): (handler: string) => lambda.DockerImageCode {
  const dir = mkdtempSync(join(tmpdir(), 'dbbackup-image-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:22\n');
  return (handler) => lambda.DockerImageCode.fromImageAsset(dir, { cmd: [handler] });
}

/** Synthesizes an app with cdk-nag registered as cdk synth does; throws on unacknowledged findings. */
function synthWithNag(config: DeploymentConfig): void {
  const app = new App();
  new DbBackupStack(app, 'DbBackup', { config, code: imageCode() });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

function synth(config: DeploymentConfig): { stack: DbBackupStack; template: Template } {
  const app = new App();
  const stack = new DbBackupStack(app, 'DbBackup', { config, code: imageCode() });
  return { stack, template: Template.fromStack(stack) };
}

/** Every IAM action a role's inline policies allow. */
function actionsOf(template: Template, rolePathPart: string): string[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const actions: string[] = [];
  for (const [id, policy] of Object.entries(policies)) {
    if (!id.includes(rolePathPart)) continue;
    for (const statement of (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[] }> } } })
      .Properties.PolicyDocument.Statement) {
      actions.push(...[statement.Action].flat());
    }
  }
  return actions;
}

describe('the CDK stack, from the example config', () => {
  let config: DeploymentConfig;
  let template: Template;

  before(async () => {
    config = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    ({ template } = synth(config));
  });

  test('the bucket: SSE-KMS with a rotated customer managed key, no public access, versioned, lifecycle rules, retained', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({
              ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
              BucketKeyEnabled: true,
            }),
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
            Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
          ]),
        },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'backup-bucket/' }),
      }),
    });
  });

  test('the bucket policy refuses plain HTTP and uploads that ask for another encryption', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
          }),
        ]),
      },
    });
  });

  test('functions: container images with explicit memory, timeout and ephemeral storage; failed backups go to the alert function, never retried', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.hasResourceProperties('AWS::Lambda::Function', {
      PackageType: 'Image',
      ImageConfig: { Command: ['dist/functions/backup.handler'] },
      MemorySize: 3584,
      Timeout: 900,
      EphemeralStorage: { Size: 2048 },
      VpcConfig: {
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dist/functions/restore.handler'] },
      EphemeralStorage: { Size: 10240 },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  test('least privilege: backup writes but never deletes, restore reads, and both read only their own secret', () => {
    const backup = actionsOf(template, 'Backupschool');
    const restore = actionsOf(template, 'Restoreschool');
    assert.ok(backup.includes('s3:PutObject'), backup.join());
    assert.ok(
      restore.some((a) => a.startsWith('s3:GetObject')),
      restore.join(),
    );
    for (const actions of [backup, restore, actionsOf(template, 'Alert'), actionsOf(template, 'InvokeRole')]) {
      assert.ok(!actions.some((a) => /^s3:(Delete|\*)/.test(a) || a === '*'), `no delete: ${actions.join()}`);
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: config.databases[0]?.engine === 'postgres' ? config.databases[0].secretArn : '',
          }),
        ]),
      },
    });
    assert.ok(backup.includes('ses:SendEmail'));
  });

  test('schedules: one per tier in the configured time zone, each sending { database, tier }', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 3);
    for (const [tier, expression] of [
      ['daily', 'cron(0 23 * * ? *)'],
      ['weekly', 'cron(0 2 ? * SUN *)'],
      ['monthly', 'cron(0 3 1 * ? *)'],
    ]) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        ScheduleExpressionTimezone: 'Europe/Berlin',
        Target: Match.objectLike({
          Input: JSON.stringify({ database: 'school', tier }),
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      });
    }
  });

  test('alarms: no recent backup, failed backups, crashed functions; they email the recipients; a dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupSucceeded',
      Namespace: 'dbbackup',
      Period: 93600,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Dimensions: Match.arrayWith([
        { Name: 'database', Value: 'school' },
        { Name: 'tier', Value: 'daily' },
      ]),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  test('cdk-nag AWS Solutions checks find nothing unacknowledged (validated the way cdk synth does)', () => {
    assert.doesNotThrow(() => synthWithNag(config));
  });

  test('an unacknowledged finding fails synthesis, so the check above can fail', () => {
    const app = new App();
    const bare = new DbBackupStack(app, 'Bare', { config, code: imageCode() });
    new sns.Topic(bare, 'Unencrypted');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.throws(() => app.synth(), /Validation failed/);
  });

  test('the template matches its snapshot (asset hashes removed); UPDATE_SNAPSHOTS=1 rewrites it', () => {
    const json = JSON.stringify(template.toJSON(), null, 2).replace(/[0-9a-f]{64}/g, '<asset-hash>');
    const file = join(repoRoot, 'test/infra/stack.snapshot.json');
    if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(file)) writeFileSync(file, `${json}\n`);
    assert.equal(json, readFileSync(file, 'utf8').trimEnd());
  });

  test('options that are not available yet are refused by name, not silently ignored', () => {
    const db = config.databases[0] as DeploymentConfig['databases'][number];
    assert.throws(
      () => synth({ ...config, databases: [{ ...db, runner: 'fargate' }] }),
      /runner "fargate" is not available yet \(databases: school\)/,
    );
    assert.throws(
      () => synth({ ...config, bucket: { ...config.bucket, replicationRegion: 'eu-central-1' } }),
      /replicationRegion is not available yet/,
    );
  });

  test('SSE-S3 instead of KMS, and a SQLite database on EFS, synthesize too', async () => {
    const alt: DeploymentConfig = {
      ...config,
      bucket: { encryption: 's3', noncurrentVersionDays: 7 },
      databases: [
        {
          name: 'app',
          engine: 'sqlite',
          path: 'app/app.db',
          efs: {
            fileSystemId: 'fs-12345678',
            accessPointId: 'fsap-0123456789abcdef0',
            vpcId: 'vpc-1',
            subnetIds: ['subnet-1'],
            securityGroupIds: ['sg-1'],
          },
          schedules: { monthly: { hour: 4, minute: 30, enabled: false } },
          retention: {},
          storageClass: {},
          runner: 'lambda',
          compression: 'zstd',
        },
      ],
    };
    const { template: t, stack: s } = synth(alt);
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    t.resourceCountIs('AWS::Scheduler::Schedule', 2);
    t.hasResourceProperties('AWS::Lambda::Function', { FileSystemConfigs: [Match.objectLike({ LocalMountPath: '/mnt/data' })] });
    assert.ok(s.node.id);
    assert.doesNotThrow(() => synthWithNag(alt));
  });
});
