import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BACKUP_CONTAINER, TASK_EVENT_VARIABLE, TASK_LOG_PREFIX } from '../../shared/deployment/backup-task.js';
import {
  type DatabaseConfig,
  type DeploymentConfig,
  EFS_MOUNT_PATH,
  taskSize,
} from '../../shared/deployment/deployment-config.js';
import { backupWritePrefixes } from '../../shared/deployment/backup-prefixes.js';
import { ENVIRONMENT } from '../../shared/deployment/deployment-names.js';
import { acknowledge } from '../acknowledge.js';
import { deploymentName } from '../deployment-name.js';
import { grantBackupAccess } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupCluster}. */
export interface BackupClusterProps {
  /** Emails stopped tasks that did not report their own failure. */
  readonly alert: lambda.Function;
  /** Where a stopped task's event goes when the alert function could not be invoked (alarmed on). */
  readonly deadLetters: sqs.IQueue;
}

/**
 * What the Fargate runner's tasks share: one ECS cluster (no servers; Container Insights on), one
 * log group (each task logs to its own stream, named by its task ID), and the EventBridge rule that
 * sends every stopped backup task to the alert function, so a killed or never-started task is emailed.
 */
export class BackupCluster extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BackupClusterProps) {
    super(scope, id);
    this.cluster = new ecs.CfnCluster(this, 'Cluster', {
      clusterSettings: [{ name: 'containerInsights', value: 'enabled' }],
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS });
    new events.Rule(this, 'StoppedTasks', {
      description: 'dbbackup: stopped backup tasks, for the alert function',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [this.cluster.attrArn], lastStatus: ['STOPPED'] },
      },
      targets: [new targets.LambdaFunction(props.alert, { retryAttempts: 2, deadLetterQueue: props.deadLetters })],
    });
    props.alert.addEnvironment(ENVIRONMENT.taskLogGroup, this.logGroup.logGroupName);
  }
}

/** Properties of {@link BackupTasks}. */
export interface BackupTasksProps {
  readonly config: DeploymentConfig;
  /** The group's databases on the Fargate runner. */
  readonly databases: readonly DatabaseConfig[];
  readonly storage: BackupBucket;
  /** The group's config, which the task reads as the functions do. */
  readonly configSecret: secretsmanager.ISecret;
  /** The container image the functions run (the repository's Dockerfile). */
  readonly image: ecs.ContainerImage;
  readonly cluster: BackupCluster;
}

/** The backup task of one database on the Fargate runner. */
export interface DatabaseTask {
  readonly database: DatabaseConfig;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/**
 * The Fargate runner of one database group, for databases a 15-minute Lambda cannot dump: per such
 * database a task definition running the functions' image with `node dist/functions/backup-task.js`,
 * its size from the config (default 2 vCPU, 4 GiB). The task role may write backups but not delete
 * them, like the backup function's.
 */
export class BackupTasks extends Construct {
  readonly cluster: BackupCluster;
  readonly tasks: DatabaseTask[] = [];

  constructor(scope: Construct, id: string, props: BackupTasksProps) {
    super(scope, id);
    const { config, storage } = props;
    const stack = Stack.of(this);
    this.cluster = props.cluster;

    for (const db of props.databases) {
      const network = db.engine === 'postgres' ? db.vpc : db.efs;
      // The config schema refuses a Fargate database without a network; this keeps the types honest.
      if (!network) throw new Error(`database ${db.name}: runner "fargate" needs "vpc"`);
      const size = taskSize(db);
      const taskDefinition = new ecs.FargateTaskDefinition(this, `Task-${db.name}`, {
        family: `${deploymentName(this)}-${db.name}-backup`.slice(0, 255),
        cpu: size.cpu,
        memoryLimitMiB: size.memoryMiB,
        ephemeralStorageGiB: size.ephemeralStorageGiB,
        // The image is built for x86_64, like the functions (see Dockerfile).
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
      });
      const container = taskDefinition.addContainer(BACKUP_CONTAINER, {
        image: props.image,
        // The image's own entry point is the Lambda runtime's; a task runs the backup directly.
        entryPoint: ['/var/lang/bin/node'],
        command: ['/var/task/dist/functions/backup-task.js'],
        environment: {
          ...runtimeEnvironment(storage, props.configSecret),
          // Lambda sets this; a task gets it from its definition (the SDK reads no other variable).
          AWS_REGION: stack.region,
          // Run by hand without an override ("Run new task" in the console): a daily backup.
          [TASK_EVENT_VARIABLE]: JSON.stringify({ database: db.name, tier: 'daily' }),
        },
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: TASK_LOG_PREFIX, logGroup: props.cluster.logGroup }),
      });

      grantBackupAccess(taskDefinition.taskRole, taskDefinition, {
        storage,
        config,
        secrets:
          db.engine === 'postgres' ? [secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${db.name}`, db.secretArn)] : [],
        writePrefixes: backupWritePrefixes(db),
      });
      props.configSecret.grantRead(taskDefinition.taskRole);
      if (db.engine === 'sqlite') this.mountEfs(taskDefinition, container, db);
      acknowledge(
        taskDefinition,
        ['ECS2'],
        'The environment holds where the config is, the bucket and its key, no secret: credentials are read from Secrets Manager at run time.',
      );
      acknowledge(
        taskDefinition,
        ['IAM5[Resource::*]'],
        'The execution role added by FargateTaskDefinition: ecr:GetAuthorizationToken has no resource to scope to.',
      );
      // A backup by hand, as the schedule starts it (an output of the group's nested stack).
      new CfnOutput(this, `RunBackupTask-${db.name}`, {
        key: `RunBackupTask${db.name.replace(/[^A-Za-z0-9]/g, '')}`,
        description: `Starts a daily backup of ${db.name} now (the Fargate runner)`,
        value: [
          `aws ecs run-task --cluster ${props.cluster.cluster.ref} --task-definition ${taskDefinition.family}`,
          '--launch-type FARGATE --network-configuration',
          `'awsvpcConfiguration={subnets=[${network.subnetIds.join(',')}],securityGroups=[${network.securityGroupIds.join(',')}],assignPublicIp=DISABLED}'`,
        ].join(' '),
      });
      this.tasks.push({
        database: db,
        taskDefinition,
        subnetIds: network.subnetIds,
        securityGroupIds: network.securityGroupIds,
      });
    }
  }

  /** Lets `grantee` (the scheduler) start the backup tasks, in this cluster only, handing them their roles. */
  grantRun(grantee: iam.IGrantable): void {
    const cluster = this.cluster.cluster;
    for (const { taskDefinition } of this.tasks) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['ecs:RunTask'],
          resources: [taskDefinition.taskDefinitionArn],
          conditions: { ArnEquals: { 'ecs:cluster': cluster.attrArn } },
        }),
      );
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [taskDefinition.taskRole.roleArn, taskDefinition.obtainExecutionRole().roleArn],
        }),
      );
    }
  }

  /** Mounts the database's EFS access point where the backup looks for it, over TLS, with IAM. */
  private mountEfs(taskDefinition: ecs.FargateTaskDefinition, container: ecs.ContainerDefinition, db: DatabaseConfig): void {
    if (db.engine !== 'sqlite') return;
    taskDefinition.addVolume({
      name: 'data',
      efsVolumeConfiguration: {
        fileSystemId: db.efs.fileSystemId,
        transitEncryption: 'ENABLED',
        authorizationConfig: { accessPointId: db.efs.accessPointId, iam: 'ENABLED' },
      },
    });
    container.addMountPoints({ sourceVolume: 'data', containerPath: EFS_MOUNT_PATH, readOnly: false });
    const stack = Stack.of(this);
    taskDefinition.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // Write: the backup's lock file beside the database keeps two runs from overlapping.
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [
          stack.formatArn({ service: 'elasticfilesystem', resource: 'file-system', resourceName: db.efs.fileSystemId }),
        ],
        conditions: {
          StringEquals: {
            'elasticfilesystem:AccessPointArn': stack.formatArn({
              service: 'elasticfilesystem',
              resource: 'access-point',
              resourceName: db.efs.accessPointId,
            }),
          },
        },
      }),
    );
  }
}
