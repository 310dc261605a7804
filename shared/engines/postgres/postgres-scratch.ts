import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ConfigError } from '../../errors.js';
import { parseLocation } from '../../redact.js';
import type { ScratchDestination, ScratchOptions } from '../destination.js';
import { closeClient, connectPostgres, quoteIdent } from './postgres-client.js';
import { type PostgresConnection, parsePostgresUrl } from './postgres-connection.js';
import { MAINTENANCE_DATABASES, prefixOfBytes, temporaryNaming } from './postgres-destination.js';

const MAX_IDENTIFIER = 63;
const PREFIX = 'dbbackup_drill_';

/**
 * `dbbackup_drill_<database>_<YYYYMMDD_HHMMSS>_<random>`, within PostgreSQL's 63 bytes: the
 * database's name in lower-case letters, digits and `_` only (cut to fit), so that whoever
 * finds one on the server knows what made it, and the name needs no quoting in a psql session.
 */
export function scratchDatabaseName(database: string, now: Date, random = randomBytes(4).toString('hex')): string {
  const iso = now.toISOString();
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  const room = MAX_IDENTIFIER - PREFIX.length - stamp.length - random.length - 2;
  const plain = database.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${PREFIX}${prefixOfBytes(plain, room)}_${stamp}_${random}`;
}

/**
 * Makes a PostgreSQL scratch database name on the server `into` names (a URL without a database,
 * or with a maintenance one: a drill never restores into a database someone named), after
 * checking the login may create databases and that the name is free. The database itself is made
 * by the restore, and `remove` drops it and any database that restore was building.
 */
export async function openPostgresScratch(options: ScratchOptions): Promise<ScratchDestination> {
  const { into, settings } = options;
  if (into === undefined) {
    throw new ConfigError('a PostgreSQL drill needs a server it may create databases on, and none was given', {
      hint: 'give the scratch server as postgres://user@host:5432 (a login with CREATEDB), never the production server',
    });
  }
  const { url, shown } = parseLocation(into);
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw new ConfigError(`the scratch server "${shown}" is not a PostgreSQL server URL`, {
      hint: 'a PostgreSQL backup is drilled on a server: postgres://user@host:5432',
    });
  }
  const named = parsePostgresUrl(into, settings.env);
  const given = url.pathname.replace(/^\//, '') || url.searchParams.get('dbname') || '';
  if (given !== '' && !MAINTENANCE_DATABASES.includes(named.database)) {
    throw new ConfigError(
      `the scratch server URL names the database "${named.database}"; a drill restores into a new scratch database of its own, never into a named one`,
      { hint: `give the server only: ${named.url.replace(/\/[^/?]*(\?|$)/, '$1')}` },
    );
  }
  const name = scratchDatabaseName(options.database, options.now);
  const scratchUrl = new URL(into);
  scratchUrl.pathname = `/${name}`;
  const conn = parsePostgresUrl(scratchUrl.toString(), settings.env);
  // Held for the whole drill, on a connection of its own: while it lives, no other drill's sweep
  // drops this scratch; killed (SIGKILL, a Lambda's timeout), it dies with the connection.
  const holder = await holdScratch(conn, name);
  let swept: string[];
  try {
    swept = await withMaintenance(conn, async (admin) => {
      const { rows } = await admin.query<{ createdb: boolean; taken: boolean }>(
        `select (rolcreatedb or rolsuper) as createdb, exists (select 1 from pg_database where datname = $1) as taken
           from pg_roles where rolname = current_user`,
        [name],
      );
      if (!rows[0]?.createdb) {
        throw new ConfigError(`user "${conn.user}" may not create databases on the scratch server ${conn.host}:${conn.port}`, {
          hint: `grant it: ALTER ROLE ${quoteIdent(conn.user)} CREATEDB (on the scratch server only)`,
        });
      }
      // The name holds the time and 32 random bits: taken, it is someone else's, and never replaced.
      if (rows[0].taken)
        throw new ConfigError(`the scratch database name "${name}" is taken on the scratch server; nothing was changed`);
      return sweepAbandoned(admin);
    });
  } catch (error) {
    await closeClient(holder);
    throw error;
  }
  return {
    url: scratchUrl.toString(),
    name,
    description: conn.url,
    notes: swept.map(
      (db) =>
        `dropped the scratch database ${db} on ${conn.host}:${conn.port}, left by a drill that was stopped before its cleanup`,
    ),
    remove: async () => {
      try {
        await withMaintenance(conn, (admin) => dropScratch(admin, name));
      } finally {
        await closeClient(holder);
      }
    },
  };
}

/** The advisory lock a drill holds on its scratch name, by the name's owner tag, which its restore's temporary databases carry too. */
const scratchLock = (owner: string) => `dbbackup drill ${owner}`;

/** A maintenance connection holding the scratch's lock until it is closed. */
async function holdScratch(conn: PostgresConnection, name: string): Promise<pg.Client> {
  let lastError: unknown;
  for (const database of MAINTENANCE_DATABASES) {
    let client: pg.Client;
    try {
      client = await connectPostgres(conn, database);
    } catch (error) {
      lastError = error;
      continue;
    }
    try {
      await client.query('select pg_advisory_lock(hashtext($1))', [scratchLock(temporaryNaming(name).owner)]);
      return client;
    } catch (error) {
      await closeClient(client);
      throw error;
    }
  }
  throw lastError;
}

/**
 * Drops the drill databases whose drill is gone: a scratch database, or a restore's temporary one
 * (`<base>__dbbackup_new_<owner>_<run>`), whose lock no live drill holds. Without a FORCE: one
 * someone is connected to (a drill of a version that took no lock, a person looking) stays.
 * Returns the names dropped.
 */
async function sweepAbandoned(admin: pg.Client): Promise<string[]> {
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database where left(datname, ${PREFIX.length}) = $1 order by datname`,
    [PREFIX],
  );
  const byOwner = new Map<string, string[]>();
  for (const { datname } of rows) {
    const temporary = /__dbbackup_new_([0-9a-f]{8})_[0-9a-f]{8}$/.exec(datname);
    if (!temporary && !/_\d{8}_\d{6}_[0-9a-f]{8}$/.test(datname)) continue;
    const owner = temporary ? (temporary[1] as string) : temporaryNaming(datname).owner;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), datname]);
  }
  const dropped: string[] = [];
  for (const [owner, names] of byOwner) {
    const { rows: lock } = await admin.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
      scratchLock(owner),
    ]);
    if (!lock[0]?.ok) continue;
    try {
      for (const datname of names) {
        const gone = await admin.query(`drop database if exists ${quoteIdent(datname)}`).then(
          () => true,
          () => false,
        );
        if (gone) dropped.push(datname);
      }
    } finally {
      await admin.query('select pg_advisory_unlock(hashtext($1))', [scratchLock(owner)]);
    }
  }
  return dropped;
}

/** Drops the scratch database and the databases a restore into it was building (killed before its own cleanup). */
async function dropScratch(admin: pg.Client, name: string): Promise<void> {
  const { base, owner } = temporaryNaming(name);
  const start = `${base}__dbbackup_new_${owner}_`;
  const { rows } = await admin.query<{ datname: string }>(
    'select datname from pg_database where datname = $1 or left(datname, $3) = $2',
    [name, start, [...start].length],
  );
  for (const { datname } of rows) await admin.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
}

async function withMaintenance<T>(conn: PostgresConnection, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (const database of MAINTENANCE_DATABASES) {
    let admin: pg.Client;
    try {
      admin = await connectPostgres(conn, database);
    } catch (error) {
      lastError = error;
      continue;
    }
    try {
      return await work(admin);
    } finally {
      await closeClient(admin);
    }
  }
  throw lastError;
}
