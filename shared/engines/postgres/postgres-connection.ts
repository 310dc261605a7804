import { userInfo } from 'node:os';
import { ConfigError } from '../../errors.js';
import { resolveTlsSettings, type TlsSettings, tlsEnvironment } from './postgres-tls.js';

/** A parsed PostgreSQL connection: what libpq and node-postgres need, password kept apart. */
export interface PostgresConnection {
  /** The connection URL without its password: safe for argv and messages. */
  readonly url: string;
  readonly password: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** sslmode and the certificate files, as libpq resolves them (see postgres-tls.ts). */
  readonly tls: TlsSettings;
}

/**
 * Parses `postgres://user:pass@host:port/db?sslmode=...` (or `postgresql://`), filling what the
 * URL leaves out from the standard `PG*` environment variables, as libpq does.
 */
export function parsePostgresUrl(raw: string, env: Readonly<NodeJS.ProcessEnv>): PostgresConnection {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`invalid PostgreSQL URL "${raw.replace(/:[^:@/]*@/, ':***@')}"`, {
      hint: 'use postgres://user:password@host:5432/database',
    });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`not a PostgreSQL URL: scheme "${url.protocol}"`);
  }
  const password = url.password ? decodeURIComponent(url.password) : env.PGPASSWORD || undefined;
  const params = url.searchParams;
  const host = decodeURIComponent(url.hostname) || params.get('host') || env.PGHOST || 'localhost';
  const portText = url.port || params.get('port') || env.PGPORT || '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid PostgreSQL port "${portText}"`, { hint: 'use a number from 1 to 65535' });
  }
  const user = decodeURIComponent(url.username) || params.get('user') || env.PGUSER || userInfo().username;
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || params.get('dbname') || env.PGDATABASE || user;
  const tls = resolveTlsSettings(params, env);

  // Built from the resolved parts, so the shown URL says where pg_dump really connects.
  const query = new URLSearchParams(params);
  query.delete('password');
  for (const name of ['host', 'port', 'user', 'dbname']) query.delete(name);
  const socket = host.startsWith('/');
  if (socket) query.set('host', host);
  const text = query.toString();
  const safe = `${url.protocol}//${encodeURIComponent(user)}@${socket ? '' : host}:${port}/${encodeURIComponent(database)}${text ? `?${text}` : ''}`;
  return { url: safe, password, host, port, user, database, tls };
}

/**
 * The environment for a libpq program (pg_dump, pg_restore): password by PGPASSWORD, never argv;
 * the TLS parameters the in-process client used, so both connect alike.
 */
export function libpqEnvironment(conn: PostgresConnection, env: Readonly<NodeJS.ProcessEnv>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...env,
    ...tlsEnvironment(conn.tls),
    PGAPPNAME: env.PGAPPNAME ?? 'dbbackup',
    PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT ?? '15',
  };
  if (conn.password !== undefined) out.PGPASSWORD = conn.password;
  return out;
}
