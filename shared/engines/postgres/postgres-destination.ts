import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import { constants, createReadStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { compareRowCounts } from '../compare-row-counts.js';
import { choosePgRestoreRoute, findPgTools, type PgRestoreRoute, type PgServer, type PgTool } from './find-pg-tools.js';
import { closeClient, connectPostgres, postgresMessage, quoteIdent, withPostgres } from './postgres-client.js';
import { countRows, listUserTables } from './postgres-tables.js';
import { libpqEnvironment, type PostgresConnection, parsePostgresUrl } from './postgres-connection.js';
import { checkedScript, checkPlainScript, withoutLines } from './plain-script-check.js';
import { TRANSACTION_TIMEOUT_LINE, withoutTransactionTimeout } from './without-transaction-timeout.js';
import { judged, readBackupHead, readWholeBackup } from '../read-backup.js';
import { rolesReferenced, withoutRoles } from './role-references.js';
import {
  droppedReplacedWarning,
  freeReplacedName,
  REPLACED_SUFFIX_BYTES,
  replacedDatabase,
  swapIn,
} from './replaced-database.js';
import { CancelledError, ConfigError, IntegrityError, RestoreError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { pausePoint } from '../../pipeline/pause-point.js';
import { RunStop, settleWithin } from '../../pipeline/run-stop.js';
import { spawnDuplex, summarizeStderr } from '../../pipeline/child-process-stream.js';
import { type CommandResult, runCommand } from '../../pipeline/run-command.js';
import { redactText } from '../../redact.js';
import type {
  Destination,
  DestinationState,
  FetchedBackup,
  MissingRolesChoice,
  RestoreCheck,
  RestoreOptions,
  RestoreOutcome,
} from '../destination.js';
import type { Settings } from '../../settings.js';

/** The database dbbackup connects to for CREATE/ALTER/DROP DATABASE on the destination server. */
export const MAINTENANCE_DATABASES = ['postgres', 'template1'];
const MAX_IDENTIFIER = 63;
/** The archive entries that name roles besides owners: privileges, default privileges, policies. */
const ROLE_ENTRY = /^\d+; \d+ \d+ (ACL|DEFAULT ACL|POLICY) /;

/** The archive's entries that name roles, and the roles among those this server lacks. */
interface RolePlan {
  /** `pg_restore -C -l` of the whole archive: a pg_restore without -C passes over its database entries. */
  readonly toc: string;
  /** The SQL of its ACL, DEFAULT ACL and POLICY entries. */
  readonly sql: string;
  readonly missing: readonly string[];
}

/**
 * Restores into a PostgreSQL database by building a new database beside it
 * (`<name>__dbbackup_new_<random>`), restoring into that in one transaction, verifying it, and
 * only then swapping it in by two renames in one transaction. Until the swap the destination is
 * untouched; the swap itself is atomic. Leftovers of a killed restore are dropped by the next one.
 * The replaced database is kept (`<name>__replaced_<time>`), with every write acknowledged before
 * the swap, unless the restore is asked to drop it.
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

  async preflight(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<void> {
    // A whole read of the script (download, hash and check, nothing written): refused before the prompt.
    if (backup.format === 'plain') await checkScriptOnce(backup, options.signal);
    await this.withAdmin(async (admin) => {
      // Whatever the format: a client refused for this server must stop the restore before the safety backup.
      const { tool } = await this.restoreRoute(backup, manifest, admin);
      if (backup.format !== 'custom' || (options.missingRoles ?? 'refuse') !== 'refuse') return;
      const plan = await this.rolePlan(tool, backup, admin, options.signal);
      if (plan.missing.length > 0) throw missingRolesError(plan.missing);
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
    // Before anything is created or connected to: a script that is not pg_dump's never reaches psql.
    if (backup.format === 'plain') await stop.guard(checkScriptOnce(backup, stop.signal));
    const choice: MissingRolesChoice = options.missingRoles ?? 'refuse';
    const admin = await this.connectAdmin();
    const createdRoles: string[] = [];
    const { base, owner } = temporaryNaming(this.name);
    const run = randomBytes(4).toString('hex');
    const fresh = `${base}__dbbackup_new_${owner}_${run}`;
    let created = false;
    try {
      const route = await stop.guard(this.restoreRoute(backup, manifest, admin));
      const { tool } = route;
      // Two restores of one database never run at once; the lock dies with the connection if killed.
      await stop.guard(admin.query('select pg_advisory_lock(hashtext($1))', [`dbbackup restore ${this.name}`]));
      // Decided before anything is created: a refusal leaves the server exactly as it was.
      const roles = backup.format === 'custom' ? await stop.guard(this.rolePlan(tool, backup, admin, stop.signal)) : undefined;
      const missing = roles?.missing ?? [];
      if (missing.length > 0 && choice === 'refuse') throw missingRolesError(missing);
      await stop.guard(dropLeftovers(admin, this.name));
      const like = await stop.guard(databaseProperties(admin, this.name));
      // A new database would get the server's default ACL (PUBLIC may connect): it gets the archive's instead.
      const archiveAcl =
        !like && backup.format === 'custom' ? await stop.guard(this.archiveDatabaseAcl(tool, backup, stop.signal)) : [];
      options.onPhase?.('creating a new database');
      stop.check();
      await admin.query(`create database ${quoteIdent(fresh)} template template0${like ? createClauses(like) : ''}`);
      created = true;
      const warnings: string[] = [];
      if (like) warnings.push(...(await stop.guard(copyDatabaseProperties(admin, like, fresh))));
      else warnings.push(...(await stop.guard(applyArchiveDatabaseAcl(admin, archiveAcl, fresh))));
      if (missing.length > 0 && choice === 'create-nologin') {
        for (const role of missing) {
          await admin.query(`create role ${quoteIdent(role)} nologin`);
          createdRoles.push(role);
        }
        warnings.push(
          `created roles missing on this server, without login (grant them login or membership as they need): ${missing.join(', ')}`,
        );
      }
      await stop.guard(pausePoint('restore', this.settings));

      options.onPhase?.(
        backup.format === 'plain' ? 'running psql' : route.throughPsql ? 'running pg_restore into psql' : 'running pg_restore',
      );
      const skipped = missing.length > 0 && choice === 'skip-their-grants' ? roles : undefined;
      const ran = await stop.guard(this.runRestore(route, backup, fresh, { ...options, signal: stop.signal }, skipped));
      warnings.push(...ran.warnings);
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
      // The replaced database is kept, not dropped: it holds every write acknowledged until the swap.
      const replaced = like
        ? await freeReplacedName(admin, prefixOfBytes(this.name, MAX_IDENTIFIER - REPLACED_SUFFIX_BYTES), new Date())
        : undefined;
      await swapIn(admin, { name: this.name, fresh, replaced }, this.settings);
      created = false;
      const client = clientUsed(route, backup.format, ran.withoutTransactionTimeout);
      if (replaced === undefined) return { ...outcome, warnings: [...outcome.warnings, ...warnings], client };
      const fate = options.replacedContent ?? 'keep';
      if (fate !== 'keep') {
        const dropped = await admin.query(`drop database ${quoteIdent(replaced)} with (force)`).then(
          () => true,
          () => false,
        );
        if (dropped && fate === 'discard') return { ...outcome, warnings: [...outcome.warnings, ...warnings], client };
        if (dropped)
          return { ...outcome, warnings: [...outcome.warnings, ...warnings, droppedReplacedWarning(this.name, options)], client };
        warnings.push(`the replaced database could not be dropped, and is kept`);
      }
      return {
        ...outcome,
        warnings: [...outcome.warnings, ...warnings],
        replaced: replacedDatabase(this.name, replaced),
        client,
      };
    } catch (error) {
      // Bounded: a server that stopped answering must not hold a restore that has failed.
      await settleWithin(
        (async () => {
          await admin.query('rollback').catch(() => {});
          if (created) await admin.query(`drop database if exists ${quoteIdent(fresh)} with (force)`).catch(() => {});
          // The roles this restore created hold nothing once its database is gone.
          for (const role of createdRoles) await admin.query(`drop role if exists ${quoteIdent(role)}`).catch(() => {});
        })(),
      );
      if (
        error instanceof RestoreError ||
        error instanceof ConfigError ||
        error instanceof CancelledError ||
        error instanceof IntegrityError
      )
        throw error;
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

  /**
   * Picks the client that can read the archive and the route into this server (`choosePgRestoreRoute`):
   * for a custom archive the pg_restore, alone or written out into the psql beside it, for a plain
   * script the psql beside the chosen program. A psql the route needs and that is missing is refused
   * here, before anything is created.
   */
  private async restoreRoute(
    backup: FetchedBackup,
    manifest: Manifest | undefined,
    admin: pg.Client,
  ): Promise<PgRestoreRoute & { readonly server: PgServer }> {
    const [tools, server] = await Promise.all([
      findPgTools('pg_restore', this.settings),
      (async () => {
        const { rows } = await admin.query<{ num: string; version: string }>(
          "select current_setting('server_version_num') as num, current_setting('server_version') as version",
        );
        const row = rows[0] as { num: string; version: string };
        return { major: Math.floor(Number(row.num) / 10000), version: row.version };
      })(),
    ]);
    const dumpedBy = manifest?.engine_version.pg_dump ?? (await archiveVersion(tools[0], backup, this.settings.env));
    const route = choosePgRestoreRoute(tools, dumpedBy, { server, format: backup.format });
    if (route.throughPsql) {
      const psql = join(dirname(route.tool.path), 'psql');
      await fs.access(psql, constants.X_OK).catch(() => {
        throw new ConfigError(
          `restoring into PostgreSQL server ${server.version} needs psql beside ${route.tool.path}, and there is none (${psql})`,
          {
            hint: `install psql of PostgreSQL ${route.tool.major} (Debian: apt-get install postgresql-client-${route.tool.major})`,
          },
        );
      });
    }
    return { ...route, server };
  }

  /**
   * Runs pg_restore, pg_restore's SQL through psql, or psql into `database`, as `route` says. With
   * `skipped`, the entries naming missing roles are left out of pg_restore and applied afterwards, in
   * one transaction, without the missing roles. Resolves with the warnings, and whether the script's
   * `SET transaction_timeout` was left out.
   */
  private async runRestore(
    route: PgRestoreRoute,
    backup: FetchedBackup,
    database: string,
    options: RestoreOptions,
    skipped?: RolePlan,
  ): Promise<{ warnings: string[]; withoutTransactionTimeout: boolean }> {
    const { tool } = route;
    const url = new URL(this.conn.url);
    url.pathname = `/${encodeURIComponent(database)}`;
    const env = libpqEnvironment(this.conn, this.settings.env);
    const warnings: string[] = [];
    let result: CommandResult;
    const psql = join(dirname(tool.path), 'psql');
    const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '--no-password', `--dbname=${url}`];
    // Only on the way into psql, and only for a server before 17: the one line such a server rejects.
    const filter = route.withoutTransactionTimeout ? withoutTransactionTimeout() : undefined;
    if (backup.format === 'custom') {
      // Through psql, pg_restore only writes the SQL out (`-f -`): it never connects, psql holds the one transaction.
      const args = route.throughPsql
        ? ['--file=-']
        : ['--exit-on-error', '--single-transaction', '--no-password', `--dbname=${url}`];
      if (!options.keepOwner) args.push('--no-owner');
      const listFile = join(backup.scratchDir, 'without-role-entries.list');
      if (skipped) {
        // A TOC entry holds several statements for several roles: such entries are applied below, rewritten.
        // The list keeps the archive's order: pg_restore reads stdin once, and cannot go back for an entry.
        const toc = skipped.toc.split('\n').map((line) => (ROLE_ENTRY.test(line) ? `;${line}` : line));
        await fs.writeFile(listFile, toc.join('\n'));
        args.push('-L', listFile);
      }
      try {
        // The archive on stdin, as it downloads: read once, in order (hence no -j), never written to disk.
        result = route.throughPsql
          ? await restoreThroughPsql(tool.path, args, psql, psqlArgs, filter, backup, env, options.signal)
          : await restoreFromStream(tool.path, args, backup, env, options.signal);
      } finally {
        if (skipped) await fs.rm(listFile, { force: true });
      }
      if (skipped && result.code === 0) {
        const { sql, removed } = withoutRoles(skipped.sql, new Set(skipped.missing));
        const client = await connectPostgres(this.conn, database);
        try {
          await client.query('begin');
          await client.query(sql);
          await client.query('commit');
        } finally {
          await client.end().catch(() => {});
        }
        const left = removed.dropped.length;
        const shown = removed.dropped.slice(0, 3).join('; ');
        warnings.push(
          `roles missing on this server: ${skipped.missing.join(', ')}; left out ${left} statement${left === 1 ? '' : 's'} naming only them` +
            (left > 0 ? ` (${shown}${left > 3 ? '; …' : ''})` : '') +
            (removed.narrowed.length > 0 ? ` and took them out of ${removed.narrowed.length} more` : '') +
            '; every REVOKE and every grant to an existing role was restored',
        );
      }
    } else {
      result = await runPsql(psql, psqlArgs, filter, backup, env, options.signal);
    }
    if (result.code !== 0) {
      const said = redactText(summarizeStderr(result.stderr), [this.conn.password]) || `exit code ${result.code}, no message`;
      const who = backup.format === 'plain' ? 'psql' : route.throughPsql ? 'pg_restore into psql' : 'pg_restore';
      throw new RestoreError(`${who} failed: ${said}`, {
        hint: 'the destination was not changed',
      });
    }
    return { warnings, withoutTransactionTimeout: filter?.dropped ?? false };
  }

  /** The archive's entries that name roles (grantees, grantors, default privileges, policies), and those this server lacks. */
  private async rolePlan(tool: PgTool, backup: FetchedBackup, admin: pg.Client, signal?: AbortSignal): Promise<RolePlan> {
    const read = archiveRoles.get(backup) ?? (await this.readArchiveRoles(tool, backup, signal));
    archiveRoles.set(backup, read);
    // Asked again each time: roles may have been created or dropped since the preflight.
    const { rows } = await admin.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [read.roles]);
    const present = new Set(rows.map((r) => r.rolname));
    return { toc: read.toc, sql: read.sql, missing: read.roles.filter((r) => !present.has(r)) };
  }

  /** The archive's TOC, its role entries' SQL and the roles named there: from the archive's head, no data read. */
  private async readArchiveRoles(tool: PgTool, backup: FetchedBackup, signal?: AbortSignal): Promise<ArchiveRoles> {
    const env = this.settings.env;
    // The list with -C: its database entries are left alone by a pg_restore without -C, here and in the restore's -L.
    const toc = await archiveList(tool, backup, env, signal);
    // The database's own ACL entry is among them, and prints nothing without -C. It is not told apart
    // here: a table's ACL in a schema named "- DATABASE" reads the same, and would go unchecked.
    const entries = toc.split('\n').filter((line) => ROLE_ENTRY.test(line));
    if (entries.length === 0) return { toc, sql: '', roles: [] };
    const listFile = join(backup.scratchDir, 'role-entries.list');
    let sql: CommandResult;
    try {
      await fs.writeFile(listFile, `${entries.join('\n')}\n`);
      sql = await pgRestoreHead(tool.path, ['-L', listFile, '-f', '-'], backup, env, signal);
    } finally {
      await fs.rm(listFile, { force: true });
    }
    if (sql.code !== 0) throw new RestoreError(`pg_restore could not read the archive: ${summarizeStderr(sql.stderr)}`);
    return { toc, sql: sql.stdout, roles: rolesReferenced(sql.stdout) };
  }

  /**
   * The source database's own GRANTs and REVOKEs (`REVOKE CONNECT,TEMPORARY ON DATABASE … FROM PUBLIC`),
   * which the archive carries in its `ACL - DATABASE` entry and pg_restore prints only with `-C`: from
   * the archive's head, no data read.
   */
  private async archiveDatabaseAcl(tool: PgTool, backup: FetchedBackup, signal?: AbortSignal): Promise<DatabaseAclStatement[]> {
    const env = this.settings.env;
    const entries = (await archiveList(tool, backup, env, signal)).split('\n').filter((line) => DATABASE_ACL_ENTRY.test(line));
    if (entries.length === 0) return [];
    const listFile = join(backup.scratchDir, 'database-acl.list');
    let sql: CommandResult;
    try {
      await fs.writeFile(listFile, `${entries.join('\n')}\n`);
      sql = await pgRestoreHead(tool.path, ['-C', '-L', listFile, '-f', '-'], backup, env, signal);
    } finally {
      await fs.rm(listFile, { force: true });
    }
    if (sql.code !== 0) throw new RestoreError(`pg_restore could not read the archive: ${summarizeStderr(sql.stderr)}`);
    return parseDatabaseAcl(sql.stdout);
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
 * `pg_restore -C -l` of an archive, per backup and program: read once for the roles, the database's
 * ACL and, without a manifest, the version (preflight, then restore), since each read costs a
 * download's start. With -C it lists what -l does and the database's own entries besides.
 */
const archiveLists = new WeakMap<FetchedBackup, Map<string, string>>();

async function archiveList(
  tool: PgTool,
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv | undefined,
  signal: AbortSignal | undefined,
): Promise<string> {
  const known = archiveLists.get(backup)?.get(tool.path);
  if (known !== undefined) return known;
  const list = await pgRestoreHead(tool.path, ['-C', '-l'], backup, env, signal);
  if (list.code !== 0) throw new RestoreError(`pg_restore could not read the archive: ${summarizeStderr(list.stderr)}`);
  const lists = archiveLists.get(backup) ?? new Map<string, string>();
  archiveLists.set(backup, lists.set(tool.path, list.stdout));
  return list.stdout;
}

/** What the archive's head says about roles, read once per backup (preflight, then restore): each read costs a download's start. */
interface ArchiveRoles {
  readonly toc: string;
  readonly sql: string;
  readonly roles: readonly string[];
}
const archiveRoles = new WeakMap<FetchedBackup, ArchiveRoles>();

/** The scripts already checked whole (preflight, then restore, see the same backup), with their `\restrict` lines. */
const checkedScripts = new WeakMap<FetchedBackup, readonly number[]>();

/**
 * Refuses a plain script that is not pg_dump's before psql ever reads it (`PlainScriptCheck`): one
 * whole streaming read (download, SHA-256, check; nothing written). The restore checks it again as it
 * streams into psql, since a second read could differ from the first.
 */
async function checkScriptOnce(backup: FetchedBackup, signal?: AbortSignal): Promise<readonly number[]> {
  const known = checkedScripts.get(backup);
  if (known) return known;
  const restrictLines = await readWholeBackup(backup, signal, (archive) => checkPlainScript(archive));
  checkedScripts.set(backup, restrictLines);
  return restrictLines;
}

/** The psql releases with `\restrict` (August 2025): from these minors of each major, and every later major. */
const RESTRICT_SINCE: Readonly<Record<number, number>> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };

/**
 * Runs a plain script through psql as it downloads, each line checked before psql reads it (see
 * `checkedScript`), into the new database. Where psql has `\restrict`, psql itself refuses every
 * backslash command as well (under a key the script cannot know; the script's own `\restrict` lines
 * are left out by the check), should it ever read the script otherwise than the check did.
 */
async function runPsql(
  psql: string,
  args: string[],
  filter: Duplex | undefined,
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  return exitOf(
    readWholeBackup(backup, signal, async (archive) =>
      failOnExit(
        await runRestrictedPsql(psql, args, archive, [], { env, signal, stages: [...(filter ? [filter] : []), checkedScript()] }),
      ),
    ),
  );
}

/**
 * Runs an archive through `pg_restore -f -` (its SQL, as a plain dump holds it) and psql as it
 * downloads: archive → pg_restore → `filter` → the plain-script check → psql, one pipeline, so that
 * the first to fail (the read, pg_restore, the check, psql) stops all before psql commits, and both
 * programs die with this process. For a server that rejects what pg_restore itself would send it.
 */
async function restoreThroughPsql(
  pgRestore: string,
  pgRestoreArgs: readonly string[],
  psql: string,
  psqlArgs: readonly string[],
  filter: Duplex | undefined,
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  return exitOf(
    readWholeBackup(backup, signal, async (archive) => {
      const writer = spawnDuplex(pgRestore, pgRestoreArgs, {
        env,
        diesWithThisProcess: true,
        describeFailure: ({ exit, spawnError }) =>
          new ClientFailed({ code: 1, stdout: '', stderr: exit?.stderrTail ?? spawnError?.message ?? 'pg_restore failed' }),
      });
      const stages = [writer, ...(filter ? [filter] : []), checkedScript()];
      return failOnExit(await runRestrictedPsql(psql, psqlArgs, archive, [], { env, signal, stages }));
    }),
  );
}

/**
 * A client program's failure inside `readWholeBackup`: thrown, so that the stored bytes are judged
 * before the program's complaint is believed, and turned back into its exit by `exitOf`.
 */
class ClientFailed extends Error {
  constructor(readonly result: CommandResult) {
    super(result.stderr);
  }
}

function failOnExit(result: CommandResult): CommandResult {
  if (result.code !== 0) throw new ClientFailed(result);
  return result;
}

async function exitOf(running: Promise<CommandResult>): Promise<CommandResult> {
  try {
    return await running;
  } catch (error) {
    if (error instanceof ClientFailed) return error.result;
    throw error;
  }
}

/**
 * Runs `script` (a file, or a stream) through psql (`args` name the database and the options),
 * restricted to no backslash command where psql can be (`\restrict`, psql 13.22, 14.19, 15.14, 16.10,
 * 17.6 and later), leaving out the script's own `restrictLines`. A failing `script` stream fails the
 * run with its own error (psql is stopped before its transaction commits). Exported for the test that
 * shows psql's own refusal.
 */
export async function runRestrictedPsql(
  psql: string,
  args: readonly string[],
  script: string | Readable,
  restrictLines: readonly number[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; stages?: readonly Duplex[] },
): Promise<CommandResult> {
  const { env, signal, stages = [] } = options;
  const version = /(\d+)(?:\.(\d+))?/.exec((await runCommand(psql, ['--version'], { env })).stdout);
  const major = Number(version?.[1] ?? 0);
  const minor = Number(version?.[2] ?? 0);
  const restrict = major >= 18 || minor >= (RESTRICT_SINCE[major] ?? Infinity);
  const input = typeof script === 'string' ? createReadStream(script) : script;
  const restrictArgs = restrict ? ['-c', `\\restrict ${randomBytes(24).toString('hex')}`] : [];
  return pipeIntoClient(psql, [...args, ...restrictArgs, '-f', '-'], [input, ...stages, withoutLines(restrictLines)], {
    env,
    signal,
  });
}

/**
 * Pipes `sources` (a stream, then any stages) into `program`'s stdin, which dies with this process,
 * to its exit: code 1 with its stderr when the program failed first; the first failure of a source
 * or stage (the read, pg_restore before psql, the check) is thrown as its own, not the program's
 * complaint about its cut input.
 */
async function pipeIntoClient(
  program: string,
  args: readonly string[],
  sources: readonly [Readable, ...Duplex[]],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<CommandResult> {
  let childFailed = false;
  let stderr = '';
  const child = spawnDuplex(program, args, {
    env: options.env,
    diesWithThisProcess: true,
    describeFailure: ({ exit, spawnError }) => {
      childFailed = true;
      stderr = exit?.stderrTail ?? spawnError?.message ?? '';
      return new Error(stderr);
    },
  });
  child.resume();
  try {
    await pipeline([...sources, child], { signal: options.signal });
    return { code: 0, stdout: '', stderr: '' };
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (!childFailed || error instanceof ClientFailed) throw error;
    return { code: 1, stdout: '', stderr: stderr || (error as Error).message };
  }
}

/**
 * Runs pg_restore (`args` name the database and the options) on the archive as it downloads, on its
 * stdin, to its exit; fails with the archive's own error when the read fails (a corrupt or cut
 * download), which stops pg_restore before it commits. The destination waits for the read's verdict.
 */
async function restoreFromStream(
  pgRestore: string,
  args: readonly string[],
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  return exitOf(
    readWholeBackup(backup, signal, async (archive) =>
      failOnExit(await pipeIntoClient(pgRestore, args, [archive], { env, signal })),
    ),
  );
}

/**
 * Runs pg_restore on the head of the archive only (`-l`, or `-L` of entries without data): it stops
 * reading once it has the table of contents, and so does the download. Resolves for any exit code;
 * fails with the archive's own error should the read fail before pg_restore is done.
 */
async function pgRestoreHead(
  pgRestore: string,
  args: readonly string[],
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv | undefined,
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  const { result } = await readBackupHead(
    backup,
    signal,
    (archive) =>
      new Promise<CommandResult>((resolve, reject) => {
        const child = spawn(pgRestore, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let readError: Error | undefined;
        child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
        child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-8192)));
        // pg_restore closes its stdin once it has what it needs: the rest is not read.
        child.stdin.on('error', () => {});
        archive.on('error', (error) => {
          readError = error;
          child.kill('SIGTERM');
        });
        archive.pipe(child.stdin);
        const abort = () => child.kill('SIGTERM');
        signal?.addEventListener('abort', abort, { once: true });
        child.on('error', reject);
        child.on('close', (code) => {
          signal?.removeEventListener('abort', abort);
          if (signal?.aborted) reject(signal.reason);
          else if (readError && code !== 0) reject(readError);
          else resolve({ code: code ?? 1, stdout, stderr });
        });
      }),
  );
  // pg_restore cannot read it: corrupt stored bytes are what the user must hear of.
  if (result.code !== 0) {
    const error = await judged(backup, signal, new ClientFailed(result));
    if (!(error instanceof ClientFailed)) throw error;
  }
  return result;
}

/**
 * The longest start of `name` that fits in `bytes` bytes of UTF-8, whole characters only: the server
 * would cut a longer identifier at 63 bytes, cutting off the suffix that tells its databases apart.
 */
export function prefixOfBytes(name: string, bytes: number): string {
  let prefix = '';
  for (const char of name) {
    if (Buffer.byteLength(prefix + char) > bytes) break;
    prefix += char;
  }
  return prefix;
}

/**
 * How the temporary databases of restores into `name` are named: `<base>__dbbackup_new_<owner>_<run>`.
 * The base is the name cut to fit 63 bytes, so two names that share a long start share it; the
 * owner, a hash of the whole name, tells their temporary databases apart, so that one restore
 * never drops another's.
 */
export function temporaryNaming(name: string): { base: string; owner: string } {
  const owner = createHash('sha256').update(name).digest('hex').slice(0, 8);
  const base = prefixOfBytes(name, MAX_IDENTIFIER - '__dbbackup_new_'.length - owner.length - '_'.length - 8);
  return { base, owner };
}

/**
 * Drops the databases left by restores into `name` that were killed before their swap (we hold
 * this name's restore lock, so none of them is in use): its own temporary names only, and those of
 * earlier versions (`<name>__dbbackup_new_<run>`) when the whole name was in them. Never a replaced
 * database: neither one kept by a restore (`<base>__replaced_<time>`), nor one an earlier version
 * meant to drop after its swap and did not (`…__dbbackup_old_…`), which holds the last writes made to it.
 */
async function dropLeftovers(admin: pg.Client, name: string): Promise<void> {
  const { base, owner } = temporaryNaming(name);
  // left() and substr() count characters, as [...] does (length counts UTF-16 units).
  const start = `${base}__dbbackup_`;
  const legacyStart = `${name}__dbbackup_`;
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database
      where (left(datname, $2) = $1 and substr(datname, $2 + 1) ~ ('^new_' || $3 || '_[0-9a-f]{8}$'))
         or (left(datname, $5) = $4 and substr(datname, $5 + 1) ~ '^new_[0-9a-f]{8}$')`,
    [start, [...start].length, owner, legacyStart, [...legacyStart].length],
  );
  for (const { datname } of rows) await admin.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
}

/** The refusal when roles are missing: it names them and the choices, and nothing has been changed. */
function missingRolesError(missing: readonly string[]): ConfigError {
  const named = missing.map((r) => `"${r}"`).join(', ');
  return new ConfigError(
    `the backup's privileges or policies name ${missing.length === 1 ? 'a role' : 'roles'} that this server does not have: ${named}; nothing was changed`,
    {
      hint: (w) =>
        'roles belong to the server, not to a database backup: create them first (pg_dumpall -r on the source server writes them), ' +
        `or restore with ${w.setting('missingRoles', 'create-nologin')} to create them without login, ` +
        `or with ${w.setting('missingRoles', 'skip-their-grants')} to leave out only their grants and policies (every REVOKE and every other grant is kept)`,
    },
  );
}

/**
 * What `pg_dump --create` carries for a database itself: the properties CREATE DATABASE fixes, then
 * its owner, ACL, settings (its own and each role's in it), comment and security labels.
 */
interface DatabaseProperties {
  readonly oid: number;
  readonly owner: string;
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
  /** `c` libc, `i` ICU, `b` builtin (PostgreSQL 17). Absent before PostgreSQL 15. */
  readonly provider?: string;
  readonly locale?: string;
  readonly icuRules?: string;
  readonly tablespace: string;
  readonly connectionLimit: number;
  /** The ACL as privileges, or undefined for the default (PUBLIC may connect and create temporary tables). */
  readonly acl?: ReadonlyArray<{ grantee: string | null; privilege: string; grantable: boolean }>;
  /** `name=value` settings, `role` undefined for the database's own. */
  readonly settings: ReadonlyArray<{ role?: string; setting: string }>;
  readonly comment?: string;
  readonly labels: ReadonlyArray<{ provider: string; label: string }>;
}

async function databaseProperties(admin: pg.Client, name: string): Promise<DatabaseProperties | undefined> {
  // row_to_json: the locale columns differ by server version (daticulocale 15-16, datlocale 17).
  const { rows } = await admin.query<{ d: Record<string, unknown>; tablespace: string; owner: string; comment: string | null }>(
    `select row_to_json(d) as d, pg_encoding_to_char(d.encoding) as encoding, t.spcname as tablespace,
            pg_get_userbyid(d.datdba) as owner, shobj_description(d.oid, 'pg_database') as comment
       from pg_database d join pg_tablespace t on t.oid = d.dattablespace where d.datname = $1`,
    [name],
  );
  const row = rows[0] as (typeof rows)[number] & { encoding: string };
  if (!row) return undefined;
  const d = row.d;
  const oid = Number(d.oid);
  const acl = await admin.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `select case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end as grantee, a.privilege_type as privilege,
            a.is_grantable as grantable
       from pg_database d, aclexplode(d.datacl) a where d.oid = $1 order by 1 nulls first, 2`,
    [oid],
  );
  const settings = await admin.query<{ role: string | null; setting: string }>(
    `select case when s.setrole = 0 then null else pg_get_userbyid(s.setrole) end as role, c.setting
       from pg_db_role_setting s, unnest(s.setconfig) with ordinality c(setting, n) where s.setdatabase = $1 order by s.setrole, c.n`,
    [oid],
  );
  const labels = await admin.query<{ provider: string; label: string }>(
    `select provider, label from pg_shseclabel where objoid = $1 and classoid = 'pg_database'::regclass order by provider`,
    [oid],
  );
  return {
    oid,
    owner: row.owner,
    encoding: row.encoding,
    collate: String(d.datcollate),
    ctype: String(d.datctype),
    provider: typeof d.datlocprovider === 'string' ? d.datlocprovider : undefined,
    locale: (d.datlocale ?? d.daticulocale ?? undefined) as string | undefined,
    icuRules: (d.daticurules ?? undefined) as string | undefined,
    tablespace: row.tablespace,
    connectionLimit: Number(d.datconnlimit),
    acl: d.datacl === null ? undefined : acl.rows,
    settings: settings.rows.map((r) => ({ role: r.role ?? undefined, setting: r.setting })),
    comment: row.comment ?? undefined,
    labels: labels.rows,
  };
}

const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The CREATE DATABASE clauses that give the new database the old one's encoding, locale, tablespace and connection limit. */
function createClauses(like: DatabaseProperties): string {
  let clauses = ` encoding ${literal(like.encoding)} lc_collate ${literal(like.collate)} lc_ctype ${literal(like.ctype)}`;
  if (like.provider === 'i') {
    clauses += ` locale_provider icu icu_locale ${literal(like.locale ?? '')}`;
    if (like.icuRules) clauses += ` icu_rules ${literal(like.icuRules)}`;
  } else if (like.provider === 'b') {
    clauses += ` locale_provider builtin builtin_locale ${literal(like.locale ?? '')}`;
  } else if (like.provider === 'c') {
    clauses += ' locale_provider libc';
  }
  if (like.tablespace !== 'pg_default') clauses += ` tablespace ${quoteIdent(like.tablespace)}`;
  if (like.connectionLimit !== -1) clauses += ` connection limit ${like.connectionLimit}`;
  return clauses;
}

/**
 * The settings whose value is a list of names (the server's GUC_LIST_QUOTE ones, as pg_dump lists them):
 * stored as `app, "My Schema"`, set back as one literal per element, or they become one quoted name.
 */
const LIST_SETTINGS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** `SET name TO value` for a stored `name=value`, as pg_dump writes it. */
function setClause(setting: string): string {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  if (!LIST_SETTINGS.has(name.toLowerCase())) return `set ${quoteIdent(name)} to ${literal(value)}`;
  return `set ${quoteIdent(name)} to ${splitNameList(value).map(literal).join(', ')}`;
}

/** The elements of a stored list setting: comma-separated, each bare or double-quoted (as the server's SplitGUCList). */
function splitNameList(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ') i++;
    let item = '';
    if (value[i] === '"') {
      i++;
      while (i < value.length) {
        if (value[i] === '"' && value[i + 1] === '"') {
          item += '"';
          i += 2;
        } else if (value[i] === '"') break;
        else item += value[i++];
      }
      i++;
    } else {
      while (i < value.length && value[i] !== ',') item += value[i++];
      item = item.trim();
    }
    items.push(item);
    while (value[i] === ' ') i++;
    if (value[i] === ',') i++;
  }
  return items;
}

/**
 * Gives the new database the old one's owner, ACL, settings (its own and each role's in it), comment
 * and security labels. What the restoring user may not set (a superuser-only setting, another role's
 * setting without CREATEROLE) is skipped and named, rather than making an owner's restore impossible.
 */
async function copyDatabaseProperties(admin: pg.Client, like: DatabaseProperties, fresh: string): Promise<string[]> {
  const warnings: string[] = [];
  const db = quoteIdent(fresh);
  const attempt = async (statement: string, skipped: string) => {
    try {
      await admin.query(statement);
    } catch (error) {
      warnings.push(`${skipped} was not restored: ${postgresMessage(error)}`);
    }
  };
  await attempt(
    `alter database ${db} owner to ${quoteIdent(like.owner)}`,
    `the owner "${like.owner}" (the restoring user owns it)`,
  );
  if (like.acl) {
    // From no privileges at all to exactly the old ACL: a REVOKE CONNECT FROM PUBLIC stays revoked.
    await admin.query(`revoke all on database ${db} from public`);
    await admin.query(`revoke all on database ${db} from ${quoteIdent(like.owner)}`);
    for (const entry of like.acl) {
      const grantee = entry.grantee === null ? 'public' : quoteIdent(entry.grantee);
      await attempt(
        `grant ${entry.privilege} on database ${db} to ${grantee}${entry.grantable ? ' with grant option' : ''}`,
        `the privilege ${entry.privilege} of ${entry.grantee ?? 'PUBLIC'}`,
      );
    }
  }
  for (const { role, setting } of like.settings) {
    const statement = role
      ? `alter role ${quoteIdent(role)} in database ${db} ${setClause(setting)}`
      : `alter database ${db} ${setClause(setting)}`;
    await attempt(
      statement,
      role ? `the setting ${setting} of role "${role}" in this database` : `the database setting ${setting}`,
    );
  }
  if (like.comment !== undefined) await attempt(`comment on database ${db} is ${literal(like.comment)}`, 'the comment');
  for (const { provider, label } of like.labels) {
    await attempt(
      `security label for ${quoteIdent(provider)} on database ${db} is ${literal(label)}`,
      `the ${provider} security label`,
    );
  }
  return warnings;
}

/** The archive's TOC line of the database's own ACL (listed with `pg_restore -C -l` only). */
const DATABASE_ACL_ENTRY = /^\d+; 0 0 ACL - DATABASE /;
const ROLE_NAME = '(?:PUBLIC|"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)';
/** One GRANT or REVOKE as pg_dump writes it for a database: nothing else of that SQL is ever run. */
const DATABASE_ACL_LINE = new RegExp(
  `^(GRANT|REVOKE) (ALL|[A-Z]+(?:,[A-Z]+)*) ON DATABASE (?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*) (TO|FROM) (${ROLE_NAME})( WITH GRANT OPTION)?;$`,
);

interface DatabaseAclStatement {
  readonly verb: 'GRANT' | 'REVOKE';
  readonly privileges: string;
  readonly grantee: string;
  readonly grantOption: boolean;
}

/** The GRANT and REVOKE lines on a database in pg_restore's SQL, in order; every other line is ignored. */
export function parseDatabaseAcl(sql: string): DatabaseAclStatement[] {
  const out: DatabaseAclStatement[] = [];
  for (const line of sql.split('\n')) {
    const match = DATABASE_ACL_LINE.exec(line);
    if (!match) continue;
    out.push({
      verb: match[1] as 'GRANT' | 'REVOKE',
      privileges: match[2] ?? '',
      grantee: match[4] ?? '',
      grantOption: match[5] !== undefined,
    });
  }
  return out;
}

/**
 * Applies the source database's GRANTs and REVOKEs to a database the restore created, as pg_dump
 * --create would: from the server's default ACL, so that `REVOKE CONNECT FROM PUBLIC` stays revoked.
 * A grant that fails (its role is missing here) is named in a warning: it grants less, never more.
 */
async function applyArchiveDatabaseAcl(
  admin: pg.Client,
  statements: readonly DatabaseAclStatement[],
  fresh: string,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const { verb, privileges, grantee, grantOption } of statements) {
    const statement = `${verb} ${privileges} ON DATABASE ${quoteIdent(fresh)} ${verb === 'GRANT' ? 'TO' : 'FROM'} ${grantee}`;
    try {
      await admin.query(`${statement}${grantOption ? ' WITH GRANT OPTION' : ''}`);
    } catch (error) {
      // A REVOKE from a role this server lacks takes nothing away: that role holds nothing here.
      if (verb === 'GRANT')
        warnings.push(`the privilege ${privileges} of ${grantee} on the database was not restored: ${postgresMessage(error)}`);
    }
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
async function archiveVersion(
  tool: PgTool | undefined,
  backup: FetchedBackup,
  env: NodeJS.ProcessEnv | undefined,
): Promise<string | undefined> {
  if (!tool || backup.format !== 'custom') return undefined;
  // A program too old for the archive cannot list it: the route then names what can.
  const list = await archiveList(tool, backup, env, undefined).catch((error: unknown) => {
    if (error instanceof RestoreError) return '';
    throw error;
  });
  const match = /Dumped by pg_dump version (\S+)/.exec(list);
  return match ? `pg_dump (PostgreSQL) ${match[1]}` : undefined;
}

/**
 * The client programs that restored, as the result and the output name them: `pg_restore (PostgreSQL)
 * 17.6 … (path) through psql 17 (path), without SET transaction_timeout, which PostgreSQL 16.4 does not know`.
 */
function clientUsed(route: PgRestoreRoute & { readonly server: PgServer }, format: string, dropped: boolean): string {
  const { tool, server } = route;
  const psql = `psql ${tool.major} (${join(dirname(tool.path), 'psql')})`;
  const used = format === 'plain' ? psql : `${tool.version} (${tool.path})${route.throughPsql ? ` through ${psql}` : ''}`;
  const setting = TRANSACTION_TIMEOUT_LINE.replace(/ = 0;$/, '');
  return dropped ? `${used}, without ${setting}, which PostgreSQL ${server.version} does not know` : used;
}
