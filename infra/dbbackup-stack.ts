import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { BackupBucket, replicaLocation } from './constructs/backup-bucket.js';
import { BackupFunctions } from './constructs/backup-functions.js';
import { BackupMonitoring } from './constructs/backup-monitoring.js';
import { BackupSchedules } from './constructs/backup-schedules.js';
import { BackupTasks } from './constructs/backup-tasks.js';

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

/** One dbbackup deployment. Only wires the constructs; each holds its own concern and defaults. */
export class DbBackupStack extends Stack {
  readonly storage: BackupBucket;
  readonly functions: BackupFunctions;
  readonly tasks?: BackupTasks;
  readonly schedules: BackupSchedules;
  readonly monitoring: BackupMonitoring;

  constructor(scope: Construct, id: string, props: DbBackupStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { replicationRegion, ...bucket } = config.bucket;
    this.storage = new BackupBucket(this, 'Storage', {
      ...bucket,
      replicateTo: replicationRegion ? replicaLocation(this.stackName, replicationRegion, bucket.encryption) : undefined,
    });
    this.functions = new BackupFunctions(this, 'Functions', { config, storage: this.storage, code: props.image.lambda });
    // The cluster, task definitions and stopped-task rule exist only when a database uses them.
    this.tasks = config.databases.some((d) => d.runner === 'fargate')
      ? new BackupTasks(this, 'Tasks', {
          config,
          storage: this.storage,
          image: props.image.container(),
          alert: this.functions.alert,
        })
      : undefined;
    this.schedules = new BackupSchedules(this, 'Schedules', { config, functions: this.functions.databases, tasks: this.tasks });
    this.monitoring = new BackupMonitoring(this, 'Monitoring', {
      config,
      functions: this.functions.databases,
      key: this.storage.key,
      replication: this.storage.replicationDestination
        ? { sourceBucket: this.storage.bucket.bucketName, destinationBucket: this.storage.replicationDestination }
        : undefined,
    });
  }
}
