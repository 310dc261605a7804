import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeNag } from '../acknowledge.js';

/**
 * The deployment's one dead-letter queue: what was meant to start a backup or report a failure and
 * could not, kept for 14 days. EventBridge Scheduler puts a schedule's event here once its retries
 * to start the backup function or task are spent; the alert function's own failed invocations and
 * the stopped-task rule's undeliverable events land here too. One queue for the deployment, not one
 * per group: any message in it needs a person, so one alarm (BackupMonitoring) and one place to read.
 * Encrypted with a key of its own, which EventBridge (the rule's dead letters) may use; the
 * scheduler roles and the alert function send with their own IAM permissions on the key ({@link grantSend}).
 */
export class DeadLetterQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'dbbackup: encrypts the dead-letter queue; EventBridge may use it to deliver dead letters',
      enableKeyRotation: true,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowEventBridgeDeadLetters',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.queue = new sqs.Queue(this, 'Queue', {
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeNag(
      this.queue,
      ['AwsSolutions::AwsSolutions-SQS3', 'Serverless::Serverless-SQSRedrivePolicy'],
      'This queue is the dead-letter queue: nothing consumes it, a person reads it when its alarm fires.',
    );
  }

  /** Lets `grantee` (a scheduler's role, the alert function) put messages in the queue, encrypting them with its key. */
  grantSend(grantee: iam.IGrantable): void {
    // Statements on the grantee only: the queue and key are the main stack's, the grantee may be in a
    // group's nested stack, and a key policy naming a nested stack's role would make the stacks depend
    // on each other both ways. The key's default policy lets the account's IAM policies decide.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.key.keyArn] }),
    );
  }

  /**
   * Makes the queue the dead-letter target of a scheduled function's failed asynchronous invocations
   * (set `deadLetterQueue` on the function too): Lambda's own grant covers SQS, not the queue's key.
   */
  receiveFailuresOf(fn: lambda.IFunction): void {
    this.grantSend(fn);
    acknowledgeNag(
      fn,
      ['Serverless::Serverless-LambdaAsyncFailureDestination', 'Serverless::Serverless-LambdaTracing'],
      "Its failed scheduled invocations go to the deployment's dead-letter queue (alarmed on), which is its failure destination; one short run per invocation, logged, so X-Ray would add a Resource * permission and show one segment.",
    );
  }
}
