import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { BackupAlerts } from './constructs/backup-alerts.js';
import { BackupBucket, replicaLocation } from './constructs/backup-bucket.js';
import { BackupHealth } from './constructs/backup-health.js';
import { BackupMonitoring } from './constructs/backup-monitoring.js';
import { BackupReports } from './constructs/backup-reports.js';
import { ConsoleWidget } from './constructs/console-widget.js';
import { BackupCluster } from './constructs/backup-tasks.js';
import { DeadLetterQueue } from './constructs/dead-letter-queue.js';
import { DatabaseGroupStack } from './database-group-stack.js';
import { planDatabaseGroups } from './plan-database-groups.js';

/** Properties of {@link DbBackupStack}. */
export interface DbBackupStackProps extends StackProps {
  readonly config: DeploymentConfig;
  /** The one container image the functions and backup tasks run. */
  readonly image: DbBackupImage;
}

/** One image (the repository's Dockerfile), as Lambda code by handler and as an ECS container image. */
export interface DbBackupImage {
  lambda(handler: string): lambda.DockerImageCode;
  container(): ecs.ContainerImage;
}

/**
 * One dbbackup deployment. Only wires the constructs; each holds its own concern and defaults.
 * What a deployment has once (bucket, alert and health functions, topic, dashboard and its console widget, Fargate cluster) is in this
 * stack; what grows with the databases is in one nested stack per database group.
 */
export class DbBackupStack extends Stack {
  readonly storage: BackupBucket;
  readonly deadLetters: DeadLetterQueue;
  readonly alerts: BackupAlerts;
  readonly cluster?: BackupCluster;
  readonly monitoring: BackupMonitoring;
  readonly health: BackupHealth;
  readonly reports: BackupReports;
  readonly console: ConsoleWidget;
  readonly groups: DatabaseGroupStack[] = [];

  constructor(scope: Construct, id: string, props: DbBackupStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { replicationRegion, ...bucket } = config.bucket;
    this.storage = new BackupBucket(this, 'Storage', {
      ...bucket,
      replicateTo: replicationRegion ? replicaLocation(this.stackName, replicationRegion, bucket.encryption) : undefined,
    });
    this.deadLetters = new DeadLetterQueue(this, 'DeadLetters');
    this.alerts = new BackupAlerts(this, 'Alerts', {
      config,
      storage: this.storage,
      code: props.image.lambda,
      deadLetters: this.deadLetters,
    });
    this.reports = new BackupReports(this, 'Reports', {
      config,
      storage: this.storage,
      configSecret: this.alerts.configSecret,
      code: props.image.lambda,
      deadLetters: this.deadLetters,
    });
    // The cluster and stopped-task rule exist only when a database uses them.
    const fargate = config.databases.some((d) => d.runner === 'fargate');
    this.cluster = fargate
      ? new BackupCluster(this, 'Tasks', { alert: this.alerts.alert, deadLetters: this.deadLetters.queue })
      : undefined;
    const containerImage = fargate ? props.image.container() : undefined;
    this.monitoring = new BackupMonitoring(this, 'Monitoring', {
      config,
      deadLetters: this.deadLetters.queue,
      replication: this.storage.replicationDestination
        ? { sourceBucket: this.storage.bucket.bucketName, destinationBucket: this.storage.replicationDestination }
        : undefined,
    });
    this.health = new BackupHealth(this, 'HealthCheck', {
      config,
      storage: this.storage,
      code: props.image.lambda,
      deadLetters: this.deadLetters,
    });
    this.console = new ConsoleWidget(this, 'Console', {
      config,
      storage: this.storage,
      dashboard: this.monitoring.dashboard,
      health: this.health.check,
      code: props.image.lambda,
    });
    new CfnOutput(this, 'BackupBucket', {
      description: 'Where the backups are: dbbackup list --target s3://<this bucket>',
      value: this.storage.bucket.bucketName,
    });
    for (const group of planDatabaseGroups(config)) {
      this.groups.push(
        new DatabaseGroupStack(this, `Group-${group.id}`, {
          config,
          group,
          storage: this.storage,
          image: props.image,
          alert: this.alerts.alert,
          topic: this.monitoring.topic,
          deadLetters: this.deadLetters,
          cluster: this.cluster,
          containerImage,
          description: `dbbackup: databases ${group.databases[0]?.name} … (group ${group.id} of ${this.stackName})`,
        }),
      );
    }
  }
}
