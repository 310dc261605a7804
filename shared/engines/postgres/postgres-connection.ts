import { userInfo } from 'node:os';
import { ConfigError } from '../../errors.js';
import { parseLocation } from '../../redact.js';
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
 * URL leaves out from the standard `PG*` environment variables, as libpq does. Every part is
 * percent-decoded as libpq decodes it (`%2B` is `+`, and a `+` stays a `+`), so any database
 * name works: `sales eu` as `sales%20eu`, `a/b?c#d` as `a%2Fb%3Fc%23d`. The password may be in
 * the user information or, as libpq allows, in `?password=` (which wins, as in libpq). Secret
 * parameters that libpq takes only as connection parameters are refused (see
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
  // A URL ends at "#": what follows would be dropped here while libpq (pg_dump) reads it as part of
  // the name, and the two would connect to different databases.
  if (url.hash || raw.includes('#')) {
    throw new ConfigError('the PostgreSQL URL holds a "#", which ends a URL', {
      hint: 'where "#" is part of a database name, user or password, percent-encode it as %23',
    });
  }
  const params = libpqQuery(url.search);
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
  const password =
    params.getAll('password').at(-1) ||
    (url.password ? decodePart(url.password, 'password') : undefined) ||
    env.PGPASSWORD ||
    undefined;
  const host = decodePart(url.hostname, 'host') || params.get('host') || env.PGHOST || 'localhost';
  const portText = url.port || params.get('port') || env.PGPORT || '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid PostgreSQL port "${portText}"`, { hint: 'use a number from 1 to 65535' });
  }
  const user = decodePart(url.username, 'user name') || params.get('user') || env.PGUSER || userInfo().username;
  const database = decodePart(url.pathname.replace(/^\//, ''), 'database name') || params.get('dbname') || env.PGDATABASE || user;
  const tls = resolveTlsSettings(params, env);

  // Built from the resolved parts, so the shown URL says where pg_dump really connects.
  const query = new URLSearchParams(params);
  for (const name of [...LIBPQ_SECRET_PARAMETERS, 'host', 'port', 'user', 'dbname']) query.delete(name);
  const socket = host.startsWith('/');
  if (socket) query.set('host', host);
  // Each part encoded whole: URLSearchParams would write a space as "+", which libpq reads as "+".
  const text = [...query].map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
  const safe = `${url.protocol}//${encodeURIComponent(user)}@${socket ? '' : host}:${port}/${encodeURIComponent(database)}${text ? `?${text}` : ''}`;
  return { url: safe, password, host, port, user, database, tls };
}

function isLibpqSecret(name: string): boolean {
  return LIBPQ_SECRET_PARAMETERS.includes(name.toLowerCase());
}

/** A URL's query as libpq reads it: `name=value` pairs split on `&`, percent-decoded, and a `+` is a `+`. */
function libpqQuery(search: string): URLSearchParams {
  const params = new URLSearchParams();
  for (const pair of search.replace(/^\?/, '').split('&')) {
    if (!pair) continue;
    const at = pair.indexOf('=');
    const name = decodePart(at < 0 ? pair : pair.slice(0, at), 'parameter names');
    const value = at < 0 ? '' : decodePart(pair.slice(at + 1), `parameter ${name}`);
    params.append(name, value);
  }
  return params;
}

/** Percent-decodes a part of the URL, naming the part (never its value: it may be the password) when it is malformed. */
function decodePart(text: string, part: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigError(`invalid percent-encoding in the PostgreSQL URL's ${part}`, {
      hint: 'write "%" itself as %25, and any other character as % and two hex digits of its UTF-8 bytes',
    });
  }
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
