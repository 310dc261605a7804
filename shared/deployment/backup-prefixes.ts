import { databaseKeyPrefix } from '../backup/backup-key.js';
import type { DatabaseConfig } from './deployment-config.js';

/**
 * Where in the bucket a deployment writes, which the stack's policies enforce: a database's
 * backups under its own prefix (`<engine>/<key name>/`, as runBackup names keys), a restore
 * function's safety copies of what it replaces under {@link PRE_RESTORE_PREFIX}, nowhere else.
 */
export function backupPrefix(db: DatabaseConfig): string {
  return databaseKeyPrefix(db.engine, db.name);
}

/** The prefix (a target path in the bucket) of the restore function's pre-restore safety copies. */
export const PRE_RESTORE_PREFIX = 'pre-restore';
