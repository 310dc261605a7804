import { type DatabaseConfig, EFS_MOUNT_PATH } from './deployment-config.js';
import { ConfigError } from '../errors.js';
import { databaseFileUrl } from '../engines/registry.js';
import { RDS_CA_BUNDLE_PATH } from './deployment-names.js';

/** Host names RDS gives instances, clusters and proxies, in every partition (amazonaws.com, amazonaws.com.cn). */
const RDS_HOST = /\.rds\.amazonaws\.com(\.cn)?$/i;

/** Database credentials as Secrets Manager holds them for RDS. */
export interface DatabaseCredentials {
  readonly username: string;
  readonly password: string;
}

/** The URL of a configured database; the password lives only in this string, in memory, never in a log. */
export async function databaseUrl(
  db: DatabaseConfig,
  credentials: (secretArn: string) => Promise<DatabaseCredentials>,
): Promise<string> {
  if (db.engine === 'sqlite') return databaseFileUrl('sqlite', `${EFS_MOUNT_PATH}/${db.path}`);
  return postgresUrl(db, await credentials(db.secretArn));
}

/**
 * The URL the restore function connects to a configured database with: its restore secret's role
 * (CREATEDB, the owner), never the backup's, which should be read-only. Refuses a PostgreSQL
 * database that has none, before any secret is read.
 */
export async function restoreDatabaseUrl(
  db: DatabaseConfig,
  credentials: (secretArn: string) => Promise<DatabaseCredentials>,
): Promise<string> {
  if (db.engine === 'sqlite') return databaseFileUrl('sqlite', `${EFS_MOUNT_PATH}/${db.path}`);
  if (!db.restoreSecretArn) {
    throw new ConfigError(`database ${db.name} has no "restoreSecretArn", so the restore function cannot connect to it`, {
      hint: (w) =>
        `add "restoreSecretArn" (a role with CREATEDB that owns the database) to it in dbbackup.config.json and deploy, or name the destination with its credentials in ${w.setting('to')}`,
    });
  }
  return postgresUrl(db, await credentials(db.restoreSecretArn));
}

function postgresUrl(db: Extract<DatabaseConfig, { engine: 'postgres' }>, secret: DatabaseCredentials): string {
  if (!secret.username || !secret.password) {
    throw new ConfigError(`the secret for database ${db.name} has no username or password`, {
      hint: 'store {"username": "...", "password": "..."} in it (the format RDS uses)',
    });
  }
  const user = encodeURIComponent(secret.username);
  const password = encodeURIComponent(secret.password);
  const tls = new URLSearchParams(tlsParameters(db));
  return `postgres://${user}:${password}@${db.host}:${db.port}/${encodeURIComponent(db.database)}?${tls}`;
}

/**
 * The TLS parameters of a configured PostgreSQL database, which the in-process client and the client
 * programs read with libpq's meaning (shared/engines/postgres/postgres-tls.ts). An RDS host is verified
 * in full against the RDS CA bundle the image carries unless the config says otherwise: encryption
 * without checking who answers would let anyone on the path read the dump.
 */
export function tlsParameters(
  db: Pick<Extract<DatabaseConfig, { engine: 'postgres' }>, 'host' | 'sslmode' | 'sslrootcert'>,
): Record<string, string> {
  const rds = RDS_HOST.test(db.host);
  const rootCert = db.sslrootcert ?? (rds ? RDS_CA_BUNDLE_PATH : undefined);
  return {
    sslmode: db.sslmode ?? (rds ? 'verify-full' : 'require'),
    ...(rootCert ? { sslrootcert: rootCert } : {}),
  };
}
