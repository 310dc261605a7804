import { Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type DatabaseConfig, type DeploymentConfig, EFS_MOUNT_PATH } from '../../shared/deployment/deployment-config.js';
import { functionName } from '../../shared/deployment/deployment-names.js';
import { allowSendingAlerts, grantBackupAccess } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupFunctions}. */
export interface BackupFunctionsProps {
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Memory of backup and restore functions; Lambda gives 2 vCPUs from 3,538 MB. @default 3584 */
  readonly memoryMiB?: number;
  /**
   * Temporary storage: a backup (and a restore's pre-restore copy) holds a SQLite snapshot; a restore streams the
   * backup and writes only pg_restore's small lists there. @default backup 2 GiB, restore 2 GiB
   */
  readonly backupEphemeralGiB?: number;
  readonly restoreEphemeralGiB?: number;
}

/** The functions of one database. */
export interface DatabaseFunctions {
  readonly database: DatabaseConfig;
  /** The backup function; none when the database runs on the Fargate runner. */
  readonly backup?: lambda.Function;
  readonly restore: lambda.Function;
}

/**
 * The Lambda functions, all from one container image: per database a backup function (writes
 * backups, never deletes) and a restore function (reads backups, writes only its pre-restore
 * safety copy), plus one alert function that emails failed invocations (their on-failure
 * destination, so a timeout or crash is reported too).
 */
export class BackupFunctions extends Construct {
  readonly databases: DatabaseFunctions[] = [];
  readonly alert: lambda.Function;

  constructor(scope: Construct, id: string, props: BackupFunctionsProps) {
    super(scope, id);
    const { config, storage } = props;
    const memorySize = props.memoryMiB ?? 3584;

    this.alert = new lambda.DockerImageFunction(this, 'Alert', {
      description: 'dbbackup: emails backup runs that timed out or crashed',
      code: props.code('dist/functions/alert.handler'),
      memorySize: 512,
      timeout: Duration.seconds(60),
      environment: runtimeEnvironment(config, storage, undefined),
      logGroup: this.logGroup('Alert'),
    });
    allowSendingAlerts(this.alert, config, Stack.of(this));
    // Every function logs to CloudWatch through the AWS managed basic execution policy.
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );

    for (const db of config.databases) {
      const network = this.network(db);
      const environment = runtimeEnvironment(config, storage, db);
      // A database on the Fargate runner is backed up by a task (BackupTasks), not a function.
      const backup =
        db.runner === 'lambda'
          ? new lambda.DockerImageFunction(this, `Backup-${db.name}`, {
              // A predictable name, so `dbbackup invoke backup --stack S --database D` finds it.
              functionName: functionName(Stack.of(this).stackName, db.name, 'backup'),
              description: `dbbackup: backs up ${db.name}`,
              code: props.code('dist/functions/backup.handler'),
              memorySize,
              timeout: Duration.minutes(15),
              ephemeralStorageSize: Size.gibibytes(props.backupEphemeralGiB ?? 2),
              environment,
              logGroup: this.logGroup(`Backup-${db.name}`),
              // A retried backup would run beside or after a slow first attempt; failures are reported instead.
              retryAttempts: 0,
              onFailure: new destinations.LambdaDestination(this.alert),
              ...network,
            })
          : undefined;
      const restore = new lambda.DockerImageFunction(this, `Restore-${db.name}`, {
        functionName: functionName(Stack.of(this).stackName, db.name, 'restore'),
        description: `dbbackup: restores ${db.name} (invoked by hand, with a confirmation)`,
        code: props.code('dist/functions/restore.handler'),
        memorySize,
        timeout: Duration.minutes(15),
        ephemeralStorageSize: Size.gibibytes(props.restoreEphemeralGiB ?? 2),
        environment,
        logGroup: this.logGroup(`Restore-${db.name}`),
        retryAttempts: 0,
        ...network,
      });
      const functions = backup ? [backup, restore] : [restore];
      const secret =
        db.engine === 'postgres'
          ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${db.name}`, db.secretArn)
          : undefined;
      for (const fn of functions) {
        grantBackupAccess(fn, fn, { storage, config, secret });
        if (db.engine === 'sqlite') {
          acknowledge(
            fn,
            ['IAM5[Resource::*]'],
            'EFS client access added by FileSystem.fromEfsAccessPoint: Resource * with a condition naming the one access point.',
          );
        }
        if (network.vpc) {
          acknowledge(
            fn,
            ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]'],
            "AWS's managed policy for the network interfaces a function in a VPC needs; it grants nothing else.",
          );
        }
      }
      if (backup)
        acknowledge(
          backup,
          [`IAM5[Resource::${arnInFinding(this, this.alert.functionArn)}:*]`],
          'Lambda destinations invoke any version of the alert function; added by LambdaDestination.',
        );
      this.databases.push({ database: db, backup, restore });
    }
  }

  private network(db: DatabaseConfig): Pick<lambda.FunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups' | 'filesystem'> {
    const settings = db.engine === 'postgres' ? db.vpc : db.efs;
    if (!settings) return {};
    const vpc = ec2.Vpc.fromVpcAttributes(this, `Vpc-${db.name}`, {
      vpcId: settings.vpcId,
      availabilityZones: Stack.of(this).availabilityZones,
    });
    const subnets = settings.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet-${db.name}-${i}`, s));
    // The functions only place network interfaces in these subnets; their route tables are never read.
    for (const subnet of subnets)
      Validations.of(subnet).acknowledge({
        id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'route tables are not used',
      });
    const securityGroups = settings.securityGroupIds.map((g, i) =>
      ec2.SecurityGroup.fromSecurityGroupId(this, `Sg-${db.name}-${i}`, g),
    );
    const filesystem =
      db.engine === 'sqlite'
        ? lambda.FileSystem.fromEfsAccessPoint(
            efs.AccessPoint.fromAccessPointAttributes(this, `Ap-${db.name}`, {
              accessPointId: db.efs.accessPointId,
              fileSystem: efs.FileSystem.fromFileSystemAttributes(this, `Fs-${db.name}`, {
                fileSystemId: db.efs.fileSystemId,
                securityGroup: securityGroups[0] as ec2.ISecurityGroup,
              }),
            }),
            EFS_MOUNT_PATH,
          )
        : undefined;
    return { vpc, vpcSubnets: { subnets }, securityGroups, filesystem };
  }

  private logGroup(name: string): logs.LogGroup {
    return new logs.LogGroup(this, `Logs-${name}`, { retention: logs.RetentionDays.THREE_MONTHS });
  }
}
