import { databaseKeyPrefix } from '../backup/backup-key.js';
import { runRecordPrefix } from '../runs/run-record.js';
import type { DatabaseConfig } from './deployment-config.js';
import type { Sse } from '../targets/target.js';

/**
 * Where in the bucket a deployment writes, which the stack's policies enforce: a database's
 * backups under its own prefix (`<engine>/<key name>/`, as runBackup names keys), a restore
 * function's safety copies of what it replaces under {@link PRE_RESTORE_PREFIX}, nowhere else.
 */
export function backupPrefix(db: DatabaseConfig): string {
  return databaseKeyPrefix(db.engine, db.name);
}

/** Where a database's run records go (`runs/<engine>/<key name>/`): the only place its drill function writes. */
export function runRecordsPrefix(db: DatabaseConfig): string {
  return runRecordPrefix(db.engine, db.name);
}

/** The prefix (a target path in the bucket) of the restore function's pre-restore safety copies. */
export const PRE_RESTORE_PREFIX = 'pre-restore';

/**
 * The encryption every write of a deployment asks for, which the bucket's policy requires: its
 * KMS key when it has one, else SSE-S3. One answer for the backups (function and Fargate task)
 * and the restore function's safety copies, so that none can ask for what the bucket refuses.
 */
export function deploymentEncryption(kmsKeyId: string | undefined): { sse: Sse; kmsKeyId?: string } {
  return kmsKeyId ? { sse: 'aws:kms', kmsKeyId } : { sse: 'AES256' };
}
