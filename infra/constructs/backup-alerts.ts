import { Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { acknowledge, acknowledgeNag } from '../acknowledge.js';
import { configSecret } from '../config-secret.js';
import { allowSendingAlerts, grantReadingBackups } from '../grant-backup-access.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';

/** Properties of {@link BackupAlerts}. */
export interface BackupAlertsProps {
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Where an alert that failed every attempt goes (alarmed on), so a failure's only report is not lost. */
  readonly deadLetters: DeadLetterQueue;
}

/**
 * The one alert function of a deployment: emails backup runs that could not report their own
 * failure (a function that timed out or crashed, a task that was killed). It reads the
 * deployment's settings (who gets the email), from a config secret that holds no database, and
 * the bucket's manifests (the last good backup the email names).
 */
export class BackupAlerts extends Construct {
  readonly alert: lambda.Function;
  /** The deployment's settings without any database, which the report function reads too. */
  readonly configSecret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: BackupAlertsProps) {
    super(scope, id);
    const { config, storage } = props;
    const secret = configSecret(this, 'Config', config, []);
    this.configSecret = secret;
    this.alert = new lambda.DockerImageFunction(this, 'Alert', {
      description: 'dbbackup: emails backup runs that timed out or crashed',
      code: props.code('dist/functions/alert.handler'),
      memorySize: 512,
      timeout: Duration.seconds(60),
      environment: runtimeEnvironment(storage, secret),
      logGroup: new logs.LogGroup(this, 'Logs-Alert', { retention: logs.RetentionDays.THREE_MONTHS }),
      deadLetterQueue: props.deadLetters.queue,
    });
    // Lambda's grant for its dead-letter queue covers SQS, not the queue's key.
    props.deadLetters.grantSend(this.alert);
    secret.grantRead(this.alert);
    grantReadingBackups(
      this.alert,
      this.alert,
      storage,
      'The alert function lists and reads manifests (Bucket.grantRead: bucket/*) to name the last good backup; it writes nothing.',
    );
    allowSendingAlerts(this.alert, config, Stack.of(this));
    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );
    acknowledgeNag(
      this.alert,
      ['Serverless::Serverless-LambdaTracing'],
      'One short call per invocation (an email), logged; X-Ray would add a Resource * permission and show one segment.',
    );
  }
}
