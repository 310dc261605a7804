import { databaseKeyPrefix } from '../backup/backup-key.js';
import { ENGINES } from '../engines/registry.js';
import { PRE_RESTORE_FOLDER } from '../retention/run-prune.js';
import { RUNS_PREFIX, runRecordPrefix } from '../runs/run-record.js';
import type { DatabaseConfig } from './deployment-config.js';
import type { Sse } from '../targets/target.js';

/**
 * Where in the bucket a deployment writes, which the stack's policies enforce: a database's
 * backups under its own prefix (`<engine>/<key name>/`, as runBackup names keys) and its run
 * records under `runs/<engine>/<key name>/`, a restore
 * function's safety copies of what it replaces under {@link PRE_RESTORE_PREFIX}, nowhere else.
 */
export function backupPrefix(db: DatabaseConfig): string {
  return databaseKeyPrefix(db.engine, db.name);
}

/** The prefix (a target path in the bucket) of the restore function's pre-restore safety copies; prune looks there too. */
export const PRE_RESTORE_PREFIX = PRE_RESTORE_FOLDER;

/**
 * Where a deployment's prune may delete for one database, and nowhere else (the bucket's policy
 * holds it there): its backups, the restore function's safety copies of it, its run records.
 */
export function prunePrefixes(db: DatabaseConfig): string[] {
  return [
    backupPrefix(db),
    `${PRE_RESTORE_PREFIX}/${backupPrefix(db)}`,
    runRecordsPrefix(db),
    `${PRE_RESTORE_PREFIX}/${runRecordsPrefix(db)}`,
  ];
}

/** Where a database's runs, failed or not (backups and drills), leave their run records (`runs/<engine>/<key name>/`). */
export function runRecordsPrefix(db: DatabaseConfig): string {
  return runRecordPrefix(db.engine, db.name);
}

/** Everything a backup writer of `db` writes: its backups and its run records. */
export function backupWritePrefixes(db: DatabaseConfig): string[] {
  return [backupPrefix(db), runRecordsPrefix(db)];
}

/**
 * The encryption every write of a deployment asks for, which the bucket's policy requires: its
 * KMS key when it has one, else SSE-S3. One answer for the backups (function and Fargate task)
 * and the restore function's safety copies, so that none can ask for what the bucket refuses.
 */
export function deploymentEncryption(kmsKeyId: string | undefined): { sse: Sse; kmsKeyId?: string } {
  return kmsKeyId ? { sse: 'aws:kms', kmsKeyId } : { sse: 'AES256' };
}

/**
 * The folders every database's {@link prunePrefixes} lie in: each engine's, pre-restore/ and runs/.
 * The bucket policy confines every prune role to these (one statement whatever the number of
 * databases: a bucket policy holds 20 KB); each role's own policy, to its databases' prefixes.
 */
export function prunableFolders(): string[] {
  return [...ENGINES.map((e) => `${e.kind}/`), `${PRE_RESTORE_PREFIX}/`, RUNS_PREFIX];
}
