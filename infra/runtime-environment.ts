import { Stack } from 'aws-cdk-lib';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ENVIRONMENT, metricNamespace } from '../shared/deployment/deployment-names.js';
import { deploymentName } from './deployment-name.js';
import type { BackupBucket } from './constructs/backup-bucket.js';

/**
 * The environment a function or backup task runs with: where its config is (a secret it reads
 * at every run, so a changed recipient needs no new image or function version), the bucket and its
 * key, the deployment's metric namespace, and the stack's name for the alerts. Nothing in it grows with the number of databases.
 */
export function runtimeEnvironment(storage: BackupBucket, configSecret: secretsmanager.ISecret): Record<string, string> {
  return {
    [ENVIRONMENT.configSecret]: configSecret.secretArn,
    [ENVIRONMENT.bucket]: storage.bucket.bucketName,
    [ENVIRONMENT.metricNamespace]: metricNamespace(deploymentName(storage)),
    // The deployment's (main) stack, which holds the bucket: the name `dbbackup invoke --stack` takes.
    [ENVIRONMENT.stackName]: Stack.of(storage).stackName,
    ...(storage.key ? { [ENVIRONMENT.kmsKeyId]: storage.key.keyArn } : {}),
    NODE_OPTIONS: '--enable-source-maps',
  };
}
