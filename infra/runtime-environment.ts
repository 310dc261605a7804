import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { DatabaseConfig, DeploymentConfig } from '../shared/deployment-config.js';
import type { BackupBucket } from './constructs/backup-bucket.js';

/**
 * The environment a function or backup task runs with: the deployment config (only the one
 * database it serves: Lambda environments hold 4 KB), the bucket and its key.
 */
export function runtimeEnvironment(
  config: DeploymentConfig,
  storage: BackupBucket,
  db: DatabaseConfig | undefined,
): Record<string, string> {
  const own = { ...config, databases: db ? [db] : config.databases.slice(0, 1) };
  return {
    DBBACKUP_CONFIG: JSON.stringify(own),
    DBBACKUP_BUCKET: storage.bucket.bucketName,
    ...(storage.key ? { DBBACKUP_KMS_KEY_ID: storage.key.keyArn } : {}),
    NODE_OPTIONS: '--enable-source-maps',
  };
}

/** Lets a function or task send alert emails from the configured sender (or its domain) only. */
export function allowSendingAlerts(grantee: iam.IGrantable, config: DeploymentConfig, scope: Stack): void {
  const domain = config.alerts.sender.split('@')[1] as string;
  const identity = (name: string) => scope.formatArn({ service: 'ses', resource: 'identity', resourceName: name });
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ses:SendEmail'],
      resources: [identity(config.alerts.sender), identity(domain)],
    }),
  );
}
