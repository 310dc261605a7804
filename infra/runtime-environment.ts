import type { DatabaseConfig, DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { ENVIRONMENT } from '../shared/deployment/deployment-names.js';
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
    [ENVIRONMENT.config]: JSON.stringify(own),
    [ENVIRONMENT.bucket]: storage.bucket.bucketName,
    ...(storage.key ? { [ENVIRONMENT.kmsKeyId]: storage.key.keyArn } : {}),
    NODE_OPTIONS: '--enable-source-maps',
  };
}
