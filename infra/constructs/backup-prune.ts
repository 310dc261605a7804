import type { DeadLetterQueue } from './dead-letter-queue.js';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { prunableFolders, prunePrefixes } from '../../shared/deployment/backup-prefixes.js';
import type { DeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { functionName } from '../../shared/deployment/deployment-names.js';
import { grantReadingBackups } from '../grant-backup-access.js';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import { deploymentName } from '../deployment-name.js';
import type { DatabaseGroup } from '../plan-database-groups.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupPrune}. */
export interface BackupPruneProps {
  readonly config: DeploymentConfig;
  /** The databases it prunes: one group's. */
  readonly group: DatabaseGroup;
  readonly storage: BackupBucket;
  /** The group's config secret, whose `retention` drives the prune. */
  readonly configSecret: secretsmanager.ISecret;
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Where a scheduled prune Lambda could not complete goes. */
  readonly deadLetters: DeadLetterQueue;
  /** Memory of the prune function: it lists, reads manifests and deletes, nothing more. @default 512 */
  readonly memoryMiB?: number;
}

/**
 * The prune function of one database group: deletes what the config's retention no longer keeps.
 * Its role is the only one of the deployment that may delete, and only under its databases'
 * backup, pre-restore and run-record prefixes; the bucket policy holds it there and forbids it to
 * write, delete versions (a prune leaves noncurrent versions, the way back from a wrong one), or
 * touch Object Lock. It needs no network of the databases: it talks to S3 only.
 */
export class BackupPrune extends Construct {
  readonly function: lambda.DockerImageFunction;

  constructor(scope: Construct, id: string, props: BackupPruneProps) {
    super(scope, id);
    const { storage, group } = props;
    const prefixes = group.databases.flatMap(prunePrefixes);
    this.function = new lambda.DockerImageFunction(this, 'Function', {
      functionName: functionName(deploymentName(this), group.id, 'prune'),
      description: `dbbackup: prunes ${group.databases.length} database(s) by their retention`,
      code: props.code('dist/functions/prune.handler'),
      memorySize: props.memoryMiB ?? 512,
      timeout: Duration.minutes(15),
      environment: runtimeEnvironment(storage, props.configSecret),
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS }),
      // A scheduled run Lambda could not complete lands in the deployment's dead-letter queue (alarmed on).
      deadLetterQueue: props.deadLetters.queue,
      // A prune left halfway is finished by the next one; a retry would only race the first.
      retryAttempts: 0,
    });
    props.deadLetters.receiveFailuresOf(this.function);
    grantReadingBackups(
      this.function,
      this.function,
      storage,
      'Prune reads every manifest of its databases (Bucket.grantRead: bucket/*) and deletes only under their prefixes, which the bucket policy enforces.',
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: prefixes.map((prefix) => storage.bucket.arnForObjects(`${prefix}*`)),
      }),
    );
    props.configSecret.grantRead(this.function);
    storage.addPruner(this.function.role as iam.IRole, prunableFolders());
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );
    acknowledge(
      this.function,
      prefixes.map((prefix) => `IAM5[Resource::${arnInFinding(this, storage.bucket.bucketArn)}/${prefix}*]`),
      'Prune reads every manifest of its databases (Bucket.grantRead: bucket/*) and deletes only under their prefixes, which the bucket policy enforces.',
    );
  }
}
