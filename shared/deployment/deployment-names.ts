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

/**
 * `<stack>-<group>-backup`: how the stack names a database group's functions (the databases that
 * share one network share them; see infra/plan-database-groups.ts).
 */
export function functionName(stack: string, group: string, role: 'backup' | 'restore'): string {
  return `${stack.slice(0, 64 - group.length - role.length - 2)}-${group}-${role}`;
}

/** The environment variables the stack sets and the functions and backup tasks read. */
export const ENVIRONMENT = {
  /**
   * The deployment config as JSON, for a run outside AWS (tests, a local run); the stack never sets
   * it, since a function serves up to a group's worth of databases and an environment holds 4 KB.
   */
  config: 'DBBACKUP_CONFIG',
  /** The Secrets Manager secret holding the config of the databases a function or task serves (not a credential). */
  configSecret: 'DBBACKUP_CONFIG_SECRET',
  /** The backup bucket's name. */
  bucket: 'DBBACKUP_BUCKET',
  /** The bucket's KMS key ARN, when the bucket uses SSE-KMS. */
  kmsKeyId: 'DBBACKUP_KMS_KEY_ID',
  /** The log group the backup tasks (Fargate runner) log to, each task to its own stream. */
  taskLogGroup: 'DBBACKUP_TASK_LOG_GROUP',
} as const;

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
