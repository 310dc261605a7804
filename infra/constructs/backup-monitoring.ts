import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type DeploymentConfig, type Tier, TIERS } from '../../shared/deployment/deployment-config.js';
import { METRIC_NAMESPACE, METRICS, metricDimensions } from '../../shared/deployment/deployment-names.js';
import { REPLICATION_RULE_ID } from './backup-bucket.js';
import type { DatabaseFunctions } from './backup-functions.js';

/** Properties of {@link BackupMonitoring}. */
export interface BackupMonitoringProps {
  readonly config: DeploymentConfig;
  readonly functions: readonly DatabaseFunctions[];
  /** Encrypts the alarm topic. @default the AWS managed SNS key */
  readonly key?: kms.IKey;
  /** The replicated bucket, for the failed-replication alarm. @default no replication */
  readonly replication?: { readonly sourceBucket: string; readonly destinationBucket: string };
  /** A daily backup older than this raises the "no recent backup" alarm. @default 26 hours */
  readonly maxBackupAge?: Duration;
}

/**
 * Alarms and a dashboard: per database, no successful daily backup within 26 hours, any failed
 * backup, and errors of the functions themselves (timeouts, crashes); alarms notify an SNS
 * topic the recipients subscribe to by email. The dashboard shows success, failures, duration
 * and stored size over time.
 */
export class BackupMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BackupMonitoringProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Alarms', { displayName: 'dbbackup alarms', masterKey: props.key, enforceSSL: true });
    for (const recipient of props.config.alerts.recipients)
      this.topic.addSubscription(new subscriptions.EmailSubscription(recipient));
    const notify = new actions.SnsAction(this.topic);
    const maxAge = props.maxBackupAge ?? Duration.hours(26);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: 'dbbackup' });

    if (props.replication) {
      const replicationFailed = new cloudwatch.Alarm(this, 'ReplicationFailed', {
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
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      replicationFailed.addAlarmAction(notify);
      this.alarms.push(replicationFailed);
      this.dashboard.addWidgets(
        new cloudwatch.AlarmStatusWidget({ title: 'Replication', alarms: [replicationFailed], width: 24, height: 2 }),
      );
    }

    for (const { database, backup } of props.functions) {
      // The metrics the backup runs publish (functions/measured-backup.ts), by the same names.
      const metric = (name: string, tier: Tier, statistic: string) =>
        new cloudwatch.Metric({
          namespace: METRIC_NAMESPACE,
          metricName: name,
          dimensionsMap: metricDimensions({ database: database.name, tier }),
          statistic,
          period: Duration.hours(1),
        });
      const stale = new cloudwatch.Alarm(this, `NoRecentBackup-${database.name}`, {
        alarmDescription: `No successful daily backup of ${database.name} within ${maxAge.toHours()} hours`,
        metric: metric(METRICS.succeeded, 'daily', 'Sum').with({ period: maxAge }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      const failed = new cloudwatch.Alarm(this, `BackupFailed-${database.name}`, {
        alarmDescription: `A backup of ${database.name} failed`,
        metric: new cloudwatch.MathExpression({
          expression: TIERS.join(' + '),
          usingMetrics: Object.fromEntries(TIERS.map((t) => [t, metric(METRICS.failed, t, 'Sum')])),
          period: Duration.hours(1),
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      // A Fargate task that crashes is counted in BackupFailed by the alert function instead.
      const crashed =
        backup &&
        new cloudwatch.Alarm(this, `FunctionErrors-${database.name}`, {
          alarmDescription: `The backup function of ${database.name} timed out or crashed`,
          metric: backup.metricErrors({ period: Duration.hours(1) }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      const alarms = crashed ? [stale, failed, crashed] : [stale, failed];
      for (const alarm of alarms) {
        alarm.addAlarmAction(notify);
        this.alarms.push(alarm);
      }
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({ markdown: `## ${database.name}`, width: 24, height: 1 }),
        new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 6, height: 6 }),
        new cloudwatch.GraphWidget({
          title: 'Backups succeeded / failed',
          left: TIERS.flatMap((t) => [metric(METRICS.succeeded, t, 'Sum'), metric(METRICS.failed, t, 'Sum')]),
          width: 6,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Duration (ms)',
          left: TIERS.map((t) => metric(METRICS.duration, t, 'Maximum').with({ period: Duration.days(1) })),
          width: 6,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Stored bytes',
          left: TIERS.map((t) => metric(METRICS.storedBytes, t, 'Maximum').with({ period: Duration.days(1) })),
          width: 6,
          height: 6,
        }),
      );
    }
  }
}
