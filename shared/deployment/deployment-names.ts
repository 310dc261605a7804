import type { BackupLabels } from './backup-event.js';

/*
 * The names the stack (infra/) and the code it deploys (functions/, the CLI) must agree on:
 * function names, environment variables, metrics. Both sides import them from here, so a rename
 * cannot leave one side behind. The backup task's own contract (container, event variable, exit
 * codes, log stream) is in backup-task.ts.
 */

/** The schedule tiers of grandfather-father-son retention. */
export const TIERS = ['daily', 'weekly', 'monthly'] as const;
export type Tier = (typeof TIERS)[number];

/** `<stack>-<database>-backup`: how the stack names a database's functions, and how `dbbackup invoke` finds them. */
export function functionName(stack: string, database: string, role: 'backup' | 'restore'): string {
  return `${stack}-${database}-${role}`.slice(0, 64);
}

/** The environment variables the stack sets and the functions and backup tasks read. */
export const ENVIRONMENT = {
  /** The deployment config as JSON, holding only the database the function or task serves. */
  config: 'DBBACKUP_CONFIG',
  /** The backup bucket's name. */
  bucket: 'DBBACKUP_BUCKET',
  /** The bucket's KMS key ARN, when the bucket uses SSE-KMS. */
  kmsKeyId: 'DBBACKUP_KMS_KEY_ID',
  /** The alert function's map from database name to its backup task's log group (Fargate runner). */
  taskLogGroups: 'DBBACKUP_TASK_LOG_GROUPS',
} as const;

/**
 * Where the container image holds the RDS certificate authorities (the Dockerfile fetches AWS's global
 * bundle there at build time): a PostgreSQL database on an RDS host is verified against it by default.
 */
export const RDS_CA_BUNDLE_PATH = '/opt/dbbackup/rds-global-bundle.pem';

/** The CloudWatch namespace of dbbackup's metrics. */
export const METRIC_NAMESPACE = 'dbbackup';

/** The service name in logs, and the `service` dimension Powertools adds to every metric. */
export const SERVICE_NAME = 'dbbackup';

/**
 * The metrics of a backup run (Lambda or Fargate), which the alarms and the dashboard read.
 * The alert function counts `failed` for runs that crashed before they could.
 */
export const METRICS = {
  succeeded: 'BackupSucceeded',
  failed: 'BackupFailed',
  duration: 'BackupDuration',
  storedBytes: 'StoredBytes',
  sourceBytes: 'SourceBytes',
  compressionRatio: 'CompressionRatio',
} as const;

/**
 * The dimensions a run's metrics carry, as the alarms must name them: `service` (added by
 * Powertools from {@link SERVICE_NAME}) and the run's labels, which the functions add themselves.
 */
export function metricDimensions(labels: BackupLabels): Record<string, string> {
  return { service: SERVICE_NAME, ...labels };
}
