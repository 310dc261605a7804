import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { compareRowCounts } from '../compare-row-counts.js';
import { inspectSqliteFile, listSqliteTables } from './sqlite-file.js';
import { sqliteUrl } from './sqlite-path.js';
import { ConfigError, RestoreError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { pausePoint } from '../../pipeline/pause-point.js';
import type {
  Destination,
  DestinationState,
  FetchedBackup,
  RestoreCheck,
  RestoreOptions,
  RestoreOutcome,
} from '../destination.js';

/**
 * Restores into a SQLite file. An existing database, even a live one in WAL mode, is replaced
 * through SQLite's backup API writing into it: one write transaction under SQLite's own locks,
 * so its `-wal`/`-shm` files stay consistent, other connections see the new content, and a
 * restore killed midway is rolled back by SQLite on the next open. A new file is written beside
 * the destination, fsynced and renamed into place.
 */
export class SqliteDestination implements Destination {
  readonly kind = 'sqlite' as const;
  readonly noun = 'SQLite database';
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  get name(): string {
    return basename(this.path);
  }

  get description(): string {
    return this.path;
  }

  get sourceUrl(): string {
    return sqliteUrl(this.path);
  }

  async inspect(): Promise<DestinationState> {
    const stat = await fs.stat(this.path).catch(() => undefined);
    if (!stat) {
      const parent = await fs.stat(dirname(this.path)).catch(() => undefined);
      if (!parent?.isDirectory())
        throw new ConfigError(`the directory of ${this.path} does not exist`, { hint: 'create it first' });
      return { exists: false, tables: 0, hasData: false };
    }
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      // The application may be writing; wait for its commits rather than fail.
      db.pragma('busy_timeout = 10000');
      const tables = listSqliteTables(db);
      // A virtual table's rows live in its shadow tables, looked at here; its module may be an extension not loaded here.
      const hasData = tables.some(
        (t) =>
          !t.virtual &&
          db
            .prepare(`select exists (select 1 from "${t.name.replace(/"/g, '""')}")`)
            .pluck()
            .get() === 1,
      );
      return { exists: true, sizeBytes: stat.size, tables: tables.length, hasData };
    } catch (error) {
      throw new ConfigError(`${this.path} exists but is not a readable SQLite database: ${(error as Error).message}`, {
        hint: 'restore to another path, or move that file away first',
      });
    } finally {
      db.close();
    }
  }

  async restore(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome> {
    options.onPhase?.('checking the backup');
    const before = check(backup.file, manifest);
    if (before.checks.some((c) => !c.ok)) {
      throw new RestoreError(`the backup's database fails its checks: ${failures(before)}`, {
        hint: 'the destination was not changed',
      });
    }
    await pausePoint('swap', options.settings);
    options.onPhase?.('writing into the destination');
    if (await fs.stat(this.path).catch(() => undefined)) await this.copyInto(backup.file);
    else await this.createFrom(backup.file);

    options.onPhase?.('verifying');
    const after = check(this.path, manifest);
    if (after.checks.some((c) => !c.ok)) {
      throw new RestoreError(`${this.path} fails its checks after the restore: ${failures(after)}`);
    }
    return after;
  }

  /** Replaces a database's content with the backup API, in one step (one write transaction). */
  private async copyInto(file: string): Promise<void> {
    const source = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await source.backup(this.path, { progress: () => 0x7fffffff });
          return;
        } catch (error) {
          const code = (error as { code?: string }).code ?? '';
          if (code.startsWith('SQLITE_BUSY') && attempt < 20) {
            await sleep(250);
            continue;
          }
          if (code.startsWith('SQLITE_READONLY')) {
            throw new RestoreError(`SQLite refused to write into ${this.path}: ${(error as Error).message}`, {
              hint: 'a database in WAL mode can only be replaced by one with the same page size; check file permissions too',
              cause: error,
            });
          }
          throw new RestoreError(`writing into ${this.path} failed: ${(error as Error).message}`, {
            hint: code.startsWith('SQLITE_BUSY')
              ? 'another connection kept the database locked; stop the application and retry'
              : undefined,
            cause: error,
          });
        }
      }
    } finally {
      source.close();
    }
  }

  /** Creates a new database file whole: temp file beside it, fsync, rename, fsync the directory. */
  private async createFrom(file: string): Promise<void> {
    const tmp = join(dirname(this.path), `.${basename(this.path)}.dbbackup-${randomBytes(4).toString('hex')}.tmp`);
    try {
      await fs.copyFile(file, tmp);
      const handle = await fs.open(tmp, 'r+');
      await handle.sync();
      await handle.close();
      await fs.rename(tmp, this.path);
      const dir = await fs.open(dirname(this.path), 'r');
      await dir.sync().catch(() => {});
      await dir.close();
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw new RestoreError(`creating ${this.path} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** integrity_check and row counts of a SQLite file against the manifest. */
function check(file: string, manifest: Manifest | undefined): RestoreOutcome {
  const report = inspectSqliteFile(file);
  const checks: RestoreCheck[] = [
    { name: 'integrity_check', ok: report.verdict === 'ok', detail: report.verdict.slice(0, 300) },
    ...(manifest
      ? compareRowCounts(manifest.tables, new Set(), report.tables)
      : [{ name: 'row counts', ok: true, detail: 'not checked: no manifest' }]),
  ];
  const rows = Object.values(report.tables).reduce((a, b) => a + b, 0);
  const warnings = Object.entries(report.skipped).map(([table, reason]) => `table ${table}: ${reason}`);
  return { tables: Object.keys(report.tables).length, rows, checks, warnings };
}

function failures(outcome: RestoreOutcome): string {
  return outcome.checks
    .filter((c) => !c.ok)
    .map((c) => c.detail)
    .slice(0, 3)
    .join('; ');
}
