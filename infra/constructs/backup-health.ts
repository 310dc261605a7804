import { START_RETRY_POLICY } from './backup-schedules.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import { Duration, RemovalPolicy, SecretValue, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type DeploymentConfig, healthConfigOf } from '../../shared/deployment/deployment-config.js';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import { allowSendingAlerts, grantReadingBackups } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link BackupHealth}. */
export interface BackupHealthProps {
  /** Where a schedule's event goes when the function could not be started. */
  readonly deadLetters: DeadLetterQueue;
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Memory: decompression and pg_restore's read of a backup use up to 2 vCPUs (3,538 MB and more). @default 3584 */
  readonly memoryMiB?: number;
  /** Temporary storage: a SQLite backup is re-read into a file there, as large as the database. @default 2 GiB */
  readonly ephemeralGiB?: number;
}

/**
 * The deployment's one health check: a function that checks every database's backups in the
 * bucket (age per enabled tier, a re-read of the newest, anomalies; functions/health.ts), run once
 * a day by EventBridge Scheduler at `health.hour`:`health.minute` in the deployment's time zone.
 * It may only read the bucket (and its key), read its own config secret and send alerts; it needs
 * no network of the databases'. Its age metrics are alarmed on per database, in each group's
 * DatabaseAlarms.
 */
export class BackupHealth extends Construct {
  readonly check: lambda.Function;
  readonly schedule: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: BackupHealthProps) {
    super(scope, id);
    const { config, storage } = props;
    // Names and schedules only: a whole config of every database would outgrow a secret's 64 KB.
    const secret = new secretsmanager.Secret(this, 'Config', {
      description: `dbbackup: the health check's config (database names and schedules) of ${Stack.of(this).stackName}`,
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify(healthConfigOf(config))),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(secret, ['SMG4'], 'Not a credential but the deployment config; it changes with each deploy, never by rotation.');
    this.check = new lambda.DockerImageFunction(this, 'Check', {
      description: 'dbbackup: daily health check of every database’s backups',
      code: props.code('dist/functions/health.handler'),
      memorySize: props.memoryMiB ?? 3584,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(props.ephemeralGiB ?? 2),
      environment: runtimeEnvironment(storage, secret),
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS }),
      // A scheduled run Lambda could not complete lands in the deployment's dead-letter queue (alarmed on).
      deadLetterQueue: props.deadLetters.queue,
      // A second run the same day tells nothing new; a failure shows as missing metrics, which the age alarms breach on.
      retryAttempts: 0,
    });
    secret.grantRead(this.check);
    props.deadLetters.receiveFailuresOf(this.check);
    grantReadingBackups(
      this.check,
      this,
      storage,
      'Backups are objects read by name (Bucket.grantRead: bucket/*), never written.',
    );
    allowSendingAlerts(this.check, config, Stack.of(this));

    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'dbbackup: lets EventBridge Scheduler start the daily health check',
    });
    this.check.grantInvoke(role);
    props.deadLetters.grantSend(role);
    const { hour, minute } = config.health;
    this.schedule = new scheduler.CfnSchedule(this, 'Daily', {
      description: 'dbbackup: daily health check of every database’s backups',
      scheduleExpression: `cron(${minute} ${hour} * * ? *)`,
      scheduleExpressionTimezone: config.timeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      // A start Scheduler could not make is retried, then dead-lettered (alarmed as BackupsNotStarted).
      target: {
        arn: this.check.functionArn,
        roleArn: role.roleArn,
        input: '{}',
        retryPolicy: START_RETRY_POLICY,
        deadLetterConfig: { arn: props.deadLetters.queue.queueArn },
      },
    });

    acknowledge(
      this,
      [
        'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        `IAM5[Resource::${arnInFinding(this, this.check.functionArn)}:*]`,
      ],
      "AWS's managed policy that only lets a function write its own logs; Function.grantInvoke covers the function and its versions.",
    );
  }
}
