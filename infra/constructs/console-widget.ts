import { ArnFormat, Duration, RemovalPolicy, SecretValue, Size, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { functionName } from '../../shared/deployment/deployment-names.js';
import { consoleConfigOf } from '../../shared/deployment/run-console-widget.js';
import { grantReadingBackups } from '../grant-backup-access.js';
import { acknowledge, acknowledgeNag } from '../acknowledge.js';
import { deploymentName } from '../deployment-name.js';
import { planDatabaseGroups } from '../plan-database-groups.js';
import { runtimeEnvironment } from '../runtime-environment.js';
import type { BackupBucket } from './backup-bucket.js';

/** Properties of {@link ConsoleWidget}. */
export interface ConsoleWidgetProps {
  readonly config: DeploymentConfig;
  readonly storage: BackupBucket;
  /** The dashboard the widget is added to. */
  readonly dashboard: cloudwatch.Dashboard;
  /** The deployment's health function, which "health now" invokes. */
  readonly health: lambda.IFunction;
  /** The container image every function runs (the repository's Dockerfile). */
  readonly code: (handler: string) => lambda.DockerImageCode;
  /** Memory: "verify now" decompresses and content-checks one backup (2 vCPUs from 3,538 MB). @default 3584 */
  readonly memoryMiB?: number;
  /** Temporary storage: a SQLite backup's content check reads it into a file there. @default 2 GiB */
  readonly ephemeralGiB?: number;
  /** The widget's height in dashboard rows. @default 12 */
  readonly height?: number;
}

/**
 * The dashboard's console view: a custom widget backed by a function of its own
 * (functions/console-widget.ts) listing each database's newest backups, health and last drill,
 * with buttons to re-read a backup, run the health check and dry-run a restore. The function may
 * read the bucket (and its key) and its own config secret, and invoke the health function and
 * the groups' restore functions, nothing else: a restore it asks for is a dry run, and the restore
 * function refuses any real one without the `confirm` the widget never sends.
 */
export class ConsoleWidget extends Construct {
  readonly function: lambda.Function;
  readonly widget: cloudwatch.CustomWidget;

  constructor(scope: Construct, id: string, props: ConsoleWidgetProps) {
    super(scope, id);
    const { config, storage } = props;
    const stack = Stack.of(this);
    // The groups' restore functions have predictable names (functionName): no reference into the
    // nested stacks, which would make them depend on this one.
    const restoreOf = new Map<string, string>();
    for (const group of planDatabaseGroups(config))
      for (const db of group.databases) restoreOf.set(db.name, functionName(deploymentName(this), group.id, 'restore'));
    const restoreArns = [...new Set(restoreOf.values())].map((name) =>
      stack.formatArn({ service: 'lambda', resource: 'function', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    );
    // Names and schedules only, as the health function's: no host, secret ARN or credential.
    const secret = new secretsmanager.Secret(this, 'Config', {
      description: `dbbackup: the console widget's config (database names, schedules, functions) of ${stack.stackName}`,
      secretStringValue: SecretValue.unsafePlainText(
        stack.toJsonString(
          consoleConfigOf(config, {
            restoreFunction: (name) => restoreOf.get(name) as string,
            healthFunction: props.health.functionName,
          }),
        ),
      ),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(secret, ['SMG4'], 'Not a credential but the deployment config; it changes with each deploy, never by rotation.');
    this.function = new lambda.DockerImageFunction(this, 'Function', {
      description: 'dbbackup: the console widget of the dashboard (backups, health, drills; verify, health and dry-run buttons)',
      code: props.code('dist/functions/console-widget.handler'),
      memorySize: props.memoryMiB ?? 3584,
      // A dashboard waits about a minute for a widget: an action that takes longer is reported as still running.
      timeout: Duration.minutes(1),
      ephemeralStorageSize: Size.gibibytes(props.ephemeralGiB ?? 2),
      environment: runtimeEnvironment(storage, secret),
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS }),
      // One click, one request: a retried action would start a second health check or dry run.
      retryAttempts: 0,
    });
    secret.grantRead(this.function);
    grantReadingBackups(
      this.function,
      this,
      storage,
      'Backups are objects read by name (Bucket.grantRead: bucket/*), never written.',
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.health.functionArn, ...restoreArns] }),
    );

    this.widget = new cloudwatch.CustomWidget({
      functionArn: this.function.functionArn,
      title: 'Backups, health and drills (dbbackup console)',
      width: 24,
      height: props.height ?? 12,
      // Reading the bucket is the widget's one cost: not again on a resize or a new time range, which it does not use.
      updateOnRefresh: true,
      updateOnResize: false,
      updateOnTimeRangeChange: false,
    });
    props.dashboard.addWidgets(this.widget);

    acknowledge(
      this,
      ['IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
      "AWS's managed policy that only lets a function write its own logs.",
    );
    acknowledgeNag(
      this.function,
      [
        'Serverless::Serverless-LambdaDLQ',
        'Serverless::Serverless-LambdaAsyncFailureDestination',
        'Serverless::Serverless-LambdaTracing',
      ],
      'Only ever invoked synchronously by the dashboard, which shows its answer or its error; one short run per invocation, logged, so X-Ray would add a Resource * permission and show one segment.',
    );
  }
}
