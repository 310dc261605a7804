import { Duration, Size, Stack, Tags, Validations } from 'aws-cdk-lib';
import { acknowledge, acknowledgeNag, arnInFinding } from '../acknowledge.js';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type DeploymentConfig, EFS_MOUNT_PATH } from '../../shared/deployment/deployment-config.js';
import { databaseTag, functionLogGroupName, functionName } from '../../shared/deployment/deployment-names.js';
import { backupWritePrefixes, PRE_RESTORE_PREFIX } from '../../shared/deployment/backup-prefixes.js';
import { configSecret } from '../config-secret.js';
import { deploymentName } from '../deployment-name.js';
import { grantBackupAccess } from '../grant-backup-access.js';
import type { DatabaseGroup } from '../plan-database-groups.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupFunctions}. */
export interface BackupFunctionsProps {
  readonly config: DeploymentConfig;
  /** The databases these functions serve: one network's, at most DATABASES_PER_GROUP. */
  readonly group: DatabaseGroup;
  readonly storage: BackupBucket;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Emails failed backup invocations (their on-failure destination). */
  readonly alert: lambda.IFunction;
  /** Memory of backup and restore functions; Lambda gives 2 vCPUs from 3,538 MB. @default 3584 */
  readonly memoryMiB?: number;
  /**
   * Temporary storage: a backup (and a restore's pre-restore copy) holds a SQLite snapshot; a restore streams the
   * backup and writes only pg_restore's small lists there. @default backup 2 GiB, restore 2 GiB
   */
  readonly backupEphemeralGiB?: number;
  readonly restoreEphemeralGiB?: number;
}

/**
 * The Lambda functions of one database group, from one container image: a backup function (writes
 * backups, never deletes; none when every database of the group runs on Fargate) and a restore
 * function (reads backups, writes only its pre-restore safety copy). Both serve every database of
 * the group by name, reading the group's config secret at each run; each database adds only its
 * secret to their policies. Failed backups go to the alert function, so a timeout or crash is reported.
 */
export class BackupFunctions extends Construct {
  readonly backup?: lambda.Function;
  readonly restore: lambda.Function;
  /** The config of the group's databases, which the functions (and the group's backup tasks) read. */
  readonly configSecret: secretsmanager.ISecret;
  /** The group's network (VPC, subnets, security groups; EFS for SQLite), for other functions of the group. */
  readonly network: Pick<lambda.FunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups' | 'filesystem'>;

  constructor(scope: Construct, id: string, props: BackupFunctionsProps) {
    super(scope, id);
    const { config, storage, group } = props;
    const memorySize = props.memoryMiB ?? 3584;
    const stackName = deploymentName(this);
    this.configSecret = configSecret(this, 'Config', config, group.databases);
    const network = this.functionNetwork(group);
    this.network = network;
    const environment = runtimeEnvironment(storage, this.configSecret);
    const names = group.databases.map((d) => d.name).join(', ');
    const summary = names.length > 200 ? `${group.databases.length} databases` : names;
    // Databases on the Fargate runner are backed up by a task (BackupTasks), not a function.
    this.backup = group.databases.some((d) => d.runner === 'lambda')
      ? new lambda.DockerImageFunction(this, 'Backup', {
          // A predictable name, so `dbbackup invoke backup` finds it.
          functionName: functionName(stackName, group.id, 'backup'),
          description: `dbbackup: backs up ${summary}`,
          code: props.code('dist/functions/backup.handler'),
          memorySize,
          timeout: Duration.minutes(15),
          ephemeralStorageSize: Size.gibibytes(props.backupEphemeralGiB ?? 2),
          environment,
          logGroup: this.logGroup('Backup', functionName(stackName, group.id, 'backup')),
          // A retried backup would run beside or after a slow first attempt; failures are reported instead.
          retryAttempts: 0,
          onFailure: new destinations.LambdaDestination(props.alert),
          ...network,
        })
      : undefined;
    this.restore = new lambda.DockerImageFunction(this, 'Restore', {
      functionName: functionName(stackName, group.id, 'restore'),
      description: `dbbackup: restores ${summary} (invoked by hand, with a confirmation)`,
      code: props.code('dist/functions/restore.handler'),
      memorySize,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(props.restoreEphemeralGiB ?? 2),
      environment,
      logGroup: this.logGroup('Restore', functionName(stackName, group.id, 'restore')),
      retryAttempts: 0,
      ...network,
    });
    // How `dbbackup invoke` finds the function that serves a database (findDeployedFunction).
    for (const fn of [this.backup, this.restore])
      if (fn)
        for (const db of group.databases)
          Tags.of(fn).add(databaseTag(db.name), 'served', { includeResourceTypes: ['AWS::Lambda::Function'] });
    // Every function logs to CloudWatch through the AWS managed basic execution policy.
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );
    const secrets = group.databases.flatMap((db, i) =>
      db.engine === 'postgres' ? [secretsmanager.Secret.fromSecretCompleteArn(this, `Secret${i}`, db.secretArn)] : [],
    );
    // Restore connects as a role that may create and own the database; backup as a read-only one:
    // each function may read only its own kind of secret.
    const restoreSecrets = group.databases.flatMap((db, i) =>
      db.engine === 'postgres' && db.restoreSecretArn
        ? [secretsmanager.Secret.fromSecretCompleteArn(this, `RestoreSecret${i}`, db.restoreSecretArn)]
        : [],
    );
    const functions = this.backup ? [this.backup, this.restore] : [this.restore];
    if (this.backup)
      grantBackupAccess(this.backup, this.backup, {
        storage,
        config,
        secrets,
        writePrefixes: group.databases.filter((d) => d.runner === 'lambda').flatMap(backupWritePrefixes),
      });
    grantBackupAccess(this.restore, this.restore, {
      storage,
      config,
      secrets: restoreSecrets,
      writePrefixes: [PRE_RESTORE_PREFIX],
      restorer: true,
    });
    for (const fn of functions) {
      this.configSecret.grantRead(fn);
      if (group.efs) {
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
    if (this.backup) {
      acknowledge(
        this.backup,
        [`IAM5[Resource::${arnInFinding(this, props.alert.functionArn)}:*]`],
        'Lambda destinations invoke any version of the alert function; added by LambdaDestination.',
      );
      acknowledgeNag(
        this.backup,
        ['Serverless::Serverless-LambdaDLQ'],
        'A failed scheduled invocation goes to its on-failure destination, the alert function, which emails it (a DLQ would only hold it).',
      );
    }
    acknowledgeNag(
      this.restore,
      ['Serverless::Serverless-LambdaDLQ', 'Serverless::Serverless-LambdaAsyncFailureDestination'],
      'Only ever invoked synchronously (dbbackup invoke restore, RequestResponse): the caller reads the error; a restore is never retried or queued.',
    );
    acknowledgeNag(
      this,
      ['Serverless::Serverless-LambdaTracing'],
      'One long run per invocation, logged (per-run keys) and measured (duration, bytes) already; X-Ray would add a Resource * permission and show one segment.',
    );
  }

  private functionNetwork(
    group: DatabaseGroup,
  ): Pick<lambda.FunctionProps, 'vpc' | 'vpcSubnets' | 'securityGroups' | 'filesystem'> {
    const settings = group.network ?? group.efs;
    if (!settings) return {};
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: settings.vpcId,
      availabilityZones: Stack.of(this).availabilityZones,
    });
    const subnets = settings.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet-${i}`, s));
    // The functions only place network interfaces in these subnets; their route tables are never read.
    for (const subnet of subnets)
      Validations.of(subnet).acknowledge({
        id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'route tables are not used',
      });
    // Imported as immutable: the security groups are the user's, and a rule CDK would add to them
    // (EFS access for the mount) fails the deploy when the user has already added it. The README
    // says which rules the groups need.
    const securityGroups = settings.securityGroupIds.map((g, i) =>
      ec2.SecurityGroup.fromSecurityGroupId(this, `Sg-${i}`, g, { mutable: false }),
    );
    const filesystem = group.efs
      ? lambda.FileSystem.fromEfsAccessPoint(
          efs.AccessPoint.fromAccessPointAttributes(this, 'Ap', {
            accessPointId: group.efs.accessPointId,
            fileSystem: efs.FileSystem.fromFileSystemAttributes(this, 'Fs', {
              fileSystemId: group.efs.fileSystemId,
              securityGroup: securityGroups[0] as ec2.ISecurityGroup,
            }),
          }),
          EFS_MOUNT_PATH,
        )
      : undefined;
    return { vpc, vpcSubnets: { subnets }, securityGroups, filesystem };
  }

  /** A function's log group, named after it (functionLogGroupName) so the alert function can link it. */
  private logGroup(name: string, fn: string): logs.LogGroup {
    return new logs.LogGroup(this, `Logs-${name}`, {
      logGroupName: functionLogGroupName(fn),
      retention: logs.RetentionDays.THREE_MONTHS,
    });
  }
}
