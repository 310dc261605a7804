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
 * share one network share them; see infra/plan-database-groups.ts). Each is tagged with
 * {@link databaseTag} of every database it serves, which is how `dbbackup invoke` finds it.
 */
export function functionName(stack: string, group: string, role: 'backup' | 'restore' | 'prune' | 'drill'): string {
  return `${stack.slice(0, 64 - group.length - role.length - 2)}-${group}-${role}`;
}

/**
 * The log group of a function named `name`: derived from the name, so that the alert function
 * can link the log of any backup function that timed out or crashed, knowing only its ARN.
 */
export function functionLogGroupName(name: string): string {
  return `/dbbackup/${name}`;
}

/** The group a name {@link functionName} gave names, when it names a function of this stack and role. */
export function groupOfFunction(name: string, stack: string, role: 'backup' | 'restore'): string | undefined {
  const group = /-(n[0-9a-f]{6}-[0-9]+)-(backup|restore)$/.exec(name)?.[1];
  return group && functionName(stack, group, role) === name ? group : undefined;
}

/** The tag a function carries for each database it serves (a Lambda function holds 50 tags; a group, 25 databases). */
export function databaseTag(database: string): string {
  return `dbbackup:database:${database}`;
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
  /** The stack's name, which every alert email names beside the account and region. */
  stackName: 'DBBACKUP_STACK_NAME',
  /** The log group the backup tasks (Fargate runner) log to, each task to its own stream. */
  taskLogGroup: 'DBBACKUP_TASK_LOG_GROUP',
  /** The CloudWatch namespace the metrics go to: {@link metricNamespace} of the deployment. */
  metricNamespace: 'DBBACKUP_METRIC_NAMESPACE',
} as const;

/**
 * Where the container image holds the RDS certificate authorities (the Dockerfile fetches AWS's global
 * bundle there at build time): a PostgreSQL database on an RDS host is verified against it by default.
 */
export const RDS_CA_BUNDLE_PATH = '/opt/dbbackup/rds-global-bundle.pem';

/** The CloudWatch namespace of dbbackup's metrics outside a deployment (tests, a local run of a handler). */
export const METRIC_NAMESPACE = 'dbbackup';

/**
 * `dbbackup/<stack>`: the namespace a deployment's functions and tasks publish to (the stack sets
 * it as {@link ENVIRONMENT.metricNamespace}), so that two deployments in one account, whose
 * databases may share names, never count each other's backups in their alarms and dashboards.
 */
export function metricNamespace(deployment: string): string {
  return `${METRIC_NAMESPACE}/${deployment}`;
}

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
 * The metrics of the daily health check (functions/health.ts), which the age alarms read:
 * `backupAge` per database and tier (hours since its newest good backup), the others per database
 * (backups re-read and found good or corrupt, anomalies against the previous backup).
 */
export const HEALTH_METRICS = {
  backupAge: 'BackupAgeHours',
  healthy: 'HealthyBackups',
  corrupt: 'CorruptBackups',
  anomalies: 'BackupAnomalies',
} as const;

/**
 * How often the health check runs, in hours: its metrics arrive once a day, so an alarm on them
 * looks at a day and an hour (a late run is not a missing one).
 */
export const HEALTH_INTERVAL_HOURS = 24;

/**
 * The metrics of a restore drill, with the `service` and `database` dimensions: `succeeded` is 1
 * for a passed drill and 0 for a failed one (an alarm watches its minimum), `duration` the time to restore.
 */
export const DRILL_METRICS = {
  succeeded: 'DrillSucceeded',
  duration: 'DrillRestoreDuration',
  /** Published daily by the health check, per database whose drill is scheduled (see DrillHealth). */
  daysWithoutPass: 'DaysWithoutPassedDrill',
} as const;

/**
 * Alert emails that could not be sent (SES refused or was unreachable), counted with the
 * `service` dimension only, so one alarm covers every database and function.
 */
export const ALERT_FAILED_METRIC = 'AlertFailed';

/**
 * The dimensions a run's metrics carry, as the alarms must name them: `service` (added by
 * Powertools from {@link SERVICE_NAME}) and the run's labels, which the functions add themselves.
 */
export function metricDimensions(labels: BackupLabels): Record<string, string> {
  return { service: SERVICE_NAME, ...labels };
}
