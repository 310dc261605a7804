import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { compareRowCounts } from '../compare-row-counts.js';
import { choosePgRestore, findPgTools, majorOf, type PgTool } from './find-pg-tools.js';
import { closeClient, connectPostgres, postgresMessage, quoteIdent, withPostgres } from './postgres-client.js';
import { countRows, listUserTables } from './postgres-tables.js';
import { libpqEnvironment, type PostgresConnection, parsePostgresUrl } from './postgres-connection.js';
import { CancelledError, ConfigError, RestoreError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { pausePoint } from '../../pipeline/pause-point.js';
import { RunStop, settleWithin } from '../../pipeline/run-stop.js';
import { summarizeStderr } from '../../pipeline/child-process-stream.js';
import { runCommand } from '../../pipeline/run-command.js';
import { redactText } from '../../redact.js';
import type {
  Destination,
  DestinationState,
  FetchedBackup,
  RestoreCheck,
  RestoreOptions,
  RestoreOutcome,
} from '../destination.js';
import type { Settings } from '../../settings.js';

/** The database dbbackup connects to for CREATE/ALTER/DROP DATABASE on the destination server. */
const MAINTENANCE_DATABASES = ['postgres', 'template1'];
const MAX_IDENTIFIER = 63;

/**
 * Restores into a PostgreSQL database by building a new database beside it
 * (`<name>__dbbackup_new_<random>`), restoring into that in one transaction, verifying it, and
 * only then swapping it in by two renames in one transaction. Until the swap the destination is
 * untouched; the swap itself is atomic. Leftovers of a killed restore are dropped by the next one.
 */
export class PostgresDestination implements Destination {
  readonly kind = 'postgres' as const;
  readonly noun = 'database';
  private readonly conn: PostgresConnection;
  private readonly settings: Settings;

  constructor(
    readonly sourceUrl: string,
    settings: Settings,
  ) {
    this.settings = settings;
    this.conn = parsePostgresUrl(sourceUrl, settings.env);
  }

  get name(): string {
    return this.conn.database;
  }

  get description(): string {
    return this.conn.url;
  }

  async inspect(): Promise<DestinationState> {
    const row = await this.withAdmin(async (admin) => {
      const { rows } = await admin.query<{ size: string }>(
        'select pg_database_size(datname)::text as size from pg_database where datname = $1',
        [this.name],
      );
      return rows[0];
    });
    if (!row) return { exists: false, tables: 0, hasData: false };
    return withPostgres(this.conn, async (client) => {
      const tables = (await listUserTables(client)).length;
      const { rows } = await client.query<{ lobs: string }>('select count(*)::text as lobs from pg_largeobject_metadata');
      // Any table or large object counts as data (reltuples stays 0 until a table is analyzed).
      const hasData = tables > 0 || Number(rows[0]?.lobs ?? 0) > 0;
      return { exists: true, sizeBytes: Number(row.size), tables, hasData };
    });
  }

  async restore(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome> {
    const stop = new RunStop('restore', { signal: options.signal });
    try {
      return await this.restoreStoppable(backup, manifest, options, stop);
    } finally {
      stop.dispose();
    }
  }

  private async restoreStoppable(
    backup: FetchedBackup,
    manifest: Manifest | undefined,
    options: RestoreOptions,
    stop: RunStop,
  ): Promise<RestoreOutcome> {
    const tool = await stop.guard(this.restoreTool(backup, manifest));
    const admin = await this.connectAdmin();
    const suffix = randomBytes(4).toString('hex');
    const base = prefixOfBytes(this.name, MAX_IDENTIFIER - '__dbbackup_new_'.length - suffix.length);
    const fresh = `${base}__dbbackup_new_${suffix}`;
    const old = `${base}__dbbackup_old_${suffix}`;
    let created = false;
    try {
      // Two restores of one database never run at once; the lock dies with the connection if killed.
      await stop.guard(admin.query('select pg_advisory_lock(hashtext($1))', [`dbbackup restore ${this.name}`]));
      await stop.guard(dropLeftovers(admin, base));
      const existing = await admin.query<{ encoding: string; collate: string; ctype: string; owner: string; oid: number }>(
        `select pg_encoding_to_char(encoding) as encoding, datcollate as collate, datctype as ctype,
                pg_get_userbyid(datdba) as owner, oid from pg_database where datname = $1`,
        [this.name],
      );
      const like = existing.rows[0];
      options.onPhase?.('creating a new database');
      stop.check();
      await admin.query(
        `create database ${quoteIdent(fresh)} template template0` +
          (like
            ? ` encoding '${like.encoding}' lc_collate '${like.collate.replace(/'/g, "''")}' lc_ctype '${like.ctype.replace(/'/g, "''")}'`
            : ''),
      );
      created = true;
      const warnings: string[] = [];
      if (like) warnings.push(...(await stop.guard(copyDatabaseSettings(admin, like.oid, like.owner, fresh))));
      await stop.guard(pausePoint('restore', this.settings));

      options.onPhase?.(backup.format === 'custom' ? 'running pg_restore' : 'running psql');
      warnings.push(...(await stop.guard(this.runRestore(tool, backup, fresh, { ...options, signal: stop.signal }))));
      options.onPhase?.('verifying');
      const outcome = await stop.guard(withPostgres(this.conn, (client) => verifyRestored(client, manifest), fresh));
      if (outcome.checks.some((c) => !c.ok)) {
        const failed = outcome.checks.filter((c) => !c.ok).map((c) => c.detail);
        throw new RestoreError(`the restored database does not match the backup: ${failed.slice(0, 3).join('; ')}`, {
          hint: 'the destination was not changed',
        });
      }
      await stop.guard(pausePoint('swap', this.settings));
      // From here the swap runs to its end: it is one transaction, whole or not at all.
      stop.check();

      options.onPhase?.('swapping in the restored database');
      await admin.query('begin');
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()',
        [[this.name, fresh]],
      );
      if (like) await admin.query(`alter database ${quoteIdent(this.name)} rename to ${quoteIdent(old)}`);
      await admin.query(`alter database ${quoteIdent(fresh)} rename to ${quoteIdent(this.name)}`);
      await admin.query('commit');
      created = false;
      if (like) await admin.query(`drop database if exists ${quoteIdent(old)} with (force)`).catch(() => {});
      return { ...outcome, warnings: [...outcome.warnings, ...warnings] };
    } catch (error) {
      // Bounded: a server that stopped answering must not hold a restore that has failed.
      await settleWithin(
        (async () => {
          await admin.query('rollback').catch(() => {});
          if (created) await admin.query(`drop database if exists ${quoteIdent(fresh)} with (force)`).catch(() => {});
        })(),
      );
      if (error instanceof RestoreError || error instanceof ConfigError || error instanceof CancelledError) throw error;
      throw new RestoreError(
        `restoring into ${this.conn.url} failed: ${redactText(postgresMessage(error), [this.conn.password])}`,
        {
          hint: 'the destination was not changed',
          cause: error,
        },
      );
    } finally {
      await closeClient(admin);
    }
  }

  /** Picks a pg_restore that can read the archive: its major at least that of the pg_dump that wrote it. */
  private async restoreTool(backup: FetchedBackup, manifest: Manifest | undefined): Promise<PgTool> {
    const tools = await findPgTools('pg_restore', this.settings);
    const dumpedBy = manifest?.engine_version.pg_dump ?? (await archiveVersion(tools[0], backup));
    const major = majorOf(dumpedBy) ?? 0;
    try {
      return choosePgRestore(tools, dumpedBy);
    } catch (error) {
      const newest = tools[0] ? `the newest pg_restore here is ${tools[0].version}` : 'no pg_restore was found';
      throw new ConfigError(`this backup was written by ${dumpedBy}; ${newest}, which cannot read it`, {
        hint: `install the PostgreSQL ${major} client (Debian: apt-get install postgresql-client-${major}) or set DBBACKUP_PG_BIN_DIR`,
        cause: error,
      });
    }
  }

  private async runRestore(tool: PgTool, backup: FetchedBackup, database: string, options: RestoreOptions): Promise<string[]> {
    const url = new URL(this.conn.url);
    url.pathname = `/${encodeURIComponent(database)}`;
    const env = libpqEnvironment(this.conn, this.settings.env);
    const warnings: string[] = [];
    let result: Awaited<ReturnType<typeof runCommand>>;
    if (backup.format === 'custom') {
      const args = ['--exit-on-error', '--single-transaction', '--no-password', `--dbname=${url}`];
      if (!options.keepOwner) args.push('--no-owner');
      const missing = await this.missingRoles(tool, backup.file);
      if (missing.length > 0) {
        args.push('--no-privileges');
        warnings.push(`roles missing on this server, so GRANTs were not restored: ${missing.join(', ')}`);
      }
      result = await runCommand(tool.path, [...args, backup.file], { env, timeoutMs: 0, signal: options.signal });
    } else {
      const psql = join(dirname(tool.path), 'psql');
      const args = [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '--single-transaction',
        '--no-password',
        `--dbname=${url}`,
        '-f',
        backup.file,
      ];
      result = await runCommand(psql, args, { env, timeoutMs: 0, signal: options.signal });
    }
    if (result.code !== 0) {
      const said = redactText(summarizeStderr(result.stderr), [this.conn.password]) || `exit code ${result.code}, no message`;
      throw new RestoreError(`${backup.format === 'custom' ? 'pg_restore' : 'psql'} failed: ${said}`, {
        hint: 'the destination was not changed',
      });
    }
    return warnings;
  }

  /** Roles the archive grants privileges to that do not exist on this server. */
  private async missingRoles(tool: PgTool, file: string): Promise<string[]> {
    const list = await runCommand(tool.path, ['-l', file], { env: this.settings.env });
    const aclEntries = list.stdout.split('\n').filter((line) => /^\d+;.* ACL /.test(line));
    if (aclEntries.length === 0) return [];
    const listFile = `${file}.acl-list`;
    await fs.writeFile(listFile, `${aclEntries.join('\n')}\n`);
    const sql = await runCommand(tool.path, ['-L', listFile, '-f', '-', file], { env: this.settings.env });
    await fs.rm(listFile, { force: true });
    const roles = new Set<string>();
    for (const match of sql.stdout.matchAll(/\b(?:TO|FROM)\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)/g)) {
      const raw = match[1] as string;
      const role = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
      if (role !== 'public') roles.add(role);
    }
    if (roles.size === 0) return [];
    return withPostgres(this.conn, async (client) => {
      const { rows } = await client.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [
        [...roles],
      ]);
      const present = new Set(rows.map((r) => r.rolname));
      return [...roles].filter((r) => !present.has(r)).sort();
    });
  }

  private async connectAdmin(): Promise<pg.Client> {
    let lastError: unknown;
    for (const database of MAINTENANCE_DATABASES) {
      try {
        return await connectPostgres(this.conn, database);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  private async withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await this.connectAdmin();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/**
 * The longest start of `name` that fits in `bytes` bytes of UTF-8, whole characters only: the server
 * would cut a longer identifier at 63 bytes, cutting off the suffix that tells its databases apart.
 */
function prefixOfBytes(name: string, bytes: number): string {
  let prefix = '';
  for (const char of name) {
    if (Buffer.byteLength(prefix + char) > bytes) break;
    prefix += char;
  }
  return prefix;
}

/** Drops databases left by restores that were killed before their swap (we hold the restore lock). */
async function dropLeftovers(admin: pg.Client, base: string): Promise<void> {
  // left() and substr() count characters, as [...] does (length counts UTF-16 units).
  const start = `${base}__dbbackup_`;
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database where left(datname, $2) = $1 and substr(datname, $2 + 1) ~ '^(new|old)_[0-9a-f]{8}$'`,
    [start, [...start].length],
  );
  for (const { datname } of rows) await admin.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
}

/** Gives the new database the old one's owner and database-level settings, where allowed. */
async function copyDatabaseSettings(admin: pg.Client, oid: number, owner: string, fresh: string): Promise<string[]> {
  const warnings: string[] = [];
  try {
    await admin.query(`alter database ${quoteIdent(fresh)} owner to ${quoteIdent(owner)}`);
  } catch (error) {
    warnings.push(`the restored database is owned by the restoring user, not "${owner}": ${postgresMessage(error)}`);
  }
  const { rows } = await admin.query<{ setconfig: string[] }>(
    'select setconfig from pg_db_role_setting where setdatabase = $1 and setrole = 0',
    [oid],
  );
  for (const setting of rows[0]?.setconfig ?? []) {
    const at = setting.indexOf('=');
    await admin.query(
      `alter database ${quoteIdent(fresh)} set ${quoteIdent(setting.slice(0, at))} = '${setting.slice(at + 1).replace(/'/g, "''")}'`,
    );
  }
  return warnings;
}

/** Checks the restored database against the manifest's tables and row counts. */
async function verifyRestored(client: pg.Client, manifest: Manifest | undefined): Promise<RestoreOutcome> {
  const counts: Record<string, number> = {};
  for (const table of await listUserTables(client)) counts[table.qualified] = await countRows(client, table);
  const checks: RestoreCheck[] = manifest
    ? compareRowCounts(manifest.tables, new Set(manifest.tables_estimated), counts)
    : [{ name: 'row counts', ok: true, detail: 'not checked: no manifest' }];
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { tables: Object.keys(counts).length, rows: total, checks, warnings: [] };
}

/** The pg_dump version an archive names in its header, for a backup without a manifest. */
async function archiveVersion(tool: PgTool | undefined, backup: FetchedBackup): Promise<string | undefined> {
  if (!tool || backup.format !== 'custom') return undefined;
  const list = await runCommand(tool.path, ['-l', backup.file]);
  const match = /Dumped by pg_dump version (\S+)/.exec(list.stdout);
  return match ? `pg_dump (PostgreSQL) ${match[1]}` : undefined;
}
