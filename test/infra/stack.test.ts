import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { App, Duration, type Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { addDeployment, type Deployment } from '../../infra/add-deployment.js';
import { DbBackupStack, type DbBackupImage } from '../../infra/dbbackup-stack.js';
import {
  type DeploymentConfig,
  loadDeploymentConfig,
  parseDeploymentConfig,
  type PostgresDatabaseConfig,
} from '../../shared/deployment/deployment-config.js';
import { sqliteOnEfs as sqliteOnEfsOf } from '../harness/fixtures.js';
import { repoRoot } from '../harness/test-env.js';
import { deploymentEncryption } from '../../shared/deployment/backup-prefixes.js';
import { functionName } from '../../shared/deployment/deployment-names.js';
import { CLOUDFORMATION_LIMITS, checkDeploymentLimits, ROLE_INLINE_POLICY_CHARACTERS } from '../../infra/deployment-limits.js';
import { DATABASES_PER_GROUP, planDatabaseGroups } from '../../infra/plan-database-groups.js';
import {
  ACCOUNT,
  decide,
  deployedTemplates,
  resourcePolicyStatements,
  roleStatements,
  type Statement,
  StackTemplate,
} from './policy-evaluator.js';

let context: string | undefined;

/** One stand-in build context for every synthesis in this file, removed when the process ends. */
function imageContext(): string {
  if (context) return context;
  const dir = mkdtempSync(join(tmpdir(), 'dbbackup-image-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:22\n');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  context = dir;
  return dir;
}

/** A stand-in build context (a one-line Dockerfile): the template is the same, without copying the repository. */
function image(): DbBackupImage {
  const dir = imageContext();
  return {
    lambda: (handler) => lambda.DockerImageCode.fromImageAsset(dir, { cmd: [handler] }),
    container: () => ecs.ContainerImage.fromAsset(dir),
  };
}

/** cdk-nag's packs, registered as infra/app.ts registers them: AWS Solutions and Serverless. */
function addNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
}

/**
 * Synthesizes the app's stacks (the replica stack too, with replication) with cdk-nag registered
 * as cdk synth does; throws on unacknowledged findings.
 */
function synthWithNag(config: DeploymentConfig): void {
  const app = new App();
  addDeployment(app, { config, stackName: 'DbBackup', image: image() });
  addNag(app);
  app.synth();
}

const sqliteOnEfs = sqliteOnEfsOf('app');

/**
 * The deployment as one template: the main stack's resources and outputs with those of each group's
 * nested stack, whose logical IDs are prefixed with the group's (every group names its functions alike).
 */
function wholeTemplate(stack: DbBackupStack): Template {
  const main = Template.fromStack(stack).toJSON() as { Resources: Record<string, unknown>; Outputs?: Record<string, unknown> };
  const resources = { ...main.Resources };
  const outputs = { ...main.Outputs };
  for (const group of stack.groups) {
    const nested = Template.fromStack(group).toJSON() as {
      Resources: Record<string, unknown>;
      Outputs?: Record<string, unknown>;
    };
    for (const [id, resource] of Object.entries(nested.Resources)) resources[`${group.node.id}${id}`] = resource;
    for (const [id, output] of Object.entries(nested.Outputs ?? {})) outputs[id] = output;
  }
  return Template.fromJSON({ ...main, Resources: resources, Outputs: outputs });
}

function synth(config: DeploymentConfig): { stack: DbBackupStack; template: Template } {
  const app = new App();
  const stack = new DbBackupStack(app, 'DbBackup', { config, image: image() });
  return { stack, template: wholeTemplate(stack) };
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
            // Was StringNotEqualsIfExists, which is true when the header is absent and so also refused
            // UploadPart (which never carries it); what it refuses is now evaluated in the bucket-policy tests.
            Condition: {
              Null: { 's3:x-amz-server-side-encryption': 'false' },
              StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
            },
          }),
        ]),
      },
    });
  });

  test('functions: container images with explicit memory, timeout and ephemeral storage; failed backups go to the alert function, never retried', () => {
    // Backup, restore, alert, health, weekly report, the dashboard's console widget and the group's prune.
    template.resourceCountIs('AWS::Lambda::Function', 7);
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
      // The restore streams the backup into pg_restore: no room for the uncompressed dump is needed.
      EphemeralStorage: { Size: 2048 },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  test('least privilege: backup writes but never deletes, restore reads, and both read only their own secret', () => {
    const backup = actionsOf(template, 'FunctionsBackup');
    const restore = actionsOf(template, 'FunctionsRestore');
    assert.ok(backup.includes('s3:PutObject'), backup.join());
    assert.ok(
      restore.some((a) => a.startsWith('s3:GetObject')),
      restore.join(),
    );
    for (const actions of [
      backup,
      restore,
      actionsOf(template, 'AlertsAlert'),
      actionsOf(template, 'ReportsReport'),
      actionsOf(template, 'InvokeRole'),
    ]) {
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

  test('a prune per database after its daily run, in the configured time zone, invoking the prune function', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      // The daily run is at 23:00: its prune an hour later.
      ScheduleExpression: 'cron(0 0 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({
        Input: JSON.stringify({ database: 'school' }),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 5 }),
      }),
    });
  });

  test('schedules: one per tier in the configured time zone, each sending { database, tier }; a start that fails is retried for an hour, then dead-lettered', () => {
    // And the daily health check's, the weekly report's and the database's prune.
    template.resourceCountIs('AWS::Scheduler::Schedule', 6);
    for (const [tier, expression] of [
      ['daily', 'cron(0 23 * * ? *)'],
      // Sunday 04:00, not 02:00, which the spring change to daylight saving skips in Europe/Berlin.
      ['weekly', 'cron(0 4 ? * SUN *)'],
      ['monthly', 'cron(0 3 1 * ? *)'],
    ]) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        ScheduleExpressionTimezone: 'Europe/Berlin',
        Target: Match.objectLike({
          Input: JSON.stringify({ database: 'school', tier }),
          // Scheduler retries only a start Lambda or ECS refused, never a backup that ran.
          RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
          // The deployment's queue, in the main stack: a group's nested stack gets its ARN as a parameter.
          DeadLetterConfig: { Arn: { Ref: Match.stringLikeRegexp('DeadLettersQueue') } },
        }),
      });
    }
    // The scheduler's role may put the event in the queue, encrypted with the queue's key.
    const scheduler = actionsOf(template, 'SchedulesInvokeRole');
    for (const action of ['sqs:SendMessage', 'kms:GenerateDataKey'])
      assert.ok(scheduler.includes(action), `${action} in ${scheduler.join()}`);
  });

  test('the dead-letter queue: one for the deployment, KMS-encrypted, HTTPS only; the alert function dead-letters there too', () => {
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLettersKey'), 'Arn'] },
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dist/functions/alert.handler'] },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLettersQueue'), 'Arn'] } },
    });
  });

  // The config is no longer in each function's environment (a group's outgrows its 4 KB) but in a
  // secret the functions read at every run: DBBACKUP_CONFIG became DBBACKUP_CONFIG_SECRET.
  test('functions get where their config is, the bucket and its key, and the stack’s name, under the names the handlers read', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Array<{
      Properties: { Environment: { Variables: Record<string, unknown> } };
    }>;
    assert.equal(functions.length, 7);
    for (const fn of functions) {
      const names = Object.keys(fn.Properties.Environment.Variables).filter((name) => name.startsWith('DBBACKUP_'));
      assert.deepEqual(names.sort(), [
        'DBBACKUP_BUCKET',
        'DBBACKUP_CONFIG_SECRET',
        'DBBACKUP_KMS_KEY_ID',
        'DBBACKUP_METRIC_NAMESPACE',
        'DBBACKUP_STACK_NAME',
      ]);
      assert.equal(fn.Properties.Environment.Variables.DBBACKUP_METRIC_NAMESPACE, 'dbbackup/DbBackup');
      // The deployment's stack, which `dbbackup invoke --stack` takes and the alert emails name.
      assert.equal(fn.Properties.Environment.Variables.DBBACKUP_STACK_NAME, 'DbBackup');
    }
  });

  test('a backup function run at 80% of its time limit raises an alarm that says to move the database to the Fargate runner', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Dimensions: [{ Name: 'FunctionName', Value: Match.anyValue() }],
      Statistic: 'Maximum',
      Threshold: 720_000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('school.*80%.*15-minute limit.*Fargate runner'),
      AlarmActions: [Match.anyValue()],
    });
  });

  test('a message in the dead-letter queue raises "a scheduled backup could not be started"', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLettersQueue'), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('^A scheduled backup could not be started'),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarms') }],
    });
  });

  test('two deployments in one account publish, alarm on and chart their metrics each in its own namespace', () => {
    const namespaces = ['Blue', 'Green'].map((stackName) => {
      const { main } = addDeployment(new App(), { config, stackName, image: image() });
      type Properties = {
        Environment: { Variables: Record<string, string> };
        Namespace?: string;
        Metrics?: Array<{ MetricStat?: { Metric: { Namespace: string } } }>;
      };
      const whole = wholeTemplate(main).toJSON() as { Resources: Record<string, { Type: string; Properties: Properties }> };
      const resources = Object.values(whole.Resources);
      const published = resources
        .filter((r) => r.Type === 'AWS::Lambda::Function')
        .map((r) => r.Properties.Environment.Variables.DBBACKUP_METRIC_NAMESPACE);
      const alarmed = resources
        .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
        .flatMap((r) => [r.Properties.Namespace, ...(r.Properties.Metrics ?? []).map((m) => m.MetricStat?.Metric.Namespace)])
        .filter((n): n is string => n !== undefined && !n.startsWith('AWS/'));
      const dashboard = JSON.stringify(resources.find((r) => r.Type === 'AWS::CloudWatch::Dashboard')?.Properties);
      const charted = [...dashboard.matchAll(/SEARCH\('\{([^,]+),/g)].map((m) => m[1]);
      assert.ok(alarmed.length >= 2 && charted.length >= 4, `${alarmed} ${charted}`);
      assert.deepEqual(new Set([...published, ...alarmed, ...charted]), new Set([`dbbackup/${stackName}`]));
      return `dbbackup/${stackName}`;
    });
    assert.notEqual(namespaces[0], namespaces[1]);
  });

  test('alarms: no recent backup, failed backups, crashed functions; they email the recipients; a dashboard', () => {
    // The three of the database, its age per tier (three enabled), its group's failed prunes, its function near its
    // time limit, and the deployment's on alert emails that could not be sent and on backups that could not be started.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    // A prune that fails leaves the bucket growing: said, not only logged.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: 'The prune function of school failed or timed out: backups are not being pruned',
      MetricName: 'Errors',
      Threshold: 1,
    });
    // The namespace, metric and dimensions the backup function publishes (test/integration/backup-function.test.ts).
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupSucceeded',
      Namespace: 'dbbackup/DbBackup',
      Period: 93600,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Dimensions: Match.arrayWith([
        { Name: 'database', Value: 'school' },
        { Name: 'service', Value: 'dbbackup' },
        { Name: 'tier', Value: 'daily' },
      ]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          Id: 'weekly',
          MetricStat: Match.objectLike({
            Metric: {
              MetricName: 'BackupFailed',
              Namespace: 'dbbackup/DbBackup',
              Dimensions: [
                { Name: 'database', Value: 'school' },
                { Name: 'service', Value: 'dbbackup' },
                { Name: 'tier', Value: 'weekly' },
              ],
            },
          }),
        }),
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
    const bare = new DbBackupStack(app, 'Bare', { config, image: image() });
    new sns.Topic(bare, 'Unencrypted');
    addNag(app);
    assert.throws(() => app.synth(), /Validation failed/);
  });

  test('an unacknowledged Serverless finding fails synthesis too', () => {
    const app = new App();
    const bare = new DbBackupStack(app, 'Bare', { config, image: image() });
    // A rule whose target has no dead-letter queue: Serverless-EventBusDLQ, which AWS Solutions does not check.
    new events.Rule(bare, 'Hourly', {
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new eventTargets.LambdaFunction(bare.alerts.alert)],
    });
    addNag(app);
    assert.throws(() => app.synth(), /Validation failed/);
  });

  test('the template matches its snapshot (asset hashes removed); UPDATE_SNAPSHOTS=1 rewrites it', () => {
    const json = JSON.stringify(template.toJSON(), null, 2).replace(/[0-9a-f]{64}/g, '<asset-hash>');
    const file = join(repoRoot, 'test/infra/stack.snapshot.json');
    if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(file)) writeFileSync(file, `${json}\n`);
    assert.equal(json, readFileSync(file, 'utf8').trimEnd());
  });

  test('SSE-S3 instead of KMS, and a SQLite database on EFS, synthesize too', async () => {
    const alt: DeploymentConfig = {
      ...config,
      bucket: { encryption: 's3', noncurrentVersionDays: 7, objectLockMode: 'governance' },
      databases: [
        {
          ...sqliteOnEfs,
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
    // Daily and weekly (monthly disabled), the health check, the weekly report and the prune.
    t.resourceCountIs('AWS::Scheduler::Schedule', 5);
    t.hasResourceProperties('AWS::Lambda::Function', { FileSystemConfigs: [Match.objectLike({ LocalMountPath: '/mnt/data' })] });
    assert.ok(s.node.id);
    assert.doesNotThrow(() => synthWithNag(alt));
  });
});

describe('the CDK stack, with databases on the Fargate runner', () => {
  let config: DeploymentConfig;
  let template: Template;
  let stack: DbBackupStack;

  before(async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const school = example.databases[0] as PostgresDatabaseConfig;
    config = parseDeploymentConfig({
      ...example,
      databases: [
        school,
        {
          ...school,
          name: 'warehouse',
          database: 'warehouse',
          runner: 'fargate',
          task: { cpu: 4096, memoryMiB: 16384, timeoutMinutes: 300 },
        },
        { ...sqliteOnEfs, runner: 'fargate' },
      ],
    });
    ({ template, stack } = synth(config));
  });

  test('a task definition per Fargate database, sized from the config, running the backup task from the functions’ image', () => {
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    template.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'DbBackup-warehouse-backup',
      Cpu: '4096',
      Memory: '16384',
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      EphemeralStorage: { SizeInGiB: 21 },
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backup',
          EntryPoint: ['/var/lang/bin/node'],
          Command: ['/var/task/dist/functions/backup-task.js'],
          Environment: Match.arrayWith([
            { Name: 'DBBACKUP_CONFIG_SECRET', Value: Match.anyValue() },
            { Name: 'DBBACKUP_BUCKET', Value: Match.anyValue() },
            { Name: 'DBBACKUP_KMS_KEY_ID', Value: Match.anyValue() },
            { Name: 'DBBACKUP_EVENT', Value: JSON.stringify({ database: 'warehouse', tier: 'daily' }) },
          ]),
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
    });
    // A backup by hand: the stack prints the command.
    template.hasOutput('RunBackupTaskwarehouse', {
      Value: {
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^aws ecs run-task --cluster $')])],
      },
    });
    // One image: the task's image and the functions' image come from the same asset.
    // (Only the images' hashes: each group's nested template is an asset with a hash of its own.)
    const images = [
      ...Object.values(template.findResources('AWS::Lambda::Function')).map(
        (f) => (f as { Properties: { Code: unknown } }).Properties.Code,
      ),
      ...Object.values(template.findResources('AWS::ECS::TaskDefinition')).map(
        (t) =>
          (t as { Properties: { ContainerDefinitions: Array<{ Image: unknown }> } }).Properties.ContainerDefinitions[0]?.Image,
      ),
    ];
    const hashes = new Set(JSON.stringify(images).match(/[0-9a-f]{64}/g));
    assert.equal(hashes.size, 1, [...hashes].join());
  });

  test('Fargate databases get no backup function (the task backs them up) but keep their restore function', () => {
    const names = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (f) => (f as { Properties: { FunctionName?: string } }).Properties.FunctionName,
    );
    // One backup, restore and prune function per database group (school and warehouse share a network; app has its own EFS).
    const groups = stack.groups.map((g) => g.node.id.replace('Group-', ''));
    assert.deepEqual(
      names.filter(Boolean).sort(),
      [
        `DbBackup-${groups[0]}-backup`,
        `DbBackup-${groups[0]}-restore`,
        `DbBackup-${groups[0]}-prune`,
        `DbBackup-${groups[1]}-restore`,
        `DbBackup-${groups[1]}-prune`,
      ].sort(),
    );
  });

  test('the same schedules start the task with the same event, as a container environment override; a refused start is retried, then dead-lettered', () => {
    // Three tiers and a prune for each of the three databases, the health check and the weekly report.
    template.resourceCountIs('AWS::Scheduler::Schedule', 14);
    // The cluster is the main stack's; a group's nested stack receives its ARN as a parameter.
    const clusterArn = { Ref: Match.stringLikeRegexp('TasksCluster') };
    for (const tier of ['daily', 'weekly', 'monthly']) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Description: `dbbackup: ${tier} backup of warehouse`,
        Target: Match.objectLike({
          Arn: clusterArn,
          EcsParameters: Match.objectLike({
            LaunchType: 'FARGATE',
            TaskCount: 1,
            NetworkConfiguration: {
              AwsvpcConfiguration: {
                Subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
                SecurityGroups: ['sg-0123456789abcdef0'],
                AssignPublicIp: 'DISABLED',
              },
            },
          }),
          Input: JSON.stringify({
            containerOverrides: [
              {
                name: 'backup',
                environment: [{ name: 'DBBACKUP_EVENT', value: JSON.stringify({ database: 'warehouse', tier }) }],
              },
            ],
          }),
          RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        }),
      });
    }
    // The scheduler may run only the backup tasks, in this cluster, and pass only their roles.
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'ecs:RunTask', Condition: { ArnEquals: { 'ecs:cluster': clusterArn } } }),
          Match.objectLike({ Action: 'iam:PassRole' }),
        ]),
      },
    });
  });

  test('the task role writes backups but never deletes, reads its secret, sends alerts; the SQLite task mounts its EFS access point over TLS', () => {
    const task = actionsOf(template, 'TaskwarehouseTaskRole');
    for (const action of ['s3:PutObject', 'ses:SendEmail', 'secretsmanager:GetSecretValue'])
      assert.ok(task.includes(action), `${action} in ${task.join()}`);
    assert.ok(!task.some((a) => /^s3:(Delete|\*)/.test(a) || a === '*'), `no delete: ${task.join()}`);
    assert.ok(actionsOf(template, 'TaskappTaskRole').includes('elasticfilesystem:ClientWrite'));
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'DbBackup-app-backup',
      Volumes: [
        {
          Name: 'data',
          EFSVolumeConfiguration: {
            FilesystemId: 'fs-12345678',
            TransitEncryption: 'ENABLED',
            AuthorizationConfig: { AccessPointId: 'fsap-0123456789abcdef0', IAM: 'ENABLED' },
          },
        },
      ],
      ContainerDefinitions: [
        Match.objectLike({ MountPoints: [{ SourceVolume: 'data', ContainerPath: '/mnt/data', ReadOnly: false }] }),
      ],
    });
  });

  test('stopped tasks go to the alert function, which knows their log groups; alarms cover Fargate databases too', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: { clusterArn: [Match.anyValue()], lastStatus: ['STOPPED'] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsAlert'), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dist/functions/alert.handler'] },
      // One log group for every backup task: a task's stream is named by its ID (DBBACKUP_TASK_LOGS_GROUPS was a map by database).
      Environment: { Variables: Match.objectLike({ DBBACKUP_TASK_LOG_GROUP: Match.anyValue() }) },
    });
    // school: stale, failed, function errors, near the function's limit; warehouse and app: stale,
    // failed (a crash counts as failed), near the task's limit; each database's age per enabled tier
    // (3 × 3), each of the two groups' prune errors. (And the deployment's alarms on alert emails that
    // could not be sent and on backups that could not be started.)
    template.resourceCountIs('AWS::CloudWatch::Alarm', 23);
    // A stopped task the alert function could not be told of goes to the dead-letter queue.
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLettersQueue'), 'Arn'] } } }),
      ],
    });
  });

  test('a task run at 80% of its task.timeoutMinutes raises an alarm on its own duration metric, any tier', () => {
    for (const [database, minutes] of [
      ['warehouse', 300],
      ['app', 1440],
    ] as const)
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmDescription: Match.stringLikeRegexp(
          `^A backup of ${database} took 80% .* ${minutes}-minute limit: raise task.timeoutMinutes`,
        ),
        Threshold: minutes * 60_000 * 0.8,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'MAX([daily, weekly, monthly])' }),
          Match.objectLike({
            Id: 'weekly',
            MetricStat: Match.objectLike({
              Metric: {
                MetricName: 'BackupDuration',
                Namespace: 'dbbackup/DbBackup',
                Dimensions: [
                  { Name: 'database', Value: database },
                  { Name: 'service', Value: 'dbbackup' },
                  { Name: 'tier', Value: 'weekly' },
                ],
              },
              Stat: 'Maximum',
            }),
          }),
        ]),
      });
  });

  test('cdk-nag finds nothing unacknowledged with Fargate databases', () => {
    assert.doesNotThrow(() => synthWithNag(config));
  });
});

describe('the CDK app, with replication to a second region', () => {
  let main: Template;
  let replica: Template;
  let deployment: Deployment;
  let config: DeploymentConfig;

  before(async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    config = { ...example, bucket: { ...example.bucket, replicationRegion: 'eu-central-1', objectLockDays: 30 } };
    deployment = addDeployment(new App(), { config, stackName: 'DbBackup', image: image() });
    main = Template.fromStack(deployment.main);
    replica = Template.fromStack(deployment.replica as Stack);
  });

  test('a replica stack in the second region holds a bucket as protected as the primary, and deploys first', () => {
    assert.equal(deployment.replica?.region, 'eu-central-1');
    assert.deepEqual(
      deployment.main.dependencies.map((d) => d.stackName),
      ['DbBackup-Replica'],
    );
    replica.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/DbBackup-replica' });
    replica.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketName: { 'Fn::Join': ['', ['dbbackup-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) }),
          ],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Days: 30, Mode: 'GOVERNANCE' } } },
        PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true, RestrictPublicBuckets: true }),
      }),
    });
    replica.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('the primary bucket replicates every backup and delete marker there, re-encrypted with the replica key, with metrics', () => {
    main.hasResourceProperties('AWS::S3::Bucket', {
      ReplicationConfiguration: {
        Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StorageReplicationRole'), 'Arn'] },
        Rules: [
          Match.objectLike({
            Status: 'Enabled',
            Filter: { Prefix: '' },
            DeleteMarkerReplication: { Status: 'Enabled' },
            SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
            Destination: {
              Bucket: {
                'Fn::Join': [
                  '',
                  ['arn:', { Ref: 'AWS::Partition' }, ':s3:::dbbackup-replica-', { Ref: 'AWS::AccountId' }, '-eu-central-1'],
                ],
              },
              EncryptionConfiguration: {
                ReplicaKmsKeyID: {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':kms:eu-central-1:',
                      { Ref: 'AWS::AccountId' },
                      ':alias/DbBackup-replica',
                    ],
                  ],
                },
              },
              Metrics: { Status: 'Enabled' },
            },
          }),
        ],
      },
    });
    const actions = actionsOf(main, 'StorageReplicationRole');
    for (const action of [
      's3:GetObjectVersionForReplication',
      's3:ReplicateObject',
      's3:ReplicateDelete',
      'kms:Decrypt',
      'kms:Encrypt',
    ])
      assert.ok(actions.includes(action), `${action} in ${actions.join()}`);
    assert.ok(!actions.some((a) => a === 's3:DeleteObject' || a === 's3:*' || a === '*'), actions.join());
    main.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsFailedReplication' });
  });

  test('cdk-nag finds nothing unacknowledged in either stack', () => {
    assert.doesNotThrow(() => synthWithNag(config));
  });
});

describe('the CDK app, with 200 databases', () => {
  test('200 databases on one network synthesize offline into stacks within CloudFormation limits, each group under IAM’s role policy limit', async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const school = example.databases[0] as PostgresDatabaseConfig;
    const config = parseDeploymentConfig({
      ...example,
      databases: Array.from({ length: 200 }, (_, i) => ({
        ...school,
        name: `tenant${i}`,
        database: `tenant${i}`,
        secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenant${i}-db-backup-AbCdEf`,
      })),
    });
    const outdir = mkdtempSync(join(tmpdir(), 'dbbackup-200-'));
    try {
      const started = Date.now();
      const app = new App({ outdir });
      const { main } = addDeployment(app, { config, stackName: 'DbBackup', image: image() });
      const sizes = checkDeploymentLimits(app.synth().directory);
      process.stderr.write(`# 200 databases: synthesized in ${Date.now() - started} ms: ${JSON.stringify(sizes)}\n`);
      assert.equal(main.groups.length, Math.ceil(200 / DATABASES_PER_GROUP));
      for (const size of sizes) {
        assert.ok(size.resources <= CLOUDFORMATION_LIMITS.resources, JSON.stringify(size));
        assert.ok(size.bytes <= CLOUDFORMATION_LIMITS.templateBytes, JSON.stringify(size));
        assert.ok(size.outputs <= CLOUDFORMATION_LIMITS.outputs && size.parameters <= CLOUDFORMATION_LIMITS.parameters);
      }
      // Every database has its schedules and alarms, in some group.
      const all = main.groups.map((g) => Template.fromStack(g));
      const count = (type: string) => all.reduce((n, t) => n + Object.keys(t.findResources(type)).length, 0);
      assert.equal(count('AWS::Scheduler::Schedule'), 800);
      assert.equal(count('AWS::Lambda::Function'), 3 * main.groups.length);
      // IAM caps the inline policies of one role at 10,240 characters (counted here with the
      // unresolved references, which are longer than the ARNs they become).
      for (const t of all) {
        const byRole = new Map<string, number>();
        for (const policy of Object.values(t.findResources('AWS::IAM::Policy')) as Array<{
          Properties: { PolicyDocument: unknown; Roles: unknown[] };
        }>) {
          const role = JSON.stringify(policy.Properties.Roles);
          byRole.set(role, (byRole.get(role) ?? 0) + JSON.stringify(policy.Properties.PolicyDocument).length);
        }
        for (const [role, chars] of byRole) assert.ok(chars < ROLE_INLINE_POLICY_CHARACTERS, `${role}: ${chars}`);
      }
      // The console widget's config (every database's name, schedules, engine, restore function) stays
      // within a secret's 64 KB (counted unresolved: the health function's name is a reference there).
      const secrets = Object.values(Template.fromStack(main).findResources('AWS::SecretsManager::Secret')) as Array<{
        Properties: { Description: string; SecretString: unknown };
      }>;
      const consoleSecret = secrets.find((r) => r.Properties.Description.includes('console widget'));
      assert.ok(consoleSecret);
      const secretChars = JSON.stringify(consoleSecret.Properties.SecretString).length;
      assert.ok(secretChars < 65_536, `console widget config: ${secretChars} characters`);
      process.stderr.write(`# 200 databases: the console widget's config holds ${secretChars} characters\n`);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('a template past a CloudFormation limit fails synthesis with one line saying which, and what to change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbbackup-limits-'));
    try {
      const resources = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`R${i}`, { Type: 'AWS::SNS::Topic' }]));
      writeFileSync(join(dir, 'DbBackup.template.json'), JSON.stringify({ Resources: resources }));
      assert.throws(
        () => checkDeploymentLimits(dir),
        (error: Error & { hint?: string }) =>
          /^this config cannot be deployed: DbBackup would hold 501 resources, more than the 500 CloudFormation allows a stack$/.test(
            error.message,
          ) && /fewer distinct networks|split the config/.test(error.hint ?? ''),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('databases share functions by network, 25 a group, in config order', () => {
    const base = {
      alerts: { sender: 'a@example.com', recipients: ['b@example.com'] },
      databases: [] as unknown[],
    };
    const pg = (name: string, sg: string) => ({
      name,
      engine: 'postgres',
      host: 'h',
      database: name,
      secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:x',
      vpc: { vpcId: 'vpc-1', subnetIds: ['subnet-1'], securityGroupIds: [sg] },
    });
    const config = parseDeploymentConfig({
      ...base,
      databases: [...Array.from({ length: 30 }, (_, i) => pg(`a${i}`, 'sg-a')), pg('b0', 'sg-b'), sqliteOnEfs],
    });
    const groups = planDatabaseGroups(config);
    assert.deepEqual(
      groups.map((g) => g.databases.length),
      [25, 5, 1, 1],
    );
    assert.equal(groups[1]?.databases[0]?.name, 'a25');
    assert.ok(groups[3]?.efs);
  });
});

describe('who may write what in the bucket (the synthesized policies, evaluated)', () => {
  let deployment: StackTemplate;
  let bucketPolicy: Statement[];
  let bucketArn: string;
  let nestedGroups: StackTemplate[] = [];
  let schoolSecret = '';
  const SCHOOL_RESTORE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:school-restore-AbCdEf';
  const roles: Record<'backup' | 'restore' | 'task' | 'prune', { arn: string; statements: Statement[] }> = {} as never;
  let everyRole: Array<{ name: string; arn: string; statements: Statement[] }> = [];

  before(async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const school = example.databases[0] as PostgresDatabaseConfig;
    const config = parseDeploymentConfig({
      ...example,
      databases: [
        { ...school, restoreSecretArn: SCHOOL_RESTORE_SECRET },
        { ...school, name: 'warehouse', database: 'warehouse' },
        { ...sqliteOnEfs, runner: 'fargate' },
      ],
    });
    schoolSecret = school.secretArn;
    const { stack } = synth(config);
    const { root, groups: nested } = deployedTemplates(stack);
    deployment = root;
    const role = (template: StackTemplate, prefix: string) => {
      const id = Object.keys(template.json.Resources).find(
        (r) => r.startsWith(prefix) && template.json.Resources[r]?.Type === 'AWS::IAM::Role',
      );
      assert.ok(id, `no role ${prefix} in ${template.name}`);
      return { arn: template.resolve({ 'Fn::GetAtt': [id, 'Arn'] }) as string, statements: roleStatements(template, id) };
    };
    const [postgresGroup, sqliteGroup] = nested as [StackTemplate, StackTemplate];
    nestedGroups = nested;
    roles.backup = role(postgresGroup, 'FunctionsBackupServiceRole');
    roles.restore = role(postgresGroup, 'FunctionsRestoreServiceRole');
    roles.task = role(sqliteGroup, 'TasksTaskappTaskRole');
    roles.prune = role(postgresGroup, 'PruneFunctionServiceRole');
    everyRole = [deployment, ...nested].flatMap((template) =>
      [...template.all('AWS::IAM::Role')]
        .filter(({ stack }) => stack === template)
        .map(({ id }) => ({
          name: `${template.name}/${id}`,
          arn: template.resolve({ 'Fn::GetAtt': [id, 'Arn'] }) as string,
          statements: roleStatements(template, id),
        })),
    );
    bucketPolicy = resourcePolicyStatements(deployment, 'AWS::S3::BucketPolicy', 'PolicyDocument').filter((s) =>
      JSON.stringify(s).includes('storagebucket'),
    );
    const [bucket] = [...deployment.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    bucketArn = deployment.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
  });

  /** May `who` do `action` on `key`: a PutObject or CompleteMultipartUpload (creation), or an UploadPart. */
  function may(
    who: keyof typeof roles,
    action: string,
    key: string,
    request: { ifNoneMatch?: boolean; creation?: boolean; sse?: string } = {},
  ): boolean {
    const context: Record<string, string> = { 'aws:SecureTransport': 'true' };
    if (action === 's3:PutObject') context['s3:ObjectCreationOperation'] = String(request.creation ?? true);
    if (request.ifNoneMatch) context['s3:if-none-match'] = '*';
    if (request.sse) context['s3:x-amz-server-side-encryption'] = request.sse;
    const { arn, statements } = roles[who];
    return decide({ principal: arn, action, resource: `${bucketArn}/${key}`, context }, statements, bucketPolicy) === 'allow';
  }

  const schoolKey = 'postgres/school/2026/backup_school_20261122_230000_run.dump.gz';
  const warehouseKey = 'postgres/warehouse/2026/backup_warehouse_20261122_230000_run.dump.gz';
  const appKey = 'sqlite/app/2026/backup_app_20261122_230000_run.db.gz';

  test('the backup function creates objects under its databases’ prefixes only with If-None-Match, and nowhere else', () => {
    assert.equal(may('backup', 's3:PutObject', schoolKey, { ifNoneMatch: true }), true);
    assert.equal(may('backup', 's3:PutObject', `${schoolKey}.json`, { ifNoneMatch: true }), true, 'the manifest');
    assert.equal(may('backup', 's3:PutObject', warehouseKey, { ifNoneMatch: true }), true);
    assert.equal(may('backup', 's3:PutObject', schoolKey), false, 'an overwrite: no If-None-Match');
    assert.equal(may('backup', 's3:PutObject', appKey, { ifNoneMatch: true }), false, 'another group’s database');
    assert.equal(may('backup', 's3:PutObject', 'pre-restore/postgres/school/x.dump.gz', { ifNoneMatch: true }), false);
    assert.equal(may('backup', 's3:PutObject', 'postgres/schoolyard/2026/x.dump.gz', { ifNoneMatch: true }), false);
  });

  test('backup writers add run records under their own databases’ runs/ prefixes only, with If-None-Match', () => {
    const schoolRun = 'runs/postgres/school/2026/20261122_230000_scheduled_0123abcd.jsonl';
    const appRun = 'runs/sqlite/app/2026/20261122_230000_scheduled_0123abcd.jsonl';
    assert.equal(may('backup', 's3:PutObject', schoolRun, { ifNoneMatch: true }), true);
    assert.equal(
      may('backup', 's3:PutObject', 'runs/postgres/warehouse/2026/20261122_230000_scheduled_0123abcd.jsonl', {
        ifNoneMatch: true,
      }),
      true,
    );
    assert.equal(may('backup', 's3:PutObject', schoolRun), false, 'an overwrite: no If-None-Match');
    assert.equal(may('backup', 's3:PutObject', appRun, { ifNoneMatch: true }), false, 'another database’s run records');
    assert.equal(may('backup', 's3:PutObject', 'runs/postgres/schoolyard/2026/x.jsonl', { ifNoneMatch: true }), false);
    assert.equal(may('backup', 's3:PutObject', 'runs/x.jsonl', { ifNoneMatch: true }), false);
    assert.equal(may('task', 's3:PutObject', appRun, { ifNoneMatch: true }), true);
    assert.equal(may('task', 's3:PutObject', appRun), false);
    assert.equal(may('task', 's3:PutObject', schoolRun, { ifNoneMatch: true }), false, 'another database’s run records');
  });

  test('a multipart upload: its parts need no If-None-Match, its completion does', () => {
    assert.equal(may('backup', 's3:PutObject', schoolKey, { creation: false }), true, 'UploadPart / CreateMultipartUpload');
    assert.equal(may('backup', 's3:PutObject', schoolKey, { creation: true }), false, 'CompleteMultipartUpload without');
    assert.equal(may('backup', 's3:PutObject', schoolKey, { creation: true, ifNoneMatch: true }), true);
    assert.equal(may('backup', 's3:AbortMultipartUpload', schoolKey), true);
  });

  test('uploads that ask for another encryption than the bucket’s are refused; those that leave it to the bucket are not', () => {
    assert.equal(may('backup', 's3:PutObject', schoolKey, { ifNoneMatch: true, sse: 'aws:kms' }), true);
    assert.equal(may('backup', 's3:PutObject', schoolKey, { ifNoneMatch: true, sse: 'AES256' }), false);
    assert.equal(may('backup', 's3:PutObject', schoolKey, { ifNoneMatch: true }), true);
  });

  test('the restore function writes only its safety copies, under pre-restore/, with If-None-Match', () => {
    const copy = 'pre-restore/postgres/school/2026/backup_school_20261122_101500_run.dump.gz';
    assert.equal(may('restore', 's3:PutObject', copy, { ifNoneMatch: true }), true);
    assert.equal(may('restore', 's3:PutObject', copy), false);
    assert.equal(may('restore', 's3:PutObject', schoolKey, { ifNoneMatch: true }), false);
    assert.equal(may('restore', 's3:GetObject', schoolKey), true, 'it reads any backup');
  });

  test('every write the deployment makes (backups, the restore function’s safety copy, the Fargate task) asks for the encryption the bucket requires', () => {
    const [postgresGroup, sqliteGroup] = nestedGroups;
    const functionKmsKey = (prefix: string) => {
      const found = [...(postgresGroup as StackTemplate).all('AWS::Lambda::Function')].find(({ id }) => id.startsWith(prefix));
      assert.ok(found, `no function ${prefix}`);
      const variables = (found.resource.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment
        .Variables;
      return (postgresGroup as StackTemplate).resolve(variables.DBBACKUP_KMS_KEY_ID) as string | undefined;
    };
    const [taskDefinition] = [...(sqliteGroup as StackTemplate).all('AWS::ECS::TaskDefinition')];
    const containers = (
      taskDefinition?.resource.Properties as {
        ContainerDefinitions: Array<{ Environment: Array<{ Name: string; Value: unknown }> }>;
      }
    ).ContainerDefinitions;
    const taskKey = containers.flatMap((c) => c.Environment).find((e) => e.Name === 'DBBACKUP_KMS_KEY_ID')?.Value;
    const writes = [
      { who: 'backup', key: schoolKey, kmsKeyId: functionKmsKey('FunctionsBackup') },
      {
        who: 'restore',
        key: 'pre-restore/postgres/school/2026/backup_school_20261122_101500_run.dump.gz',
        kmsKeyId: functionKmsKey('FunctionsRestore'),
      },
      { who: 'task', key: appKey, kmsKeyId: (sqliteGroup as StackTemplate).resolve(taskKey) as string | undefined },
    ] as const;
    for (const { who, key, kmsKeyId } of writes) {
      assert.ok(kmsKeyId, `${who} is told the bucket's key`);
      const { sse } = deploymentEncryption(kmsKeyId);
      assert.equal(may(who, 's3:PutObject', key, { ifNoneMatch: true, sse }), true, `${who} writes ${key} with ${sse}`);
      assert.equal(may(who, 's3:PutObject', key, { ifNoneMatch: true, creation: false, sse }), true, `${who} starts its upload`);
    }
  });

  test('the restore function reads the restore secret and not the backup’s; the backup function never the restore’s', () => {
    const reads = (who: keyof typeof roles, secret: string) =>
      decide(
        { principal: roles[who].arn, action: 'secretsmanager:GetSecretValue', resource: secret, context: {} },
        roles[who].statements,
        [],
      ) === 'allow';
    assert.equal(reads('restore', SCHOOL_RESTORE_SECRET), true);
    assert.equal(reads('restore', schoolSecret), false, 'the backup’s read-only credentials');
    assert.equal(reads('backup', schoolSecret), true);
    assert.equal(reads('backup', SCHOOL_RESTORE_SECRET), false);
  });

  test('the Fargate task writes only under its own database’s prefix', () => {
    assert.equal(may('task', 's3:PutObject', appKey, { ifNoneMatch: true }), true);
    assert.equal(may('task', 's3:PutObject', appKey), false);
    assert.equal(may('task', 's3:PutObject', schoolKey, { ifNoneMatch: true }), false);
  });

  test('every function and task that emails may send from the configured sender’s identities only: its address and its domain', () => {
    const alertRole = (() => {
      const id = Object.keys(deployment.json.Resources).find(
        (r) => r.startsWith('AlertsAlertServiceRole') && deployment.json.Resources[r]?.Type === 'AWS::IAM::Role',
      );
      assert.ok(id, 'no alert function role');
      return { arn: deployment.resolve({ 'Fn::GetAtt': [id, 'Arn'] }) as string, statements: roleStatements(deployment, id) };
    })();
    const identity = (name: string) => `arn:aws:ses:eu-west-1:${ACCOUNT}:identity/${name}`;
    const allowed = [identity('backups@example.com'), identity('example.com')];
    for (const [who, role] of [...Object.entries(roles).filter(([who]) => who !== 'prune'), ['alert', alertRole] as const]) {
      const sends = role.statements.filter((st) => [st.Action].flat().includes('ses:SendEmail'));
      assert.deepEqual(
        sends.flatMap((st) => [st.Resource].flat()).sort(),
        [...allowed].sort(),
        `${who}: ses:SendEmail on exactly the sender's identities`,
      );
      const may = (resource: string) =>
        decide({ principal: role.arn, action: 'ses:SendEmail', resource, context: {} }, role.statements, []) === 'allow';
      for (const arn of allowed) assert.equal(may(arn), true, `${who} sends as ${arn}`);
      assert.equal(may(identity('ceo@example.org')), false, `${who}: another sender`);
      assert.equal(may(identity('example.org')), false, `${who}: another domain`);
      assert.equal(
        may(`arn:aws:ses:eu-west-1:${ACCOUNT}:configuration-set/any`),
        false,
        `${who}: no configuration set is configured`,
      );
    }
  });

  test('no writer may delete, set retention or a legal hold, or bypass governance retention', () => {
    for (const who of ['backup', 'restore', 'task'] as const)
      for (const action of [
        's3:DeleteObject',
        's3:DeleteObjectVersion',
        's3:PutObjectRetention',
        's3:PutObjectLegalHold',
        's3:BypassGovernanceRetention',
      ])
        assert.equal(may(who, action, who === 'task' ? appKey : schoolKey), false, `${who} ${action}`);
  });

  test("only the prune role may delete: its databases' backups and manifests, their safety copies and run records, nothing else", () => {
    const deletable = [
      schoolKey,
      `${schoolKey}.json`,
      warehouseKey,
      'pre-restore/postgres/school/2026/backup_school_20261122_101500_run.dump.gz',
      'runs/postgres/school/2026/20261122_230000_scheduled_0123456789abcdef.jsonl',
    ];
    for (const key of deletable) assert.equal(may('prune', 's3:DeleteObject', key), true, key);
    for (const key of [
      appKey, // another group's database
      'postgres/schoolyard/2026/backup_schoolyard_20261122_230000_run.dump.gz',
      'pre-restore/sqlite/app/2026/x.db.gz',
      'runs/sqlite/app/2026/x.jsonl',
      'config/anything',
    ])
      assert.equal(may('prune', 's3:DeleteObject', key), false, key);
    const deleters = everyRole.filter(
      ({ arn, statements }) =>
        decide(
          {
            principal: arn,
            action: 's3:DeleteObject',
            resource: `${bucketArn}/${schoolKey}`,
            context: { 'aws:SecureTransport': 'true' },
          },
          statements,
          bucketPolicy,
        ) === 'allow',
    );
    assert.deepEqual(
      deleters.map((r) => r.arn),
      [roles.prune.arn],
      `roles that may delete a backup: ${deleters.map((r) => r.name).join(', ')}`,
    );
  });

  test('the bucket policy alone keeps a prune role out of every folder but the backups’, pre-restore/ and runs/', () => {
    // As if its own policy allowed every delete: the bucket still refuses what is outside.
    const allowAll: Statement[] = [{ Effect: 'Allow', Action: 's3:*', Resource: '*' } as Statement];
    const bucketSays = (key: string) =>
      decide(
        {
          principal: roles.prune.arn,
          action: 's3:DeleteObject',
          resource: `${bucketArn}/${key}`,
          context: { 'aws:SecureTransport': 'true' },
        },
        allowAll,
        bucketPolicy,
      );
    assert.equal(bucketSays('config/x.json'), 'deny');
    assert.equal(bucketSays('x.dump.gz'), 'deny');
    assert.equal(bucketSays(schoolKey), 'allow');
    assert.equal(bucketSays('runs/postgres/school/2026/x.jsonl'), 'allow');
  });

  test('the prune role cannot write, delete versions, change retention or bypass it', () => {
    assert.equal(may('prune', 's3:PutObject', schoolKey, { ifNoneMatch: true }), false);
    assert.equal(may('prune', 's3:PutObject', schoolKey, { ifNoneMatch: true, creation: false }), false);
    for (const action of [
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
      's3:BypassGovernanceRetention',
      's3:PutObjectTagging',
    ])
      assert.equal(may('prune', action, schoolKey), false, action);
    assert.equal(may('prune', 's3:GetObject', `${schoolKey}.json`), true, 'it reads manifests');
    assert.equal(may('prune', 's3:GetObjectRetention', schoolKey), true, 'and Object Lock dates');
  });
});

describe('the health check: one function per deployment, an age alarm per database and enabled tier', () => {
  let template: Template;
  let deployment: StackTemplate;
  let bucketPolicy: Statement[];
  let bucketArn: string;
  let health: { arn: string; statements: Statement[] };

  before(async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const school = example.databases[0] as PostgresDatabaseConfig;
    const config = parseDeploymentConfig({
      ...example,
      health: { hour: 6, minute: 30 },
      databases: [
        { ...school, schedules: { weekly: { hour: 4, enabled: false } } },
        { ...school, name: 'warehouse', database: 'warehouse', schedules: {} },
      ],
    });
    const synthesized = synth(config);
    template = synthesized.template;
    const { stack } = synthesized;
    deployment = deployedTemplates(stack).root;
    const roleId = Object.keys(deployment.json.Resources).find(
      (id) => id.startsWith('HealthCheck') && deployment.json.Resources[id]?.Type === 'AWS::IAM::Role',
    );
    assert.ok(roleId, 'the health function has a role of its own');
    health = {
      arn: deployment.resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string,
      statements: roleStatements(deployment, roleId),
    };
    bucketPolicy = resourcePolicyStatements(deployment, 'AWS::S3::BucketPolicy', 'PolicyDocument').filter((s) =>
      JSON.stringify(s).includes('storagebucket'),
    );
    const [bucket] = [...deployment.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    bucketArn = deployment.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
  });

  test('one health function for every database, run once a day at the configured time in the deployment’s time zone', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { ImageConfig: { Command: ['dist/functions/health.handler'] } },
    });
    assert.equal(Object.keys(functions).length, 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      ImageConfig: { Command: ['dist/functions/health.handler'] },
      Timeout: 900,
      // It reads only S3, Secrets Manager and SES: it needs no way into the databases' networks.
      VpcConfig: Match.absent(),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 6 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      // A start Scheduler could not make is retried, then dead-lettered, like every schedule's.
      Target: Match.objectLike({
        Input: '{}',
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 5 }),
        DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
      }),
    });
  });

  test('BackupAgeHours alarms for the enabled tiers only, at each tier’s limit; a health check that stops reporting breaches them', () => {
    const alarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'BackupAgeHours' } }),
    ) as Array<{
      Properties: {
        Threshold: number;
        Dimensions: Array<{ Name: string; Value: string }>;
        TreatMissingData: string;
        ComparisonOperator: string;
        Statistic: string;
        Period: number;
        EvaluationPeriods: number;
        AlarmActions: unknown[];
        Namespace: string;
      };
    }>;
    const found = alarms.map(({ Properties: p }) => {
      const dimension = (name: string) => p.Dimensions.find((d) => d.Name === name)?.Value;
      // The deployment's own namespace, where the health function publishes (DBBACKUP_METRIC_NAMESPACE).
      assert.equal(p.Namespace, 'dbbackup/DbBackup');
      assert.equal(dimension('service'), 'dbbackup');
      assert.equal(p.TreatMissingData, 'breaching');
      assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
      assert.equal(p.Statistic, 'Maximum');
      // The check runs daily: a day and an hour always hold one of its reports (CloudWatch allows 7 days).
      assert.equal(p.Period, 25 * 3600);
      assert.equal(p.EvaluationPeriods, 1);
      assert.equal(p.AlarmActions.length, 1);
      return [dimension('database'), dimension('tier'), p.Threshold];
    });
    assert.deepEqual(found.sort(), [
      ['school', 'daily', 26],
      ['school', 'monthly', 32 * 24],
      ['warehouse', 'daily', 26],
      ['warehouse', 'monthly', 32 * 24],
      ['warehouse', 'weekly', 8 * 24],
    ]);
  });

  test('the health role reads the bucket and nothing more: no write or delete anywhere, and only the health config secret', () => {
    const may = (action: string, resource: string) =>
      decide(
        { principal: health.arn, action, resource, context: { 'aws:SecureTransport': 'true', 's3:if-none-match': '*' } },
        health.statements,
        bucketPolicy,
      ) === 'allow';
    const key = 'postgres/school/2026/backup_school_20261122_230000_run.dump.gz';
    assert.equal(may('s3:GetObject', `${bucketArn}/${key}`), true);
    assert.equal(may('s3:ListBucket', bucketArn), true);
    for (const action of [
      's3:PutObject',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectTagging',
      's3:PutObjectRetention',
    ])
      for (const where of [key, 'pre-restore/x.dump.gz', 'runs/x.jsonl'])
        assert.equal(may(action, `${bucketArn}/${where}`), false, `${action} ${where}`);
    const actions = health.statements.flatMap((statement) => [statement.Action ?? []].flat());
    assert.ok(!actions.some((a) => a === '*' || a === 's3:*' || /^s3:(Put|Delete)/.test(a)), actions.join());
    const secrets = health.statements
      .filter((statement) => [statement.Action ?? []].flat().includes('secretsmanager:GetSecretValue'))
      .flatMap((statement) => [statement.Resource ?? []].flat());
    assert.equal(secrets.length, 1, 'its own config secret, no database credential');
    assert.ok(!secrets.some((arn) => String(arn).includes('school-db')), secrets.join());
  });
});

describe('the console widget: a custom widget on the dashboard, its function read-only but for the health and restore functions', () => {
  let deployment: StackTemplate;
  let bucketPolicy: Statement[];
  let bucketArn: string;
  let widget: { arn: string; statements: Statement[]; functionArn: string };
  let healthArn = '';
  let alertArn = '';
  let groups: string[] = [];
  const lambdaArn = (name: string) => `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:${name}`;

  before(async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const school = example.databases[0] as PostgresDatabaseConfig;
    const config = parseDeploymentConfig({
      ...example,
      databases: [school, { ...school, name: 'warehouse', database: 'warehouse' }, sqliteOnEfs],
    });
    const { stack } = synth(config);
    groups = planDatabaseGroups(config).map((g) => g.id);
    deployment = deployedTemplates(stack).root;
    const idOf = (prefix: string, type: string) => {
      const id = Object.keys(deployment.json.Resources).find(
        (r) => r.startsWith(prefix) && deployment.json.Resources[r]?.Type === type,
      );
      assert.ok(id, `no ${type} ${prefix}`);
      return id;
    };
    const roleId = idOf('ConsoleFunctionServiceRole', 'AWS::IAM::Role');
    widget = {
      arn: deployment.resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string,
      statements: roleStatements(deployment, roleId),
      functionArn: deployment.resolve({ 'Fn::GetAtt': [idOf('ConsoleFunction', 'AWS::Lambda::Function'), 'Arn'] }) as string,
    };
    healthArn = deployment.resolve({ 'Fn::GetAtt': [idOf('HealthCheck', 'AWS::Lambda::Function'), 'Arn'] }) as string;
    alertArn = deployment.resolve({ 'Fn::GetAtt': [idOf('Alerts', 'AWS::Lambda::Function'), 'Arn'] }) as string;
    bucketPolicy = resourcePolicyStatements(deployment, 'AWS::S3::BucketPolicy', 'PolicyDocument').filter((s) =>
      JSON.stringify(s).includes('storagebucket'),
    );
    const [bucket] = [...deployment.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    bucketArn = deployment.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
  });

  const may = (action: string, resource: string) =>
    decide(
      { principal: widget.arn, action, resource, context: { 'aws:SecureTransport': 'true', 's3:if-none-match': '*' } },
      widget.statements,
      resource.startsWith('arn:aws:s3') ? bucketPolicy : [],
    ) === 'allow';

  test('the dashboard holds a custom widget calling the widget function, redrawn on refresh only', () => {
    const [dashboard] = [...deployment.all('AWS::CloudWatch::Dashboard')];
    const body = JSON.parse(
      deployment.resolve(
        (deployment.json.Resources[dashboard?.id as string]?.Properties as { DashboardBody: unknown }).DashboardBody,
      ) as string,
    ) as { widgets: Array<{ type: string; width: number; properties: Record<string, unknown> }> };
    const custom = body.widgets.filter((w) => w.type === 'custom');
    assert.equal(custom.length, 1);
    assert.equal(custom[0]?.properties.endpoint, widget.functionArn);
    assert.equal(custom[0]?.width, 24);
    assert.deepEqual(custom[0]?.properties.updateOn, { refresh: true, resize: false, timeRange: false });
  });

  test('the widget role reads backups but cannot write or delete any object, and reads only its own config secret', () => {
    const key = 'postgres/school/2026/backup_school_20261122_230000_run.dump.gz';
    assert.equal(may('s3:GetObject', `${bucketArn}/${key}`), true);
    assert.equal(may('s3:GetObject', `${bucketArn}/runs/postgres/school/2026/20261122_230000_drill_0123abcd.jsonl`), true);
    assert.equal(may('s3:ListBucket', bucketArn), true);
    for (const action of [
      's3:PutObject',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectTagging',
      's3:PutObjectRetention',
      's3:PutObjectLegalHold',
      's3:BypassGovernanceRetention',
      's3:PutBucketPolicy',
    ])
      for (const where of [key, 'pre-restore/x.dump.gz', 'runs/x.jsonl', 'anything'])
        assert.equal(may(action, `${bucketArn}/${where}`), false, `${action} ${where}`);
    const actions = widget.statements.flatMap((statement) => [statement.Action ?? []].flat());
    assert.ok(!actions.some((a) => a === '*' || a === 's3:*' || /^s3:(Put|Delete)/.test(a)), actions.join());
    const secrets = widget.statements
      .filter((statement) => [statement.Action ?? []].flat().includes('secretsmanager:GetSecretValue'))
      .flatMap((statement) => [statement.Resource ?? []].flat());
    assert.equal(secrets.length, 1, 'its own config secret, no database credential');
  });

  test('the widget may invoke the health function and every group’s restore function, and no other function', () => {
    assert.equal(groups.length, 2);
    assert.equal(may('lambda:InvokeFunction', healthArn), true, 'health now');
    for (const group of groups) {
      assert.equal(
        may('lambda:InvokeFunction', lambdaArn(functionName('DbBackup', group, 'restore'))),
        true,
        `restore of ${group}`,
      );
      for (const role of ['backup', 'prune', 'drill'] as const)
        assert.equal(
          may('lambda:InvokeFunction', lambdaArn(functionName('DbBackup', group, role))),
          false,
          `${role} of ${group}`,
        );
    }
    for (const other of [alertArn, widget.functionArn, lambdaArn('someone-else'), lambdaArn('DbBackup-n000000-1-restore')])
      assert.equal(may('lambda:InvokeFunction', other), false, other);
    const lambdaActions = widget.statements.flatMap((s) => [s.Action ?? []].flat()).filter((a) => a.startsWith('lambda:'));
    assert.deepEqual([...new Set(lambdaActions)], ['lambda:InvokeFunction']);
  });
});

describe('Object Lock, a setting of the bucket', () => {
  test('off by default; governance mode by default once days are set; compliance when asked', async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const lock = (bucket: object) =>
      (
        Object.values(
          synth(parseDeploymentConfig({ ...example, bucket: { ...example.bucket, ...bucket } })).template.findResources(
            'AWS::S3::Bucket',
            { Properties: { VersioningConfiguration: { Status: 'Enabled' } } },
          ),
        )[0] as { Properties: { ObjectLockConfiguration?: unknown } }
      ).Properties.ObjectLockConfiguration;
    assert.equal(lock({}), undefined);
    assert.deepEqual(lock({ objectLockDays: 30 }), {
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Days: 30, Mode: 'GOVERNANCE' } },
    });
    assert.deepEqual(lock({ objectLockDays: 90, objectLockMode: 'compliance' }), {
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Days: 90, Mode: 'COMPLIANCE' } },
    });
    assert.throws(() => parseDeploymentConfig({ ...example, bucket: { objectLockMode: 'strict' } }), /bucket\.objectLockMode/);
  });
});

describe('every alarm can notify (key and topic policies, evaluated)', () => {
  test('each alarm’s action is a topic CloudWatch may publish to, encrypted with a key CloudWatch may use', async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const config = { ...example, bucket: { ...example.bucket, replicationRegion: 'eu-central-1' } };
    const deployment = addDeployment(new App(), { config, stackName: 'DbBackup', image: image() });
    const { main } = deployment;
    const root = deployedTemplates(main).root;
    const topics = new Map(
      [...root.all('AWS::SNS::Topic')].map(({ stack, id, resource }) => [
        stack.resolve({ Ref: id }) as string,
        { stack, resource },
      ]),
    );
    const topicPolicy = resourcePolicyStatements(root, 'AWS::SNS::TopicPolicy', 'PolicyDocument');
    const cloudwatch = 'service:cloudwatch.amazonaws.com';
    const context = { 'aws:SourceAccount': ACCOUNT, 'aws:SecureTransport': 'true' };
    const alarms = [...root.all('AWS::CloudWatch::Alarm')];
    // school: stale, failed, function errors, near the limit, age of three tiers, prune errors; the deployment:
    // alerts failed, replication failed, backups not started.
    assert.equal(alarms.length, 11);
    for (const { stack, id, resource } of alarms) {
      const actions = stack.resolve(resource.Properties?.AlarmActions) as string[];
      assert.equal(actions.length, 1, id);
      const topic = topics.get(actions[0] as string);
      assert.ok(topic, `${id} notifies ${actions[0]}, which is no topic of the deployment`);
      assert.equal(
        decide({ principal: cloudwatch, action: 'sns:Publish', resource: actions[0] as string, context }, [], topicPolicy),
        'allow',
        `${id}: the topic policy lets CloudWatch publish`,
      );
      const keyArn = topic.stack.resolve(topic.resource.Properties?.KmsMasterKeyId) as string;
      const key = [...root.all('AWS::KMS::Key')].find(
        ({ stack: s, id: k }) => s.resolve({ 'Fn::GetAtt': [k, 'Arn'] }) === keyArn,
      );
      assert.ok(key, `${id}: its topic is encrypted with ${keyArn}, a key of the deployment`);
      const keyPolicy = list(key.stack.resolve(key.resource.Properties?.KeyPolicy) as { Statement: Statement[] });
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
        assert.equal(
          decide({ principal: cloudwatch, action, resource: keyArn, context }, [], keyPolicy),
          'allow',
          `${id}: CloudWatch may ${action} with the topic's key`,
        );
    }
  });
});

describe('every dead letter can be kept (role, queue and key policies, evaluated)', () => {
  test('the schedulers, the alert function and the stopped-task rule may each put a message in the queue, encrypted with its key', async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const config = parseDeploymentConfig({
      ...example,
      databases: [...example.databases, { ...sqliteOnEfs, runner: 'fargate' }],
    });
    const { stack } = synth(config);
    const { root, groups } = deployedTemplates(stack);
    const queue = root.resolve({ 'Fn::GetAtt': [logicalIdOf(root, 'AWS::SQS::Queue', 'DeadLetters'), 'Arn'] }) as string;
    const key = root.resolve({ 'Fn::GetAtt': [logicalIdOf(root, 'AWS::KMS::Key', 'DeadLetters'), 'Arn'] }) as string;
    const queuePolicy = resourcePolicyStatements(root, 'AWS::SQS::QueuePolicy', 'PolicyDocument');
    const keyPolicy = resourcePolicyStatements(root, 'AWS::KMS::Key', 'KeyPolicy');
    const senders = [
      ...groups.map((group) => ({ name: `${group.name} scheduler`, template: group, role: 'SchedulesInvokeRole' })),
      { name: 'alert function', template: root, role: 'AlertsAlertServiceRole' },
    ];
    assert.equal(groups.length, 2);
    const context = { 'aws:SecureTransport': 'true', 'aws:SourceAccount': ACCOUNT };
    for (const { name, template, role } of senders) {
      const identity = roleStatements(template, logicalIdOf(template, 'AWS::IAM::Role', role));
      const principal = `arn:aws:iam::${ACCOUNT}:role/${name}`;
      // Same account: the role's own policy decides, since the key's policy delegates to IAM.
      assert.equal(
        decide({ principal, action: 'sqs:SendMessage', resource: queue, context }, identity, queuePolicy),
        'allow',
        name,
      );
      for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
        assert.equal(decide({ principal, action, resource: key, context }, identity, []), 'allow', `${name}: ${action}`);
    }
    // EventBridge delivers the rule's dead letters as itself: the queue and key policies must let it.
    const events = 'service:events.amazonaws.com';
    const ruleArn = root.resolve({ 'Fn::GetAtt': [logicalIdOf(root, 'AWS::Events::Rule', 'Tasks'), 'Arn'] }) as string;
    const rule = { ...context, 'aws:SourceArn': ruleArn };
    assert.equal(
      decide({ principal: events, action: 'sqs:SendMessage', resource: queue, context: rule }, [], queuePolicy),
      'allow',
    );
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
      assert.equal(decide({ principal: events, action, resource: key, context: rule }, [], keyPolicy), 'allow', action);
  });
});

/** The logical ID of the one resource of `type` whose ID starts with `prefix`. */
function logicalIdOf(template: StackTemplate, type: string, prefix: string): string {
  const ids = Object.entries(template.json.Resources)
    .filter(([id, r]) => r.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  assert.equal(ids.length, 1, `${type} ${prefix}* in ${template.name}: ${ids.join()}`);
  return ids[0] as string;
}

function list(document: { Statement: Statement[] | Statement }): Statement[] {
  return [document.Statement].flat();
}

describe('the user’s own network resources', () => {
  test('a SQLite database on EFS adds no rule to the user’s security groups (an existing rule would fail the deploy)', async () => {
    const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const { template } = synth(
      parseDeploymentConfig({ ...example, databases: [sqliteOnEfs, { ...sqliteOnEfs, name: 'app2', runner: 'fargate' }] }),
    );
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
  });
});

describe('every role that reads backups can decrypt them (role policies, evaluated)', () => {
  test('a role allowed to get a manifest or run record from the KMS-encrypted bucket may also kms:Decrypt with its key', async () => {
    const config = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const { stack } = synth(
      parseDeploymentConfig({
        ...config,
        databases: [...config.databases, sqliteOnEfs, { ...sqliteOnEfs, name: 'app2', runner: 'fargate' }],
      }),
    );
    const main = deployedTemplates(stack).root;
    const [bucket] = [...main.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    const bucketArn = main.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
    const [key] = [...main.all('AWS::KMS::Key')].filter(({ id }) => id.startsWith('StorageKey'));
    const keyArn = main.resolve({ 'Fn::GetAtt': [key?.id, 'Arn'] }) as string;
    assert.ok(keyArn, 'the example deployment encrypts with its own key');
    // The key's policy delegates to IAM (the account root), so the role's own policy must allow decrypting.
    const context = { 'aws:SecureTransport': 'true' };
    const objects = [
      `${bucketArn}/postgres/school/2026/backup_school_20261122_230000_0123abcd.dump.gz.json`,
      `${bucketArn}/runs/postgres/school/2026/20261122_230000_scheduled_0123abcd.jsonl`,
    ];
    const readers: string[] = [];
    for (const { stack: template, id } of main.all('AWS::IAM::Role')) {
      const statements = roleStatements(template, id);
      const may = (action: string, resource: string) =>
        decide({ principal: `arn:aws:iam::${ACCOUNT}:role/${id}`, action, resource, context }, statements, []) === 'allow';
      if (!objects.some((o) => may('s3:GetObject', o))) continue;
      readers.push(id);
      assert.equal(may('kms:Decrypt', keyArn), true, `${id} reads backups but cannot decrypt them`);
    }
    // The alert, prune, health, report, console, backup, restore, drill and task roles at least.
    assert.ok(readers.length >= 9, readers.join(', '));
  });
});

describe('the weekly report (its role and schedule, evaluated)', () => {
  let main: StackTemplate;
  let statements: Statement[];
  let bucketPolicy: Statement[];
  let bucketArn = '';
  let keyArn = '';
  let config: DeploymentConfig;

  before(async () => {
    config = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const { stack } = synth(config);
    main = deployedTemplates(stack).root;
    const roleId = Object.keys(main.json.Resources).find(
      (r) => r.startsWith('ReportsReportServiceRole') && main.json.Resources[r]?.Type === 'AWS::IAM::Role',
    );
    assert.ok(roleId, 'the report function has a role');
    statements = roleStatements(main, roleId);
    bucketPolicy = resourcePolicyStatements(main, 'AWS::S3::BucketPolicy', 'PolicyDocument').filter((s) =>
      JSON.stringify(s).includes('storagebucket'),
    );
    const [bucket] = [...main.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    bucketArn = main.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
    const [key] = [...main.all('AWS::KMS::Key')].filter(({ id }) => id.startsWith('StorageKey'));
    keyArn = main.resolve({ 'Fn::GetAtt': [key?.id, 'Arn'] }) as string;
  });

  const may = (action: string, resource: string, context: Record<string, string> = {}) =>
    decide(
      { principal: 'report', action, resource, context: { 'aws:SecureTransport': 'true', ...context } },
      statements,
      resource.startsWith('arn:aws:s3:') ? bucketPolicy : [],
    ) === 'allow';

  test('its role reads the bucket (manifests, run records) and sends the email, and can do nothing else there', () => {
    const manifest = `${bucketArn}/postgres/school/2026/backup_school_20261122_230000_run.dump.gz.json`;
    const record = `${bucketArn}/runs/postgres/school/2026/20261122_230000_scheduled_0123456789abcdef.jsonl`;
    assert.equal(may('s3:GetObject', manifest), true);
    assert.equal(may('s3:GetObject', record), true);
    assert.equal(may('s3:ListBucket', bucketArn), true);
    if (keyArn) assert.equal(may('kms:Decrypt', keyArn), true);
    const sender = config.alerts.sender;
    assert.equal(may('ses:SendEmail', `arn:aws:ses:eu-west-1:${ACCOUNT}:identity/${sender}`), true);
    for (const action of [
      's3:PutObject',
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectRetention',
      's3:PutObjectTagging',
    ])
      assert.equal(may(action, manifest, { 's3:if-none-match': '*' }), false, action);
    if (keyArn) assert.equal(may('kms:GenerateDataKey', keyArn), false, 'it encrypts nothing');
    const school = config.databases[0] as PostgresDatabaseConfig;
    assert.equal(may('secretsmanager:GetSecretValue', school.secretArn), false, 'no database credential');
    assert.equal(may('lambda:InvokeFunction', `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:DbBackup-x-restore`), false);
  });

  test('a weekly schedule in the deployment’s time zone, Mondays 07:00 by default, set by the config’s report; none when disabled', () => {
    const template = Template.fromJSON(main.json as never);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 7 ? * MON *)',
      ScheduleExpressionTimezone: config.timeZone,
      Description: 'dbbackup: the weekly report email',
    });
    const custom = synth(parseDeploymentConfig({ ...config, report: { weekday: 'FRI', hour: 16, minute: 30 } }));
    custom.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 16 ? * FRI *)',
      Description: 'dbbackup: the weekly report email',
    });
    const off = synth(parseDeploymentConfig({ ...config, report: { enabled: false } }));
    assert.equal(
      Object.values(off.template.findResources('AWS::Scheduler::Schedule')).filter((s) =>
        JSON.stringify(s).includes('weekly report'),
      ).length,
      0,
    );
    off.template.hasResourceProperties('AWS::Lambda::Function', { Description: 'dbbackup: emails the weekly report' });
  });
});
