import { type DatabaseConfig, EFS_MOUNT_PATH } from './deployment-config.js';
import { ConfigError } from '../errors.js';
import { databaseFileUrl } from '../engines/registry.js';

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
  const secret = await credentials(db.secretArn);
  if (!secret.username || !secret.password) {
    throw new ConfigError(`the secret for database ${db.name} has no username or password`, {
      hint: 'store {"username": "...", "password": "..."} in it (the format RDS uses)',
    });
  }
  const user = encodeURIComponent(secret.username);
  const password = encodeURIComponent(secret.password);
  return `postgres://${user}:${password}@${db.host}:${db.port}/${encodeURIComponent(db.database)}?sslmode=${db.sslmode}`;
}
