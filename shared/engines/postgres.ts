import pg from 'pg';
import { ConfigError, DumpError } from '../errors.js';
import { spawnReadable } from '../pipeline/child-process-stream.js';
import { redactText } from '../redact.js';
import type { Dump, DumpFormat, Engine, SourceInfo, TableCounts } from './engine.js';
import { keySafeName } from './engine.js';
import { choosePgTool, findPgTools, type PgTool } from './find-pg-tools.js';
import { libpqEnvironment, type PostgresConnection, parsePostgresUrl } from './postgres-connection.js';

/** Tables smaller than this on disk get an exact `count(*)` in the manifest; larger ones the planner's estimate. */
const EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024;

/** Options of the PostgreSQL engine. */
export interface PostgresEngineOptions {
  /** Overrides the database name used in keys and manifests. @default the database's name */
  readonly label?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Backs up a PostgreSQL database with `pg_dump` (custom format by default, uncompressed: compression happens once, downstream). */
export class PostgresEngine implements Engine {
  readonly kind = 'postgres' as const;
  private readonly conn: PostgresConnection;
  private readonly env: NodeJS.ProcessEnv;
  private readonly label: string | undefined;
  private probed: { info: SourceInfo; pgDump: PgTool; tableCounts: TableCounts } | undefined;

  constructor(url: string, options: PostgresEngineOptions = {}) {
    this.env = options.env ?? process.env;
    this.conn = parsePostgresUrl(url, this.env);
    this.label = options.label;
  }

  /** The connection as shown to users: `postgres://user@host:5432/db`. */
  get description(): string {
    return this.conn.url;
  }

  async probe(): Promise<SourceInfo> {
    // One connection for everything: each login costs a SCRAM handshake, and the tools are probed meanwhile.
    const [{ server, tableCounts }, tools] = await Promise.all([
      this.withClient(async (client) => {
        const { rows } = await client.query<{ num: string; version: string; size: string }>(
          `select current_setting('server_version_num') as num, current_setting('server_version') as version,
                  pg_database_size(current_database())::text as size`,
        );
        return { server: rows[0] as { num: string; version: string; size: string }, tableCounts: await countRows(client) };
      }),
      findPgTools('pg_dump', this.env),
    ]);
    const serverMajor = Math.floor(Number(server.num) / 10000);
    if (tools.length === 0) {
      throw new ConfigError('pg_dump was not found (searched DBBACKUP_PG_BIN_DIR, PATH and /usr/lib/postgresql/*/bin)', {
        hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client) or set DBBACKUP_PG_BIN_DIR',
      });
    }
    const pgDump = choosePgTool(tools, serverMajor, server.version, 'pg_dump');
    const info: SourceInfo = {
      engine: 'postgres',
      database: keySafeName(this.label ?? this.conn.database),
      description: this.conn.url,
      engineVersion: { server: server.version, pg_dump: pgDump.version },
      databaseSizeBytes: Number(server.size),
    };
    this.probed = { info, pgDump, tableCounts };
    return info;
  }

  async dump(options: { format?: DumpFormat } = {}): Promise<Dump> {
    const format = options.format ?? 'custom';
    if (format !== 'custom' && format !== 'plain') {
      throw new ConfigError(`PostgreSQL dumps are "custom" or "plain" (got "${format}")`);
    }
    if (!this.probed) await this.probe();
    const { pgDump, tableCounts } = this.probed as NonNullable<typeof this.probed>;
    // -Z0: pg_dump would otherwise compress with zlib on one core, and we compress again downstream.
    const args = [`--format=${format}`, '--no-password', `--dbname=${this.conn.url}`];
    if (format === 'custom') args.push('-Z0');
    const stream = spawnReadable(pgDump.path, args, {
      env: libpqEnvironment(this.conn, this.env),
      describeFailure: ({ exit, spawnError }) => {
        if (spawnError) {
          return new ConfigError(`pg_dump could not be started (${pgDump.path}): ${spawnError.message}`, {
            hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client)',
          });
        }
        const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
        const said = lastLine(redactText(exit?.stderrTail ?? '', [this.conn.password]));
        return new DumpError(`pg_dump of ${this.conn.url} ${how}${said ? `: ${said}` : ''}`, {
          hint: 'no backup was stored; check the message above and run the backup again',
        });
      },
    });
    return { stream, format, tableCounts, cleanup: async () => {} };
  }

  private async withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    // In-process only: node-postgres lets a connection string without a password override an
    // explicit `password`, so the password goes into the string it parses, never into argv or logs.
    const url = new URL(this.conn.url);
    if (this.conn.password !== undefined) url.password = encodeURIComponent(this.conn.password);
    const client = new pg.Client({
      connectionString: url.toString(),
      application_name: 'dbbackup',
      connectionTimeoutMillis: 15_000,
    });
    // A server that drops the connection emits 'error' on the client; the query rejects anyway.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw this.connectError(error);
    }
    try {
      return await work(client);
    } catch (error) {
      throw new DumpError(`reading ${this.conn.url} failed: ${redactText(errorMessage(error), [this.conn.password])}`, {
        cause: error,
      });
    } finally {
      await client.end().catch(() => {});
    }
  }

  private connectError(error: unknown): Error {
    const code = (error as { code?: string }).code;
    const where = `${this.conn.host}:${this.conn.port}`;
    const message = redactText(errorMessage(error), [this.conn.password]);
    if (code === '3D000') {
      return new ConfigError(`database "${this.conn.database}" does not exist on ${where}`, {
        hint: 'check the database name in --source (list them with: psql -l)',
        cause: error,
      });
    }
    if (code === '28P01' || code === '28000') {
      return new ConfigError(`PostgreSQL refused the login of user "${this.conn.user}" on ${where}: ${message}`, {
        hint: 'check the user and password (in the URL or PGPASSWORD) and pg_hba.conf',
        cause: error,
      });
    }
    return new DumpError(`cannot connect to PostgreSQL at ${where}: ${message}`, {
      hint: 'check the host and port in --source and that the server is running and reachable',
      cause: error,
    });
  }
}

/**
 * Row counts per table: exact for small tables, the planner's estimate for large ones. Partitions
 * are counted as tables; their partitioned parents (no storage of their own) are left out.
 */
async function countRows(client: pg.Client): Promise<TableCounts> {
  const { rows } = await client.query<{ schema: string; name: string; estimate: string; bytes: string }>(
    `select n.nspname as schema, c.relname as name, c.reltuples::bigint::text as estimate,
              pg_relation_size(c.oid)::text as bytes
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
        order by 1, 2`,
  );
  const tables: Record<string, number> = {};
  const estimated: string[] = [];
  for (const row of rows) {
    const name = `${row.schema}.${row.name}`;
    if (Number(row.bytes) <= EXACT_COUNT_MAX_BYTES) {
      const count = await client.query<{ n: string }>(
        `select count(*)::text as n from ${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
      );
      tables[name] = Number(count.rows[0]?.n ?? 0);
    } else {
      tables[name] = Math.max(0, Number(row.estimate));
      estimated.push(name);
    }
  }
  return { tables, estimated };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return errorMessage(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return message || ((error as { code?: string }).code ?? 'unknown error');
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // pg_dump prints "pg_dump: error: ..." then detail lines; the error line says most.
  return lines.find((l) => l.includes('error:')) ?? lines.at(-1) ?? '';
}
