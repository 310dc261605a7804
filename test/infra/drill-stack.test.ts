import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addDeployment } from '../../infra/add-deployment.js';
import { DbBackupStack, type DbBackupImage } from '../../infra/dbbackup-stack.js';
import {
  type DeploymentConfig,
  loadDeploymentConfig,
  parseDeploymentConfig,
  type PostgresDatabaseConfig,
} from '../../shared/deployment/deployment-config.js';
import { sqliteOnEfs as sqliteOnEfsOf } from '../harness/fixtures.js';
import { repoRoot } from '../harness/test-env.js';
import { decide, deployedTemplates, resourcePolicyStatements, roleStatements, type Statement } from './policy-evaluator.js';

const SCRATCH_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:scratch-AbCdEf';
const RESTORE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:school-restore-AbCdEf';

/** A stand-in build context (a one-line Dockerfile): the template is the same, without copying the repository. */
function image(): DbBackupImage {
  const dir = mkdtempSync(join(tmpdir(), 'dbbackup-image-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:22\n');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    lambda: (handler) => lambda.DockerImageCode.fromImageAsset(dir, { cmd: [handler] }),
    container: () => ecs.ContainerImage.fromAsset(dir),
  };
}

const sqliteOnEfs = sqliteOnEfsOf('app');

describe('restore drills in the stack', () => {
  let example: DeploymentConfig;
  let config: DeploymentConfig;
  let school: PostgresDatabaseConfig;

  before(async () => {
    example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    school = example.databases[0] as PostgresDatabaseConfig;
    config = parseDeploymentConfig({
      ...example,
      timeZone: 'Europe/Berlin',
      databases: [
        {
          ...school,
          restoreSecretArn: RESTORE_SECRET,
          drill: { scratch: { host: 'scratch.internal', secretArn: SCRATCH_SECRET } },
        },
        { ...school, name: 'warehouse', database: 'warehouse' },
        { ...sqliteOnEfs, drill: { enabled: true, schedule: { day: 3, hour: 6 } } },
      ],
    });
  });

  const groupsOf = (stack: DbBackupStack) => stack.groups.map((g) => Template.fromStack(g));

  test('no drill is deployed unless configured: no drill function, schedule or alarm', () => {
    const stack = new DbBackupStack(new App(), 'DbBackup', { config: example, image: image() });
    for (const group of groupsOf(stack)) {
      const text = JSON.stringify(group.toJSON());
      assert.ok(!text.includes('drill.handler') && !text.includes('DrillSucceeded'), 'nothing of a drill');
    }
  });

  test('a monthly schedule per drilled database, in the deployment time zone, on the drill function; none for the undrilled', () => {
    const stack = new DbBackupStack(new App(), 'DbBackup', { config, image: image() });
    const schedules = groupsOf(stack).flatMap((t) =>
      Object.values(t.findResources('AWS::Scheduler::Schedule'))
        .map((r) => (r as { Properties: Record<string, unknown> }).Properties)
        .filter((p) => String(p.Description).includes('restore drill')),
    );
    assert.deepEqual(
      schedules
        .map((p) => [
          JSON.parse((p.Target as { Input: string }).Input).database,
          p.ScheduleExpression,
          p.ScheduleExpressionTimezone,
        ])
        .sort(),
      [
        ['app', 'cron(0 6 3 * ? *)', 'Europe/Berlin'],
        ['school', 'cron(0 5 15 * ? *)', 'Europe/Berlin'],
      ],
    );
    const handlers = groupsOf(stack).flatMap((t) =>
      Object.values(t.findResources('AWS::Lambda::Function')).map(
        (r) => (r as { Properties: { ImageConfig: { Command: string[] } } }).Properties.ImageConfig.Command[0],
      ),
    );
    assert.equal(
      handlers.filter((h) => h === 'dist/functions/drill.handler').length,
      2,
      'one drill function per group with a drill',
    );
  });

  test('an alarm per drilled database on DrillSucceeded below 1, and one on the drill function’s errors, both to the alarm topic', () => {
    const stack = new DbBackupStack(new App(), 'DbBackup', { config, image: image() });
    const alarms = groupsOf(stack).flatMap((t) =>
      Object.values(t.findResources('AWS::CloudWatch::Alarm')).map(
        (r) => (r as { Properties: Record<string, unknown> }).Properties,
      ),
    );
    const drill = alarms.filter((a) => a.MetricName === 'DrillSucceeded');
    assert.deepEqual(
      drill
        .map((a) => [
          (a.Dimensions as Array<{ Name: string; Value: string }>).map((d) => `${d.Name}=${d.Value}`).join(','),
          a.Statistic,
          a.ComparisonOperator,
          a.Threshold,
          a.Namespace,
        ])
        .sort(),
      [
        ['database=app,service=dbbackup', 'Minimum', 'LessThanThreshold', 1, 'dbbackup'],
        ['database=school,service=dbbackup', 'Minimum', 'LessThanThreshold', 1, 'dbbackup'],
      ],
    );
    for (const a of drill) assert.equal((a.AlarmActions as unknown[]).length, 1);
    assert.equal(alarms.filter((a) => String(a.AlarmDescription).startsWith('The drill function of')).length, 2);
  });

  test('an alarm per drilled database when no drill has passed in 35 days, on the health check’s daily metric', () => {
    const stack = new DbBackupStack(new App(), 'DbBackup', { config, image: image() });
    const alarms = groupsOf(stack).flatMap((t) =>
      Object.values(t.findResources('AWS::CloudWatch::Alarm')).map(
        (r) => (r as { Properties: Record<string, unknown> }).Properties,
      ),
    );
    const overdue = alarms.filter((a) => a.MetricName === 'DaysWithoutPassedDrill');
    assert.deepEqual(
      overdue
        .map((a) => [
          (a.Dimensions as Array<{ Name: string; Value: string }>).map((d) => `${d.Name}=${d.Value}`).join(','),
          a.Statistic,
          a.ComparisonOperator,
          a.Threshold,
          a.Period,
          a.TreatMissingData,
        ])
        .sort(),
      [
        ['database=app,service=dbbackup', 'Maximum', 'GreaterThanThreshold', 35, 25 * 3600, 'notBreaching'],
        ['database=school,service=dbbackup', 'Maximum', 'GreaterThanThreshold', 35, 25 * 3600, 'notBreaching'],
      ],
    );
    for (const a of overdue) assert.equal((a.AlarmActions as unknown[]).length, 1);
    // The health check, which publishes the metric, is told which databases are drilled.
    const secrets = Object.values(Template.fromStack(stack).findResources('AWS::SecretsManager::Secret')).map((r) =>
      JSON.stringify((r as { Properties: unknown }).Properties),
    );
    const health = secrets.find((s) => s.includes('health check'));
    assert.ok(health, 'the health check’s config secret');
    const healthConfig = JSON.parse(JSON.parse(health).SecretString as string) as {
      databases: Array<{ name: string; drill: boolean }>;
    };
    assert.deepEqual(
      healthConfig.databases
        .filter((d) => d.drill)
        .map((d) => d.name)
        .sort(),
      ['app', 'school'],
    );
  });

  test('least privilege: the drill role reads only the scratch secret, writes only its databases’ run records, deletes nothing', () => {
    const stack = new DbBackupStack(new App(), 'DbBackup', { config, image: image() });
    const {
      root: deployment,
      groups: [postgresGroup],
    } = deployedTemplates(stack);
    assert.ok(postgresGroup, 'the PostgreSQL group has a stack of its own');
    const roleId = Object.keys(postgresGroup.json.Resources).find(
      (r) => r.startsWith('DrillsDrillServiceRole') && postgresGroup.json.Resources[r]?.Type === 'AWS::IAM::Role',
    );
    assert.ok(roleId, 'the drill function has its own role');
    const statements: Statement[] = roleStatements(postgresGroup, roleId);
    const arn = postgresGroup.resolve({ 'Fn::GetAtt': [roleId, 'Arn'] }) as string;
    const bucketPolicy = resourcePolicyStatements(deployment, 'AWS::S3::BucketPolicy', 'PolicyDocument').filter((s) =>
      JSON.stringify(s).includes('storagebucket'),
    );
    const [bucket] = [...deployment.all('AWS::S3::Bucket')].filter(({ id }) => id.startsWith('StorageBucket'));
    const bucketArn = deployment.resolve({ 'Fn::GetAtt': [bucket?.id, 'Arn'] }) as string;
    const may = (action: string, resource: string, context: Record<string, string> = {}) =>
      decide(
        { principal: arn, action, resource, context: { 'aws:SecureTransport': 'true', ...context } },
        statements,
        action.startsWith('s3:') ? bucketPolicy : [],
      ) === 'allow';
    const create = { 's3:ObjectCreationOperation': 'true', 's3:if-none-match': '*' };

    assert.equal(may('secretsmanager:GetSecretValue', SCRATCH_SECRET), true);
    assert.equal(may('secretsmanager:GetSecretValue', school.secretArn), false, 'never the source’s backup login');
    assert.equal(may('secretsmanager:GetSecretValue', RESTORE_SECRET), false, 'never the source’s restore login');
    const record = 'runs/postgres/school/2026/20261115_050000_drill_0123456789abcdef.jsonl';
    assert.equal(may('s3:PutObject', `${bucketArn}/${record}`, create), true);
    assert.equal(may('s3:PutObject', `${bucketArn}/${record}`, { 's3:ObjectCreationOperation': 'true' }), false);
    assert.equal(
      may('s3:PutObject', `${bucketArn}/runs/postgres/warehouse/2026/x.jsonl`, create),
      false,
      'an undrilled database',
    );
    assert.equal(may('s3:PutObject', `${bucketArn}/postgres/school/2026/backup_school_x.dump.gz`, create), false);
    assert.equal(may('s3:GetObject', `${bucketArn}/postgres/school/2026/backup_school_x.dump.gz`), true);
    assert.equal(may('s3:DeleteObject', `${bucketArn}/${record}`), false);
  });

  test('cdk-nag passes with drills', () => {
    const app = new App();
    addDeployment(app, { config, stackName: 'DbBackup', image: image() });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    app.synth();
  });

  test('a PostgreSQL drill turned on without a scratch server is refused, naming the field', () => {
    assert.throws(
      () => parseDeploymentConfig({ ...example, databases: [{ ...school, drill: { enabled: true } }] }),
      /databases\.0\.drill\.scratch.*scratch server/,
    );
  });
});
