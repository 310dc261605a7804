import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BACKUP_CONTAINER, TASK_EVENT_VARIABLE, TASK_LOG_PREFIX } from '../../shared/deployment/backup-task.js';
import {
  type DatabaseConfig,
  type DeploymentConfig,
  EFS_MOUNT_PATH,
  taskSize,
} from '../../shared/deployment/deployment-config.js';
import { ENVIRONMENT } from '../../shared/deployment/deployment-names.js';
import { acknowledge } from '../acknowledge.js';
import { grantBackupAccess } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupTasks}. */
export interface BackupTasksProps {
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The container image the functions run (the repository's Dockerfile). */
  readonly image: ecs.ContainerImage;
  /** Emails stopped tasks that did not report their own failure. */
  readonly alert: lambda.Function;
}

/** The backup task of one database on the Fargate runner. */
export interface DatabaseTask {
  readonly database: DatabaseConfig;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  readonly logGroup: logs.LogGroup;
}

/**
 * The Fargate runner, for databases a 15-minute Lambda cannot dump: one ECS cluster (no servers;
 * Container Insights on) and per such database a task definition running the functions' image
 * with `node dist/functions/backup-task.js`, its size from the config (default 2 vCPU, 4 GiB).
 * The task role may write backups but not delete them, like the backup function's. Stopped tasks
 * go to the alert function by an EventBridge rule, so a killed or never-started task is emailed.
 */
export class BackupTasks extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly tasks: DatabaseTask[] = [];

  constructor(scope: Construct, id: string, props: BackupTasksProps) {
    super(scope, id);
    const { config, storage } = props;
    const stack = Stack.of(this);
    this.cluster = new ecs.CfnCluster(this, 'Cluster', {
      clusterSettings: [{ name: 'containerInsights', value: 'enabled' }],
    });

    const logGroups: Record<string, string> = {};
    for (const db of config.databases.filter((d) => d.runner === 'fargate')) {
      const network = db.engine === 'postgres' ? db.vpc : db.efs;
      // The config schema refuses a Fargate database without a network; this keeps the types honest.
      if (!network) throw new Error(`database ${db.name}: runner "fargate" needs "vpc"`);
      const size = taskSize(db);
      const taskDefinition = new ecs.FargateTaskDefinition(this, `Task-${db.name}`, {
        family: `${stack.stackName}-${db.name}-backup`,
        cpu: size.cpu,
        memoryLimitMiB: size.memoryMiB,
        ephemeralStorageGiB: size.ephemeralStorageGiB,
        // The image is built for x86_64, like the functions (see Dockerfile).
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
      });
      const logGroup = new logs.LogGroup(this, `Logs-${db.name}`, { retention: logs.RetentionDays.THREE_MONTHS });
      logGroups[db.name] = logGroup.logGroupName;
      const container = taskDefinition.addContainer(BACKUP_CONTAINER, {
        image: props.image,
        // The image's own entry point is the Lambda runtime's; a task runs the backup directly.
        entryPoint: ['/var/lang/bin/node'],
        command: ['/var/task/dist/functions/backup-task.js'],
        environment: {
          ...runtimeEnvironment(config, storage, db),
          // Lambda sets this; a task gets it from its definition (the SDK reads no other variable).
          AWS_REGION: stack.region,
          // Run by hand without an override ("Run new task" in the console): a daily backup.
          [TASK_EVENT_VARIABLE]: JSON.stringify({ database: db.name, tier: 'daily' }),
        },
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: TASK_LOG_PREFIX, logGroup }),
      });

      grantBackupAccess(taskDefinition.taskRole, taskDefinition, {
        storage,
        config,
        secret:
          db.engine === 'postgres'
            ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${db.name}`, db.secretArn)
            : undefined,
      });
      if (db.engine === 'sqlite') this.mountEfs(taskDefinition, container, db);
      acknowledge(
        taskDefinition,
        ['ECS2'],
        'The environment holds the deployment config and bucket name, no secret: credentials are read from Secrets Manager at run time.',
      );
      acknowledge(
        taskDefinition,
        ['IAM5[Resource::*]'],
        'The execution role added by FargateTaskDefinition: ecr:GetAuthorizationToken has no resource to scope to.',
      );
      // A backup by hand, as the schedule starts it; the console's "Run new task" works too.
      new CfnOutput(this, `RunBackupTask-${db.name}`, {
        key: `RunBackupTask${db.name.replace(/[^A-Za-z0-9]/g, '')}`,
        description: `Starts a daily backup of ${db.name} now (the Fargate runner)`,
        value: [
          `aws ecs run-task --cluster ${this.cluster.ref} --task-definition ${taskDefinition.family}`,
          '--launch-type FARGATE --network-configuration',
          `'awsvpcConfiguration={subnets=[${network.subnetIds.join(',')}],securityGroups=[${network.securityGroupIds.join(',')}],assignPublicIp=DISABLED}'`,
        ].join(' '),
      });
      this.tasks.push({
        database: db,
        taskDefinition,
        subnetIds: network.subnetIds,
        securityGroupIds: network.securityGroupIds,
        logGroup,
      });
    }

    // Every stopped backup task: the alert function emails those that did not report their own failure.
    new events.Rule(this, 'StoppedTasks', {
      description: 'dbbackup: stopped backup tasks, for the alert function',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [this.cluster.attrArn], lastStatus: ['STOPPED'] },
      },
      targets: [new targets.LambdaFunction(props.alert, { retryAttempts: 2 })],
    });
    props.alert.addEnvironment(ENVIRONMENT.taskLogGroups, stack.toJsonString(logGroups));
  }

  /** Lets `grantee` (the scheduler) start the backup tasks, in this cluster only, handing them their roles. */
  grantRun(grantee: iam.IGrantable): void {
    for (const { taskDefinition } of this.tasks) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['ecs:RunTask'],
          resources: [taskDefinition.taskDefinitionArn],
          conditions: { ArnEquals: { 'ecs:cluster': this.cluster.attrArn } },
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
