import { userInfo } from 'node:os';
import { ConfigError } from '../../errors.js';
import { parseLocation, percentDecoded } from '../../redact.js';
import { LIBPQ_SECRET_PARAMETERS } from './libpq-secret-parameters.js';
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
 * URL leaves out from the standard `PG*` environment variables, as libpq does. The password may
 * be in the user information or, as libpq allows, in `?password=` (which wins, as in libpq).
 * Secret parameters that libpq takes only as connection parameters are refused (see
 * LIBPQ_SECRET_PARAMETERS), and a URL that cannot be read as its writer meant is refused without
 * showing its password.
 */
export function parsePostgresUrl(raw: string, env: Readonly<NodeJS.ProcessEnv>): PostgresConnection {
  const { url, shown } = parseLocation(raw, isLibpqSecret);
  if (!url) {
    throw new ConfigError(`invalid PostgreSQL URL "${shown}"`, {
      hint: 'use postgres://user:password@host:5432/database, and percent-encode each : @ / ? # % or space in the user name, password or database name (@ is %40, / is %2F, % is %25, a space %20), or give the password in PGPASSWORD',
    });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`not a PostgreSQL URL: scheme "${url.protocol}"`);
  }
  const params = url.searchParams;
  // sslpassword is refused with the TLS settings, whose hint says what to use instead.
  for (const name of LIBPQ_SECRET_PARAMETERS.filter((n) => n !== 'password' && n !== 'sslpassword')) {
    if (params.has(name)) {
      throw new ConfigError(
        `${name} is not supported: pg_dump could only receive it on its command line, where other users of this machine can read it`,
        {
          hint: 'log in with a password (in the URL or PGPASSWORD) or a client certificate (sslcert and sslkey)',
        },
      );
    }
  }
  const password = queryParameter(url.search, 'password') || decoded(url.password, 'password') || env.PGPASSWORD || undefined;
  const host = decoded(url.hostname, 'host') || params.get('host') || env.PGHOST || 'localhost';
  const portText = url.port || params.get('port') || env.PGPORT || '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid PostgreSQL port "${portText}"`, { hint: 'use a number from 1 to 65535' });
  }
  const user = decoded(url.username, 'user name') || params.get('user') || env.PGUSER || userInfo().username;
  const database = decoded(url.pathname.replace(/^\//, ''), 'database name') || params.get('dbname') || env.PGDATABASE || user;
  const tls = resolveTlsSettings(params, env);

  // Built from the resolved parts, so the shown URL says where pg_dump really connects.
  const query = new URLSearchParams(params);
  for (const name of [...LIBPQ_SECRET_PARAMETERS, 'host', 'port', 'user', 'dbname']) query.delete(name);
  const socket = host.startsWith('/');
  if (socket) query.set('host', host);
  const text = query.toString();
  const safe = `${url.protocol}//${encodeURIComponent(user)}@${socket ? '' : host}:${port}/${encodeURIComponent(database)}${text ? `?${text}` : ''}`;
  return { url: safe, password, host, port, user, database, tls };
}

function isLibpqSecret(name: string): boolean {
  return LIBPQ_SECRET_PARAMETERS.includes(name.toLowerCase());
}

/** A part of the URL, percent-decoded; a malformed escape is refused without showing the part (it may be the password). */
function decoded(text: string, part: string): string {
  const value = percentDecoded(text);
  if (value === undefined) {
    throw new ConfigError(`the ${part} in the PostgreSQL URL holds a "%" that starts no percent-encoded character`, {
      hint: 'write each % in it as %25',
    });
  }
  return value;
}

/** The last value of a query parameter, decoded as libpq decodes it (percent-escapes only: a "+" stays a "+"). */
function queryParameter(search: string, name: string): string | undefined {
  let value: string | undefined;
  for (const pair of search.replace(/^\?/, '').split('&')) {
    const equals = pair.indexOf('=');
    if (equals >= 0 && pair.slice(0, equals) === name) value = decoded(pair.slice(equals + 1), `${name} parameter`);
  }
  return value;
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
