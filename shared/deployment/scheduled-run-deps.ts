import type { S3Client } from '@aws-sdk/client-s3';
import type { Notifier } from '../notify/notifier.js';
import type { Settings } from '../settings.js';
import type { DatabaseCredentials } from './database-url.js';
import type { DeploymentConfig } from './deployment-config.js';

/** What a scheduled run in the deployment (a backup, a drill) needs from its runtime, whichever it is. */
export interface ScheduledRunDeps {
  readonly config: DeploymentConfig;
  /** The backup bucket's name: backups are read or written there, and the run record. */
  readonly bucket: string;
  /** The bucket's KMS key, when it uses SSE-KMS. */
  readonly kmsKeyId?: string;
  /** The runtime's one S3 client, built once per cold start and used by every run. */
  readonly s3Client: S3Client;
  readonly settings: Settings;
  /** Reads a database login from its secret. */
  readonly credentials: (secretArn: string) => Promise<DatabaseCredentials>;
  readonly notifier: Notifier;
  readonly runId: string;
  readonly logUrl?: string;
  readonly log: (event: string, fields: Record<string, unknown>) => void;
  /** Reports an alert that could not be sent (logged at ERROR and counted by the runtimes). @default log */
  readonly logAlertFailure?: (event: string, fields: Record<string, unknown>) => void;
  readonly now?: () => Date;
}
