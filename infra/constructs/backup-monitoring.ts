import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type DatabaseConfig,
  type DeploymentConfig,
  type Tier,
  TIERS,
  taskTimeoutMinutes,
  tierSettings,
} from '../../shared/deployment/deployment-config.js';
import { maxBackupAgeHours } from '../../shared/deployment/run-health-check.js';
import {
  ALERT_FAILED_METRIC,
  HEALTH_INTERVAL_HOURS,
  HEALTH_METRICS,
  METRICS,
  metricDimensions,
  metricNamespace,
  SERVICE_NAME,
} from '../../shared/deployment/deployment-names.js';
import { acknowledgeNag } from '../acknowledge.js';
import { deploymentName } from '../deployment-name.js';
import { REPLICATION_RULE_ID } from './backup-bucket.js';
import type { BackupTasks } from './backup-tasks.js';

/** A run that takes this share of its time limit raises the "near its time limit" alarm. */
export const NEAR_TIME_LIMIT = 0.8;

/** Properties of {@link BackupMonitoring}. */
export interface BackupMonitoringProps {
  readonly config: DeploymentConfig;
  /** The replicated bucket, for the failed-replication alarm. @default no replication */
  readonly replication?: { readonly sourceBucket: string; readonly destinationBucket: string };
  /** The deployment's dead-letter queue: any message in it raises the BackupsNotStarted alarm. */
  readonly deadLetters: sqs.IQueue;
}

/**
 * What a deployment watches as a whole: the SNS topic every alarm notifies (the recipients
 * subscribe by email), the failed-replication, failed-alert and dead-letter alarms, and one
 * dashboard whose graphs find every database's metrics by search, so it stays one size whatever
 * the number of databases. Metrics are read from the deployment's own namespace (metricNamespace).
 */
export class BackupMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BackupMonitoringProps) {
    super(scope, id);
    // A key of the topic's own, which CloudWatch may use: a topic encrypted with a key whose policy
    // does not let the publishing service use it drops every alarm notification.
    const key = new kms.Key(this, 'AlarmsKey', {
      description: 'dbbackup: encrypts the alarm topic; CloudWatch may use it to publish alarms',
      enableKeyRotation: true,
    });
    const cloudwatchService = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudwatchService],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.topic = new sns.Topic(this, 'Alarms', { displayName: 'dbbackup alarms', masterKey: key, enforceSSL: true });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudwatchService],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    for (const recipient of props.config.alerts.recipients)
      this.topic.addSubscription(new subscriptions.EmailSubscription(recipient));
    acknowledgeNag(
      this.topic,
      ['Serverless::Serverless-SNSRedrivePolicy'],
      'Email subscriptions: a notification SNS could not deliver would be redriven to a queue nobody is told about; the alarm itself stays in ALARM, on the dashboard.',
    );
    const namespace = metricNamespace(deploymentName(this));
    // Named after the stack: two deployments in one account keep two dashboards.
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${Stack.of(this).stackName}-dbbackup` });

    if (props.replication) {
      const replicationFailed = alarmOnAny(this, 'ReplicationFailed', {
        alarmDescription: `Backups failed to replicate to ${props.replication.destinationBucket}`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/S3',
          metricName: 'OperationsFailedReplication',
          dimensionsMap: {
            SourceBucket: props.replication.sourceBucket,
            DestinationBucket: props.replication.destinationBucket,
            RuleId: REPLICATION_RULE_ID,
          },
          statistic: 'Sum',
          period: Duration.hours(1),
        }),
      });
      replicationFailed.addAlarmAction(new actions.SnsAction(this.topic));
      this.alarms.push(replicationFailed);
      this.dashboard.addWidgets(
        new cloudwatch.AlarmStatusWidget({ title: 'Replication', alarms: [replicationFailed], width: 24, height: 2 }),
      );
    }
    // An alert email that SES refused is the only word of a failed backup lost: this alarm says so
    // on the other channel (the topic's email subscriptions).
    const alertsFailed = alarmOnAny(this, 'AlertsFailed', {
      alarmDescription: 'dbbackup could not send an alert email (SES refused or was unreachable): read the functions’ ERROR logs',
      metric: new cloudwatch.Metric({
        namespace,
        metricName: ALERT_FAILED_METRIC,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period: Duration.hours(1),
      }),
    });
    alertsFailed.addAlarmAction(new actions.SnsAction(this.topic));
    this.alarms.push(alertsFailed);
    // Scheduler dead-letters a backup it could not start after its retries, and the alert function's
    // failed invocations land there too: each message is a backup that did not run or a failure
    // nobody was told about. The alarm stays raised until the messages are read and deleted.
    const notStarted = new cloudwatch.Alarm(this, 'BackupsNotStarted', {
      alarmDescription:
        'A scheduled backup could not be started, or a failure could not be reported: read the messages in the dead-letter queue ' +
        '(SQS console, "Send and receive messages"), start the backup by hand, then delete them',
      metric: props.deadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    notStarted.addAlarmAction(new actions.SnsAction(this.topic));
    this.alarms.push(notStarted);
    // Every database's series of one metric, found by search (a graph shows at most 500).
    const search = (metric: string, statistic: string, period: Duration) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${namespace},database,service,tier} MetricName="${metric}" service="${SERVICE_NAME}"', '${statistic}', ${period.toSeconds()})`,
        usingMetrics: {},
        period,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backups failed, by database and tier',
        left: [search(METRICS.failed, 'Sum', Duration.hours(1))],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backups succeeded, by database and tier',
        left: [search(METRICS.succeeded, 'Sum', Duration.hours(1))],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Duration (ms)',
        left: [search(METRICS.duration, 'Maximum', Duration.days(1))],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Age of the newest good backup (hours), by database and tier',
        left: [search(HEALTH_METRICS.backupAge, 'Maximum', Duration.days(1))],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Stored bytes',
        left: [search(METRICS.storedBytes, 'Maximum', Duration.days(1))],
        width: 12,
        height: 6,
      }),
    );
  }
}

/** Properties of {@link DatabaseAlarms}. */
export interface DatabaseAlarmsProps {
  /** The databases of one group. */
  readonly databases: readonly DatabaseConfig[];
  /** The topic the alarms notify. */
  readonly topic: sns.ITopic;
  /** The group's backup function, whose own errors (timeouts, crashes) and near-timeouts are alarmed on. */
  readonly backup?: lambda.Function;
  /** The group's backup tasks (Fargate runner), whose runs near their `task.timeoutMinutes` are alarmed on. */
  readonly tasks?: BackupTasks;
  /** The group's prune function, whose failures are alarmed on: an unpruned bucket grows for ever, silently. */
  readonly prune?: lambda.IFunction;
  /** A daily backup older than this raises the "no recent backup" alarm. @default 26 hours */
  readonly maxBackupAge?: Duration;
}

/**
 * The alarms of one database group: per database, no successful daily backup within 26 hours
 * (only while its daily tier is enabled), any failed backup, per enabled tier its newest good
 * backup older than the tier allows (the health check's BackupAgeHours: the way weekly and monthly
 * staleness is seen, since an alarm looks back at most 7 days), and, on the Fargate runner, a run
 * near its task's time limit; for the group, errors of its backup function itself (timeouts,
 * crashes; the alert function also counts them as the database's failures), a run near the
 * function's time limit, and errors of its prune function.
 */
export class DatabaseAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: DatabaseAlarmsProps) {
    super(scope, id);
    const notify = new actions.SnsAction(props.topic);
    const maxAge = props.maxBackupAge ?? Duration.hours(26);
    const namespace = metricNamespace(deploymentName(this));
    for (const database of props.databases) {
      // The metrics the backup runs publish (functions/measured-backup.ts), by the same names.
      const metric = (name: string, tier: Tier, statistic: string) =>
        new cloudwatch.Metric({
          namespace,
          metricName: name,
          dimensionsMap: metricDimensions({ database: database.name, tier }),
          statistic,
          period: Duration.hours(1),
        });
      if (tierSettings(database, 'daily').schedule.enabled)
        this.alarms.push(
          new cloudwatch.Alarm(this, `NoRecentBackup-${database.name}`, {
            alarmDescription: `No successful daily backup of ${database.name} within ${maxAge.toHours()} hours`,
            metric: metric(METRICS.succeeded, 'daily', 'Sum').with({ period: maxAge }),
            threshold: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          }),
        );
      for (const tier of TIERS.filter((t) => tierSettings(database, t).schedule.enabled)) {
        const limit = maxBackupAgeHours(tier);
        this.alarms.push(
          new cloudwatch.Alarm(this, `BackupTooOld-${database.name}-${tier}`, {
            alarmDescription: `The newest good ${tier} backup of ${database.name} is older than ${limit} hours, or the daily health check did not report it`,
            // The check reports once a day: a day and an hour always hold one report, so a late run is not a missing one.
            metric: metric(HEALTH_METRICS.backupAge, tier, 'Maximum').with({ period: Duration.hours(HEALTH_INTERVAL_HOURS + 1) }),
            threshold: limit,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 1,
            // A health check that stopped running (or a tier without any good backup, which reports no age) is a problem too.
            treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          }),
        );
      }
      this.alarms.push(
        alarmOnAny(this, `BackupFailed-${database.name}`, {
          alarmDescription: `A backup of ${database.name} failed`,
          metric: new cloudwatch.MathExpression({
            expression: TIERS.join(' + '),
            usingMetrics: Object.fromEntries(TIERS.map((t) => [t, metric(METRICS.failed, t, 'Sum')])),
            period: Duration.hours(1),
          }),
        }),
      );
    }
    for (const { database } of props.tasks?.tasks ?? []) {
      const limit = taskTimeoutMinutes(database);
      const byTier = (tier: Tier) =>
        new cloudwatch.Metric({
          namespace,
          metricName: METRICS.duration,
          dimensionsMap: metricDimensions({ database: database.name, tier }),
          statistic: 'Maximum',
          period: Duration.days(1),
        });
      this.alarms.push(
        alarmNearLimit(this, `NearTimeLimit-${database.name}`, {
          alarmDescription:
            `A backup of ${database.name} took ${NEAR_TIME_LIMIT * 100}% or more of its task's ${limit}-minute limit: ` +
            'raise task.timeoutMinutes (or the task’s cpu) for it before a run is stopped',
          metric: new cloudwatch.MathExpression({
            expression: `MAX([${TIERS.join(', ')}])`,
            usingMetrics: Object.fromEntries(TIERS.map((t) => [t, byTier(t)])),
            period: Duration.days(1),
          }),
          limit: Duration.minutes(limit),
        }),
      );
    }
    if (props.backup) {
      const timeout = props.backup.timeout ?? Duration.seconds(3);
      const onLambda = props.databases.filter((d) => d.runner === 'lambda');
      this.alarms.push(
        alarmNearLimit(this, 'FunctionNearTimeLimit', {
          alarmDescription:
            `A backup by the function of ${groupNames(onLambda)}`.slice(0, 700) +
            ` took ${NEAR_TIME_LIMIT * 100}% or more of its ${timeout.toMinutes()}-minute limit: ` +
            'move the slow database to the Fargate runner ("runner": "fargate") before its backups time out',
          // Lambda's own measure of each invocation, so a run the function's code never reports counts too.
          metric: props.backup.metricDuration({ statistic: 'Maximum', period: Duration.hours(1) }),
          limit: timeout,
        }),
      );
    }
    if (props.backup)
      this.alarms.push(
        alarmOnAny(this, 'FunctionErrors', {
          alarmDescription: `The backup function of ${groupNames(props.databases)}`.slice(0, 900) + ' timed out or crashed',
          metric: props.backup.metricErrors({ period: Duration.hours(1) }),
        }),
      );
    if (props.prune)
      this.alarms.push(
        alarmOnAny(this, 'PruneErrors', {
          alarmDescription:
            `The prune function of ${props.databases.map((d) => d.name).join(', ')}`.slice(0, 900) +
            ' failed or timed out: backups are not being pruned',
          metric: props.prune.metricErrors({ period: Duration.hours(1) }),
        }),
      );
    for (const alarm of this.alarms) alarm.addAlarmAction(notify);
  }
}

function groupNames(databases: readonly DatabaseConfig[]): string {
  return databases.map((d) => d.name).join(', ');
}

/** An alarm raised by a run (a duration in milliseconds) at {@link NEAR_TIME_LIMIT} of `limit` or longer. */
function alarmNearLimit(
  scope: Construct,
  id: string,
  props: { alarmDescription: string; metric: cloudwatch.IMetric; limit: Duration },
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: props.alarmDescription,
    metric: props.metric,
    threshold: Math.round(props.limit.toMilliseconds() * NEAR_TIME_LIMIT),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/** An alarm raised by any occurrence within one period of `metric` (a failure count, an error count); none is fine. */
function alarmOnAny(
  scope: Construct,
  id: string,
  props: { alarmDescription: string; metric: cloudwatch.IMetric },
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    ...props,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
