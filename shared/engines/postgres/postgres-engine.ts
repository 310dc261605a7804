import type { Readable } from 'node:stream';
import type pg from 'pg';
import { ConfigError, DumpError } from '../../errors.js';
import { spawnReadable, summarizeStderr } from '../../pipeline/child-process-stream.js';
import { type ChainProgram, spawnChain } from '../../pipeline/program-chain.js';
import { redactText } from '../../redact.js';
import { type Dump, type DumpOptions, type Engine, failWithCounts, type SourceInfo, type TableCounts } from '../engine.js';
import { choosePgDump, findPgTools, type PgTool } from './find-pg-tools.js';
import { closeClient, connectPostgres } from './postgres-client.js';
import { countRows, listUserTables, lockTable, type UserTable } from './postgres-tables.js';
import { libpqEnvironment, type PostgresConnection, parsePostgresUrl } from './postgres-connection.js';
import type { Settings } from '../../settings.js';

/**
 * The longest any one of the session's queries may take (an exact count of a large table, the
 * snapshot's export): a server that stops answering fails the probe instead of holding it, yet a
 * count of a table of hundreds of GB still finishes. The run's own deadline bounds the whole.
 */
const PROBE_QUERY_TIMEOUT_MS = 60 * 60_000;

/**
 * How long a backup waits, by default, for a table another session has locked. A dump needs a
 * shared lock on every table; behind an ALTER TABLE or VACUUM FULL it would otherwise wait until the
 * run's deadline (the function's 15 minutes, the task's hours) and fail there, unexplained.
 */
export const DEFAULT_LOCK_WAIT_SECONDS = 300;

/** How often the server checks, while a query of the probe's session runs, that dbbackup is still there. */
const CONNECTION_CHECK_MS = 1_000;

/** PostgreSQL's lock_not_available: a lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Options of the PostgreSQL engine. */
export interface PostgresEngineOptions {
  /** Overrides the database name used in keys and manifests. @default the database's name */
  readonly label?: string;
  /** How long the probe and pg_dump wait for each table's lock. @default DEFAULT_LOCK_WAIT_SECONDS */
  readonly lockWaitSeconds?: number;
  readonly settings: Settings;
}

interface Probed {
  readonly info: SourceInfo;
  readonly pgDump: PgTool;
  /** The tables the session holds a shared lock on, which the dump counts. */
  readonly tables: readonly UserTable[];
  /**
   * The probe's connection, open until the dump ends: it holds the advisory lock that keeps a
   * second backup of this database from running alongside, and (until pg_dump's first byte and
   * the last count) the transaction whose snapshot pg_dump imports, so the counts describe
   * exactly what is dumped.
   */
  readonly session: pg.Client;
  readonly snapshotId?: string;
}

/** Backs up a PostgreSQL database with `pg_dump` (custom format by default, uncompressed: compression happens once, downstream). */
export class PostgresEngine implements Engine {
  readonly kind = 'postgres' as const;
  private readonly conn: PostgresConnection;
  private readonly settings: Settings;
  private readonly label: string | undefined;
  private readonly lockWaitMs: number;
  private probed: Probed | undefined;
  private probing: Promise<SourceInfo> | undefined;
  /** The probe's connection from the moment it is open, so that close() can end it whatever the probe is doing. */
  private session: pg.Client | undefined;
  private dumping: Readable | undefined;
  /** Aborted by close(): a probe still connecting stops at once. */
  private readonly closing = new AbortController();

  constructor(url: string, options: PostgresEngineOptions) {
    this.settings = options.settings;
    this.conn = parsePostgresUrl(url, this.settings.env);
    this.label = options.label;
    this.lockWaitMs = Math.max(1, Math.round((options.lockWaitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS) * 1000));
  }

  get database(): string {
    return this.label ?? this.conn.database;
  }

  /** Connects, checks, takes the lock and exports the snapshot; once, however often it is called. */
  probe(): Promise<SourceInfo> {
    this.probing ??= this.probeOnce();
    return this.probing;
  }

  private async probeOnce(): Promise<SourceInfo> {
    this.closing.signal.throwIfAborted();
    // One connection for everything (each login costs a SCRAM handshake); the tools are probed meanwhile.
    const [connected, found] = await Promise.allSettled([
      connectPostgres(this.conn, undefined, { signal: this.closing.signal, queryTimeoutMs: PROBE_QUERY_TIMEOUT_MS }),
      findPgTools('pg_dump', this.settings),
    ]);
    if (connected.status === 'rejected') throw connected.reason;
    const client = connected.value;
    this.session = client;
    let keepOpen = false;
    const database = this.database;
    try {
      if (found.status === 'rejected') throw found.reason;
      const tools = found.value;
      const { rows } = await client.query<{ num: string; version: string; size: string }>(
        `select current_setting('server_version_num') as num, current_setting('server_version') as version,
                pg_database_size(current_database())::text as size`,
      );
      const server = rows[0] as { num: string; version: string; size: string };
      if (tools.length === 0) {
        throw new ConfigError('pg_dump was not found (searched DBBACKUP_PG_BIN_DIR, PATH and /usr/lib/postgresql/*/bin)', {
          hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client) or set DBBACKUP_PG_BIN_DIR',
        });
      }
      const pgDump = choosePgDump(tools, Math.floor(Number(server.num) / 10000), server.version);
      const { rows: lock } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
        `dbbackup backup ${database}`,
      ]);
      if (!lock[0]?.ok) {
        throw new DumpError(`another backup of ${database} on ${this.conn.host}:${this.conn.port} is already running`, {
          hint: 'nothing was stored by this run; let the other one finish',
        });
      }
      // The probe takes the same shared locks pg_dump does, and waits no longer for them.
      await client.query(`set lock_timeout = ${this.lockWaitMs}`);
      // A server process notices its client gone only when it next writes to it: a count of a large
      // table would run on after the backup stopped (or its query_timeout fired), holding the
      // advisory lock, and the next backup would be refused as "already running" until it ended.
      // PostgreSQL 14+ can check the socket while a query runs; older servers lack the setting.
      if (Number(server.num) >= 140000) await client.query(`set client_connection_check_interval = ${CONNECTION_CHECK_MS}`);
      const snapshotId = await exportSnapshot(client);
      // Locked now, before pg_dump starts, and held until the last count: a table another session
      // holds fails the backup here, and an ALTER TABLE arriving during the dump queues behind the
      // backup instead of holding a count up (and failing the backup after the lock wait).
      const tables = await listUserTables(client);
      await lockTables(client, tables, (table) => this.lockWaitError(database, table));
      // close() may have ended the session while the last query ran: then this probe has failed.
      this.closing.signal.throwIfAborted();
      const info: SourceInfo = {
        engine: 'postgres',
        database,
        description: this.conn.url,
        engineVersion: { server: server.version, pg_dump: pgDump.version },
        databaseSizeBytes: Number(server.size),
      };
      this.probed = { info, pgDump, tables, session: client, snapshotId };
      keepOpen = true;
      return info;
    } catch (error) {
      throw this.readingFailure(error);
    } finally {
      if (!keepOpen) await closeClient(client);
    }
  }

  /**
   * Releases everything: ends a probe still running (its connection is closed under it), the
   * snapshot's session with its lock, and a dump still running. Safe at any time, and more than once.
   */
  async close(): Promise<void> {
    if (!this.closing.signal.aborted) {
      this.closing.abort(new DumpError(`reading ${this.conn.url} stopped: the backup has ended`));
    }
    this.dumping?.destroy();
    await Promise.all([this.session && closeClient(this.session), this.probing?.catch(() => {})]);
  }

  /** What a query of the session failed with, as the backup reports it (the password redacted). */
  private readingFailure(error: unknown): unknown {
    if (this.closing.signal.aborted) return this.closing.signal.reason;
    if (error instanceof ConfigError || error instanceof DumpError) return error;
    return new DumpError(
      `reading ${this.conn.url} failed: ${redactText(String((error as Error).message), [this.conn.password])}`,
      {
        cause: error,
      },
    );
  }

  /** A dump that waited its whole lock wait for `table` (when known), in words naming the setting. */
  private lockWaitError(database: string, table: string | undefined): DumpError {
    const seconds = Math.round(this.lockWaitMs / 100) / 10;
    return new DumpError(
      `backup of ${database} waited ${seconds} s for a table lock held by another session${table ? ` (${table})` : ''}`,
      {
        hint: (w) =>
          `no backup was stored; let the other session (an ALTER TABLE, a VACUUM FULL, a long transaction) finish ` +
          `and run the backup again, or wait longer with ${w.setting('lockWaitSeconds')}`,
      },
    );
  }

  async dump(options: DumpOptions = {}): Promise<Dump> {
    // The caller chose among this engine's declared formats (run-backup checks the choice).
    const format = options.format ?? 'custom';
    this.closing.signal.throwIfAborted();
    if (!this.probed) await this.probe();
    const { pgDump, tables, session, snapshotId } = this.probed as Probed;
    let firstOutput!: () => void;
    const outputStarted = new Promise<void>((resolve) => (firstOutput = resolve));
    // Ending the session ends its transaction too, and releases the lock, whatever the server is doing.
    const release = once(() => closeClient(session));
    // -Z0: pg_dump would otherwise compress with zlib on one core, and we compress again downstream.
    const args = [`--format=${format}`, '--no-password', `--dbname=${this.conn.url}`];
    if (format === 'custom') args.push('-Z0');
    if (snapshotId) args.push(`--snapshot=${snapshotId}`);
    args.push(`--lock-wait-timeout=${this.lockWaitMs}`);
    const program: ChainProgram = {
      command: pgDump.path,
      args,
      env: libpqEnvironment(this.conn, this.settings.env),
      describeFailure: ({ exit, spawnError }) => {
        if (spawnError) {
          return new ConfigError(`pg_dump could not be started (${pgDump.path}): ${spawnError.message}`, {
            hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client)',
          });
        }
        const stderr = exit?.stderrTail ?? '';
        // pg_dump runs with statement_timeout 0 except while it locks the tables, when --lock-wait-timeout
        // sets it: "canceling statement due to statement timeout … Query was: LOCK TABLE public.t IN ACCESS SHARE MODE".
        if (/statement timeout|lock timeout|could not obtain lock/.test(stderr))
          return this.lockWaitError(this.label ?? this.conn.database, /LOCK TABLE (\S+)/.exec(stderr)?.[1]);
        const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
        const said = redactText(summarizeStderr(stderr), [this.conn.password]);
        return new DumpError(`pg_dump of ${this.conn.url} ${how}${said ? `: ${said}` : ''}`, {
          hint: 'no backup was stored; check the message above and run the backup again',
        });
      },
    };
    // pg_dump writes straight into the programs asked for (a compressor): its bytes never pass through here.
    const chain = options.through?.length
      ? spawnChain([program, ...options.through], { onFirstOutput: () => firstOutput() })
      : undefined;
    const stream =
      chain?.output ??
      spawnReadable(program.command, program.args, {
        env: program.env,
        onFirstOutput: () => firstOutput(),
        describeFailure: program.describeFailure,
      });
    this.dumping = stream;
    // Counted while pg_dump runs, in the snapshot it imports: the dump need not wait for them, and
    // they describe exactly what it writes.
    const tableCounts = tableCountsOf(session, tables, snapshotId !== undefined).catch((error: unknown) => {
      throw this.readingFailure(error);
    });
    failWithCounts(stream, tableCounts);
    // pg_dump imports the snapshot before it writes its first byte; the exporting transaction may
    // end once that has happened and the counts, which read in it, are done.
    void Promise.all([outputStarted, tableCounts.catch(() => {})]).then(() => session.query('commit').catch(() => {}));
    // The lock is held until cleanup, after the manifest: a second run must not start while this one commits.
    return {
      stream,
      format,
      chain,
      tableCounts,
      cleanup: async () => {
        stream.destroy();
        await release();
      },
    };
  }
}

/**
 * Starts a repeatable-read transaction and exports its snapshot for pg_dump, so the row counts
 * taken in it describe exactly the dumped data. Undefined where the server cannot export one:
 * the counts are then from a moment near the dump's, still in one transaction, which holds the
 * tables' locks, and the manifest marks them estimated.
 */
async function exportSnapshot(client: pg.Client): Promise<string | undefined> {
  const begin = 'begin isolation level repeatable read read only';
  try {
    await client.query(begin);
    const { rows } = await client.query<{ id: string }>('select pg_export_snapshot() as id');
    return rows[0]?.id;
  } catch {
    await client.query('rollback').catch(() => {});
    await client.query(begin);
    return undefined;
  }
}

/** Takes a shared lock on each table (held to the transaction's end), waiting at most the session's lock_timeout for each. */
async function lockTables(
  client: pg.Client,
  tables: readonly UserTable[],
  lockWaitError: (table: string) => DumpError,
): Promise<void> {
  for (const table of tables) {
    try {
      await lockTable(client, table);
    } catch (error) {
      if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) throw lockWaitError(table.qualified);
      throw error;
    }
  }
}

/**
 * Exact row counts per table for the manifest, taken in the exported snapshot, so they describe
 * exactly the rows pg_dump writes and a restore can hold the restored tables to them. No planner
 * estimate: reltuples is 0 (-1) until a table is first analyzed and stale after bulk changes, and a
 * restore checked against it refused good backups.
 */
async function tableCountsOf(client: pg.Client, tables: readonly UserTable[], inDumpSnapshot: boolean): Promise<TableCounts> {
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table.qualified] = await countRows(client, table);
  // Without the exported snapshot pg_dump reads its own, a moment later: rows written in between
  // are in the dump but not in the counts, and a restore held to them exactly would refuse a good
  // backup. Marked estimated, the restore checks them as such.
  return { tables: counts, estimated: inDumpSnapshot ? [] : Object.keys(counts) };
}

function once(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= work();
    return running;
  };
}
