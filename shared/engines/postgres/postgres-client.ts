import type { Socket } from 'node:net';
import pg from 'pg';
import { ConfigError, DumpError } from '../../errors.js';
import { settleWithin } from '../../pipeline/run-stop.js';
import { redactText } from '../../redact.js';
import type { PostgresConnection } from './postgres-connection.js';
import { refusedTls, serverAnswered, type TlsAttempt, tlsAttempts, tlsFailure } from './postgres-tls.js';

/** How long a connection attempt may take before it fails (node-postgres's connectionTimeoutMillis). */
const CONNECT_TIMEOUT_MS = 15_000;
/** How long a client may take to say goodbye before its socket is closed under it. */
const END_TIMEOUT_MS = 2_000;

/** Options of a connection. */
export interface ConnectOptions {
  /** Aborting ends a connection attempt at once (its socket is closed) and fails it with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Any one query taking longer fails (the client's query_timeout). @default none */
  readonly queryTimeoutMs?: number;
}

/**
 * Opens a node-postgres client for `conn` (or another database on the same server), with
 * libpq's meaning of sslmode (see postgres-tls.ts), mapping login failures to errors a user can
 * act on: an unknown database, a refused login or a TLS failure is a ConfigError (exit 2), an
 * unreachable server a DumpError (exit 1). TCP keepalives are on, so a server that vanishes
 * without closing the connection is noticed.
 */
export async function connectPostgres(
  conn: PostgresConnection,
  database = conn.database,
  options: ConnectOptions = {},
): Promise<pg.Client> {
  const { signal } = options;
  // Each part given on its own, never as a connection string: node-postgres decodes a string's
  // database name with decodeURI, which leaves %2B, %2F, %3F, %23 … as they are ("a+b" would be
  // "a%2Bb"), and lets a string without a password override an explicit one.
  const params: Record<string, string> = {};
  for (const [name, value] of new URL(conn.url).searchParams) {
    // node-postgres would read the ssl ones itself, with other rules (and a warning); `ssl` says it all.
    if (!name.startsWith('ssl') && name !== 'uselibpqcompat' && name !== 'host') params[name] = value;
  }
  const failures: Array<{ ssl: TlsAttempt; error: unknown; askedForPassword: boolean }> = [];
  for (const ssl of await tlsAttempts(conn)) {
    signal?.throwIfAborted();
    const client = new pg.Client({
      application_name: 'dbbackup',
      ...params,
      host: conn.host.replace(/^\[(.+)\]$/, '$1'),
      port: conn.port,
      user: conn.user,
      password: conn.password,
      database,
      ssl,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      query_timeout: options.queryTimeoutMs,
    });
    // A server that drops the connection emits 'error' on the client; pending queries reject anyway.
    client.on('error', () => {});
    const abort = () => destroyClient(client);
    signal?.addEventListener('abort', abort, { once: true });
    // Without a password node-postgres fails on the server's request for one with a message about
    // SCRAM or MD5 internals; knowing the server asked says what is really missing.
    let askedForPassword = false;
    for (const request of PASSWORD_REQUESTS) client.connection.once(request, () => (askedForPassword = true));
    try {
      await client.connect();
      signal?.throwIfAborted();
      return client;
    } catch (error) {
      await closeClient(client);
      if (signal?.aborted) throw signal.reason;
      failures.push({ ssl, error, askedForPassword });
      if (!serverAnswered(error)) break;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }
  // Where a TLS attempt got further than the server saying no to TLS, its failure is the telling one.
  const telling = failures.find((f) => f.ssl !== false && !refusedTls(f.error)) ?? failures[failures.length - 1];
  if (telling?.askedForPassword && conn.password === undefined && !isLoginRefusal(telling.error)) {
    throw new ConfigError(
      `PostgreSQL at ${conn.host}:${conn.port} asks for a password for user "${conn.user}", and none was given`,
      {
        hint: 'give it in the URL as user:password@host, in PGPASSWORD, or in a password file (~/.pgpass, or the one PGPASSFILE names)',
        cause: telling.error,
      },
    );
  }
  throw connectError(conn, database, telling?.error);
}

/** The messages in which a server asks the client for a password (cleartext, MD5, SCRAM). */
const PASSWORD_REQUESTS = ['authenticationCleartextPassword', 'authenticationMD5Password', 'authenticationSASL'];

/** The server's own "wrong password or no such user" (a password file may have given a wrong one). */
function isLoginRefusal(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '28P01' || code === '28000';
}

/** Runs `work` with a client, always closing it. Query errors become DumpErrors with the password redacted. */
export async function withPostgres<T>(
  conn: PostgresConnection,
  work: (client: pg.Client) => Promise<T>,
  database?: string,
): Promise<T> {
  const client = await connectPostgres(conn, database);
  try {
    return await work(client);
  } catch (error) {
    // Server and socket errors carry a code; anything else is ours or a bug, and passes through.
    if (typeof (error as { code?: unknown }).code !== 'string') throw error;
    throw new DumpError(`reading ${conn.url} failed: ${redactText(postgresMessage(error), [conn.password])}`, { cause: error });
  } finally {
    await closeClient(client);
  }
}

/**
 * Ends a client, politely if the server answers within {@link END_TIMEOUT_MS}, else by closing
 * its socket: a client that cannot reach its server must still end. Ending the session releases
 * what it held (its transaction's snapshot, its advisory locks). Never rejects.
 */
export async function closeClient(client: pg.Client): Promise<void> {
  if (!(await settleWithin(client.end(), END_TIMEOUT_MS))) destroyClient(client);
}

/** Closes a client's socket at once, whatever it is doing (connecting, waiting on a query). */
export function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: Socket } }).connection?.stream?.destroy();
}

function connectError(conn: PostgresConnection, database: string, error: unknown): Error {
  const code = (error as { code?: string }).code;
  const where = `${conn.host}:${conn.port}`;
  const message = redactText(postgresMessage(error), [conn.password]);
  const tls = tlsFailure(conn, error);
  if (tls) return tls;
  if (code === '3D000') {
    return new ConfigError(`database "${database}" does not exist on ${where}`, {
      hint: 'check the database name in the URL (list them with: psql -l)',
      cause: error,
    });
  }
  if (isLoginRefusal(error)) {
    return new ConfigError(`PostgreSQL refused the login of user "${conn.user}" on ${where}: ${message}`, {
      hint: 'check the user and password (in the URL or PGPASSWORD) and pg_hba.conf',
      cause: error,
    });
  }
  return new DumpError(`cannot connect to PostgreSQL at ${where}: ${message}`, {
    hint: 'check the host and port in the URL and that the server is running and reachable',
    cause: error,
  });
}

/** The most useful message of a node-postgres or socket error. */
export function postgresMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return postgresMessage(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return message || ((error as { code?: string }).code ?? 'unknown error');
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
