import { NestedStack, type NestedStackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { type DeploymentConfig, drillSettings } from '../shared/deployment/deployment-config.js';
import type { BackupBucket } from './constructs/backup-bucket.js';
import { BackupFunctions } from './constructs/backup-functions.js';
import { DatabaseAlarms } from './constructs/backup-monitoring.js';
import { BackupPrune } from './constructs/backup-prune.js';
import { BackupSchedules } from './constructs/backup-schedules.js';
import { RestoreDrills } from './constructs/restore-drills.js';
import { type BackupCluster, BackupTasks } from './constructs/backup-tasks.js';
import type { DeadLetterQueue } from './constructs/dead-letter-queue.js';
import type { DbBackupImage } from './dbbackup-stack.js';
import type { DatabaseGroup } from './plan-database-groups.js';

/** Properties of {@link DatabaseGroupStack}. */
export interface DatabaseGroupStackProps extends NestedStackProps {
  readonly config: DeploymentConfig;
  readonly group: DatabaseGroup;
  readonly storage: BackupBucket;
  readonly image: DbBackupImage;
  readonly alert: lambda.IFunction;
  readonly topic: sns.ITopic;
  /** The deployment's dead-letter queue, for schedules whose backup could not be started. */
  readonly deadLetters: DeadLetterQueue;
  /** The Fargate runner's shared cluster, when any database uses it. */
  readonly cluster?: BackupCluster;
  readonly containerImage?: ecs.ContainerImage;
}

/**
 * One database group (see planDatabaseGroups) as a nested stack: its backup, restore and prune
 * functions, config secret, backup tasks, schedules and alarms. Each group stays far within
 * CloudFormation's 500 resources a stack, however many groups a deployment has.
 */
export class DatabaseGroupStack extends NestedStack {
  readonly functions: BackupFunctions;
  readonly tasks?: BackupTasks;
  readonly prune: BackupPrune;
  readonly schedules: BackupSchedules;
  readonly alarms: DatabaseAlarms;
  /** The group's restore drills, when any of its databases has one. */
  readonly drills?: RestoreDrills;

  constructor(scope: Construct, id: string, props: DatabaseGroupStackProps) {
    super(scope, id, props);
    const { config, group, storage } = props;
    this.functions = new BackupFunctions(this, 'Functions', {
      config,
      group,
      storage,
      code: props.image.lambda,
      alert: props.alert,
    });
    const onFargate = group.databases.filter((d) => d.runner === 'fargate');
    this.tasks =
      onFargate.length > 0 && props.cluster && props.containerImage
        ? new BackupTasks(this, 'Tasks', {
            config,
            databases: onFargate,
            storage,
            configSecret: this.functions.configSecret,
            image: props.containerImage,
            cluster: props.cluster,
          })
        : undefined;
    this.prune = new BackupPrune(this, 'Prune', {
      config,
      group,
      storage,
      configSecret: this.functions.configSecret,
      code: props.image.lambda,
      deadLetters: props.deadLetters,
    });
    this.schedules = new BackupSchedules(this, 'Schedules', {
      config,
      databases: group.databases,
      backup: this.functions.backup,
      tasks: this.tasks,
      prune: this.prune.function,
      deadLetters: props.deadLetters,
    });
    this.alarms = new DatabaseAlarms(this, 'Alarms', {
      databases: group.databases,
      topic: props.topic,
      backup: this.functions.backup,
      prune: this.prune.function,
      tasks: this.tasks,
    });
    const drilled = group.databases.filter((d) => drillSettings(d).enabled);
    if (drilled.length > 0) {
      // The group's network without its EFS: a drill reads backups from S3, never the database file.
      const { vpc, vpcSubnets, securityGroups } = this.functions.network;
      this.drills = new RestoreDrills(this, 'Drills', {
        config,
        groupId: group.id,
        databases: drilled,
        storage,
        code: props.image.lambda,
        configSecret: this.functions.configSecret,
        network: { vpc, vpcSubnets, securityGroups },
        topic: props.topic,
      });
    }
  }
}
