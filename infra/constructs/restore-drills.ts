import { Duration, Size, Tags } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { type DatabaseConfig, type DeploymentConfig, drillSettings } from '../../shared/deployment/deployment-config.js';
import {
  DRILL_METRICS,
  databaseTag,
  functionName,
  HEALTH_INTERVAL_HOURS,
  METRIC_NAMESPACE,
  SERVICE_NAME,
} from '../../shared/deployment/deployment-names.js';
import { runRecordsPrefix } from '../../shared/deployment/backup-prefixes.js';
import { DEFAULT_MAX_DRILL_AGE_DAYS } from '../../shared/health/drill-health.js';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import { deploymentName } from '../deployment-name.js';
import { grantBackupAccess } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link RestoreDrills}. */
export interface RestoreDrillsProps {
  readonly config: DeploymentConfig;
  readonly groupId: string;
  /** The group's databases whose drill is enabled (drillSettings); none: nothing is made. */
  readonly databases: readonly DatabaseConfig[];
  readonly storage: BackupBucket;
  readonly code: (handler: string) => lambda.DockerImageCode;
  readonly configSecret: secretsmanager.ISecret;
  /** The group's network: the scratch server is reached from there. */
  readonly network: Pick<lambda.FunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups'>;
  readonly topic: sns.ITopic;
  /** @default 3584 (2 vCPUs) */
  readonly memoryMiB?: number;
  /** Temporary storage: a SQLite drill restores the whole file there. @default 10 GiB */
  readonly ephemeralGiB?: number;
}

/**
 * Restore drills of one database group: a drill function of its own, so that the only database
 * server it can change is the scratch server (it reads only the scratch servers' secrets, never
 * a database's own or its restore secret, and writes only its databases' run records); a monthly
 * schedule per drilled database, in the deployment's time zone; an alarm per database when a
 * drill fails (DrillSucceeded, published 1 or 0 by every drill, below 1), and one when the
 * function itself times out or crashes. "No drill has passed in 35 days" is longer than any
 * CloudWatch alarm can look back (7 days): the health check reads the drill run records for it.
 */
export class RestoreDrills extends Construct {
  readonly drill: lambda.Function;
  readonly schedules: scheduler.CfnSchedule[] = [];
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: RestoreDrillsProps) {
    super(scope, id);
    const { config, databases, storage } = props;
    this.drill = new lambda.DockerImageFunction(this, 'Drill', {
      functionName: functionName(deploymentName(this), props.groupId, 'drill'),
      description: `dbbackup: restore drills of ${databases.map((d) => d.name).join(', ')}`.slice(0, 256),
      code: props.code('dist/functions/drill.handler'),
      memorySize: props.memoryMiB ?? 3584,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(props.ephemeralGiB ?? 10),
      environment: runtimeEnvironment(storage, props.configSecret),
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS }),
      // A retry would drill the same backup again; a failure is emailed and alarmed on instead.
      retryAttempts: 0,
      ...props.network,
    });
    for (const db of databases)
      Tags.of(this.drill).add(databaseTag(db.name), 'drilled', { includeResourceTypes: ['AWS::Lambda::Function'] });
    props.configSecret.grantRead(this.drill);
    const scratchSecrets = databases.flatMap((db, i) =>
      db.engine === 'postgres' && db.drill?.scratch
        ? [secretsmanager.Secret.fromSecretCompleteArn(this, `ScratchSecret${i}`, db.drill.scratch.secretArn)]
        : [],
    );
    grantBackupAccess(this.drill, this, {
      storage,
      config,
      secrets: scratchSecrets,
      writePrefixes: databases.map(runRecordsPrefix),
    });
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );
    if (props.network.vpc)
      acknowledge(
        this,
        ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]'],
        "AWS's managed policy for the network interfaces a function in a VPC needs; it grants nothing else.",
      );
    this.schedule(config, databases);
    this.alarm(databases, props.topic);
  }

  /** A monthly EventBridge Scheduler schedule per database: `{ "database": … }` to the drill function. */
  private schedule(config: DeploymentConfig, databases: readonly DatabaseConfig[]): void {
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'dbbackup: lets EventBridge Scheduler start the restore drills',
    });
    this.drill.grantInvoke(role);
    acknowledge(
      role,
      [`IAM5[Resource::${arnInFinding(this, this.drill.functionArn)}:*]`],
      'Function.grantInvoke covers the function and its versions; the role can invoke nothing else.',
    );
    for (const db of databases) {
      const { day, hour, minute } = drillSettings(db).schedule;
      this.schedules.push(
        new scheduler.CfnSchedule(this, `${db.name}-drill`, {
          description: `dbbackup: monthly restore drill of ${db.name}`,
          scheduleExpression: `cron(${minute} ${hour} ${day} * ? *)`,
          scheduleExpressionTimezone: config.timeZone,
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            arn: this.drill.functionArn,
            roleArn: role.roleArn,
            input: JSON.stringify({ database: db.name }),
            retryPolicy: { maximumRetryAttempts: 0 },
          },
        }),
      );
    }
  }

  private alarm(databases: readonly DatabaseConfig[], topic: sns.ITopic): void {
    for (const db of databases)
      this.alarms.push(
        new cloudwatch.Alarm(this, `DrillFailed-${db.name}`, {
          alarmDescription: `The restore drill of ${db.name} failed: its newest backup did not restore and check out`,
          // The drill function publishes 1 for a passed drill and 0 for a failed one, by database.
          metric: new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: DRILL_METRICS.succeeded,
            dimensionsMap: { service: SERVICE_NAME, database: db.name },
            statistic: 'Minimum',
            period: Duration.days(1),
          }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // Days without a drill are the normal case (it runs monthly).
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    for (const db of databases)
      this.alarms.push(
        new cloudwatch.Alarm(this, `NoDrillPassed-${db.name}`, {
          alarmDescription: `No restore drill of ${db.name} has passed in ${DEFAULT_MAX_DRILL_AGE_DAYS} days`,
          // The daily health check publishes the days since a drill last passed (since the first run, before any).
          metric: new cloudwatch.Metric({
            namespace: METRIC_NAMESPACE,
            metricName: DRILL_METRICS.daysWithoutPass,
            dimensionsMap: { service: SERVICE_NAME, database: db.name },
            statistic: 'Maximum',
            period: Duration.hours(HEALTH_INTERVAL_HOURS + 1),
          }),
          threshold: DEFAULT_MAX_DRILL_AGE_DAYS,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // A health check that stopped reporting is the BackupTooOld alarms' to say (missing data breaches there).
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    this.alarms.push(
      new cloudwatch.Alarm(this, 'DrillFunctionErrors', {
        alarmDescription:
          `The drill function of ${databases.map((d) => d.name).join(', ')}`.slice(0, 900) + ' timed out or crashed',
        metric: this.drill.metricErrors({ period: Duration.hours(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    const notify = new actions.SnsAction(topic);
    for (const alarm of this.alarms) alarm.addAlarmAction(notify);
  }
}
