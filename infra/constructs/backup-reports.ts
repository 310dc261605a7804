import { START_RETRY_POLICY } from './backup-schedules.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import { allowSendingAlerts, grantReadingBackups } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupReports}. */
export interface BackupReportsProps {
  /** Where a schedule's event goes when the function could not be started. */
  readonly deadLetters: DeadLetterQueue;
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The deployment's settings without a database (the alert function's config secret): who gets the email. */
  readonly configSecret: secretsmanager.ISecret;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
}

/**
 * The weekly report email: a function that builds the last 7 days' report over the bucket and
 * emails it to the alert recipients, and an EventBridge Scheduler schedule in the deployment's
 * time zone (the config's `report`, default Mondays 07:00; none when `report.enabled` is false).
 * Its role reads the bucket (and decrypts with its key) and its config, and sends email: it
 * writes and deletes nothing.
 */
export class BackupReports extends Construct {
  readonly report: lambda.Function;
  readonly schedule?: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: BackupReportsProps) {
    super(scope, id);
    const { config, storage } = props;
    this.report = new lambda.DockerImageFunction(this, 'Report', {
      description: 'dbbackup: emails the weekly report',
      code: props.code('dist/functions/report.handler'),
      // Reading a year of daily run records of many databases takes a while; memory also buys CPU.
      memorySize: 1024,
      timeout: Duration.minutes(5),
      environment: runtimeEnvironment(storage, props.configSecret),
      logGroup: new logs.LogGroup(this, 'Logs-Report', { retention: logs.RetentionDays.THREE_MONTHS }),
      // A scheduled run Lambda could not complete lands in the deployment's dead-letter queue (alarmed on).
      deadLetterQueue: props.deadLetters.queue,
    });
    props.deadLetters.receiveFailuresOf(this.report);
    grantReadingBackups(this.report, this, storage, 'A report reads every manifest and run record (Bucket.grantRead: bucket/*).');
    props.configSecret.grantRead(this.report);
    allowSendingAlerts(this.report, config, Stack.of(this));
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy only lets it write its own logs.",
    );

    if (!config.report.enabled) return;
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'dbbackup: lets EventBridge Scheduler start the weekly report',
    });
    this.report.grantInvoke(role);
    props.deadLetters.grantSend(role);
    acknowledge(
      role,
      [`IAM5[Resource::${arnInFinding(this, this.report.functionArn)}:*]`],
      'Function.grantInvoke covers the function and its versions; the role can invoke nothing else.',
    );
    const { minute, hour, weekday } = config.report;
    this.schedule = new scheduler.CfnSchedule(this, 'Weekly', {
      description: 'dbbackup: the weekly report email',
      scheduleExpression: `cron(${minute} ${hour} ? * ${weekday} *)`,
      scheduleExpressionTimezone: config.timeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      // A start Scheduler could not make is retried, then dead-lettered (alarmed as BackupsNotStarted).
      target: {
        arn: this.report.functionArn,
        roleArn: role.roleArn,
        input: '{}',
        retryPolicy: START_RETRY_POLICY,
        deadLetterConfig: { arn: props.deadLetters.queue.queueArn },
      },
    });
  }
}
