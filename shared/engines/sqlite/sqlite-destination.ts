import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { compareRowCounts } from '../compare-row-counts.js';
import { inspectLiveSqliteFile, inspectSqliteFile, listSqliteTables, type SqliteFileReport } from './sqlite-file.js';
import { whenNotBusy } from './when-not-busy.js';
import { sqliteUrl } from './sqlite-path.js';
import { ConfigError, RestoreError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { pausePoint } from '../../pipeline/pause-point.js';
import { SqliteWriteWatch } from './sqlite-write-watch.js';
import { RunStop } from '../../pipeline/run-stop.js';
import { removeBeside, streamBeside } from './sqlite-stream-beside.js';
import type {
  Destination,
  DestinationState,
  FetchedBackup,
  ReplacedContent,
  RestoreCheck,
  RestoreOptions,
  RestoreOutcome,
  WriteWatch,
} from '../destination.js';

/** How long a restore waits, in all, for other connections' locks on the destination. */
const LOCK_WAIT_MS = 10_000;
/** Between two tries for the write lock: a writer committing back to back has it again within 20 ms. */
const LOCK_RETRY_MS = 1;

/**
 * Restores into a SQLite file. An existing database, even a live one in WAL mode, is replaced
 * through SQLite's backup API writing into it: one write transaction under SQLite's own locks,
 * so its `-wal`/`-shm` files stay consistent, other connections see the new content, and a
 * restore killed midway is rolled back by SQLite on the next open. A new file is written beside
 * the destination, fsynced and renamed into place. The backup's file is checked before either;
 * a failure after it (the destination's own check) says the destination was replaced and names
 * the undo copy.
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

  async inspect(signal?: AbortSignal): Promise<DestinationState> {
    const stat = await fs.stat(this.path).catch(() => undefined);
    if (!stat) {
      const parent = await fs.stat(dirname(this.path)).catch(() => undefined);
      if (!parent?.isDirectory())
        throw new ConfigError(`the directory of ${this.path} does not exist`, { hint: 'create it first' });
      return { exists: false, tables: 0, hasData: false };
    }
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    try {
      // The application may be writing: its commits are waited for, in one read transaction, the
      // lock tried every millisecond (SQLite's own wait lost it to a writer committing back to back).
      db.pragma('busy_timeout = 0');
      db.exec('BEGIN');
      await whenNotBusy(() => db.prepare('select count(*) from sqlite_schema').get(), LOCK_WAIT_MS, signal);
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
      db.exec('COMMIT');
      return { exists: true, sizeBytes: stat.size, tables: tables.length, hasData };
    } catch (error) {
      // A lock held past the wait is the application at work, not a file that is not a database.
      if (((error as { code?: string }).code ?? '').startsWith('SQLITE_BUSY')) throw this.notWritten(error);
      throw new ConfigError(`${this.path} exists but is not a readable SQLite database: ${(error as Error).message}`, {
        hint: 'restore to another path, or move that file away first',
      });
    } finally {
      db.close();
    }
  }

  watchWrites(): WriteWatch {
    return new SqliteWriteWatch(this.path);
  }

  async restore(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome> {
    // The copy is checked, not the destination after it: what the backup API writes is this
    // file's pages, and the live destination may be written by the application the moment the
    // copy commits, so its row counts afterwards tell nothing about the restore.
    options.onPhase?.('downloading the backup beside the destination');
    const file = await streamBeside(backup, this.path, options.signal);
    try {
      return await this.restoreFile(file, manifest, options);
    } finally {
      await removeBeside(file);
    }
  }

  private async restoreFile(file: string, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome> {
    options.onPhase?.('checking the backup');
    const copy = check(file, manifest);
    if (copy.outcome.checks.some((c) => !c.ok)) {
      throw new RestoreError(`the backup's database fails its checks: ${failures(copy.outcome)}`, {
        hint: 'the destination was not changed',
      });
    }
    const stop = new RunStop('restore', { signal: options.signal });
    try {
      await stop.guard(pausePoint('swap', options.settings));
      // Past this point the write is one SQLite transaction, which ends whole or not at all.
      stop.check();
    } finally {
      stop.dispose();
    }
    options.onPhase?.('writing into the destination');
    const existed = (await fs.stat(this.path).catch(() => undefined)) !== undefined;
    const kept: { replaced?: ReplacedContent; lostWrites?: boolean } = {};
    if (existed) await this.copyInto(file, (replacing) => Object.assign(kept, this.keepWrites(replacing, options)));
    else await this.createFrom(file);

    options.onPhase?.('verifying');
    const outcome = await this.verifyReplaced(copy, existed, options);
    if (kept.lostWrites) return { ...outcome, warnings: [...outcome.warnings, this.lostWritesWarning(options)] };
    return kept.replaced ? { ...outcome, replaced: kept.replaced } : outcome;
  }

  /**
   * Checks the destination once it holds the copy. From here on a failure says the destination
   * was replaced and how to undo it; rows another connection wrote since are a warning, not a failure.
   */
  protected async verifyReplaced(copy: CheckedFile, existed: boolean, options: RestoreOptions): Promise<RestoreOutcome> {
    let report: SqliteFileReport;
    try {
      report = await inspectLiveSqliteFile(this.path, LOCK_WAIT_MS);
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_BUSY')) {
        const warning = `${this.path} holds the backup, but another connection kept it locked, so it was not checked afterwards`;
        return { ...copy.outcome, warnings: [...copy.outcome.warnings, warning] };
      }
      throw this.replacedButFailed(`it cannot be read: ${(error as Error).message}`, existed, options, error);
    }
    if (report.verdict !== 'ok') {
      throw this.replacedButFailed(`its integrity_check fails: ${report.verdict.slice(0, 300)}`, existed, options);
    }
    const changed = Object.keys({ ...copy.report.tables, ...report.tables }).filter(
      (t) => copy.report.tables[t] !== report.tables[t],
    );
    const warnings = [...copy.outcome.warnings];
    if (changed.length > 0) {
      const shown = changed
        .slice(0, 3)
        .map((t) => `${t} has ${report.tables[t] ?? 'no'} rows (the backup ${copy.report.tables[t] ?? 'no such table'})`);
      warnings.push(
        `another connection wrote to ${this.path} after the restore, and those writes are kept: ${shown.join(', ')}${changed.length > 3 ? ', …' : ''}`,
      );
    }
    return { ...copy.outcome, warnings };
  }

  /**
   * Called under the restore's write lock, before a page is written (`replacing` is the moment): when
   * another connection committed after the safety backup was taken, what is replaced is copied
   * beside the destination, so that no acknowledged write is lost, or, asked to keep nothing, that
   * loss is said.
   */
  private keepWrites(replacing: Date, options: RestoreOptions): { replaced?: ReplacedContent; lostWrites?: boolean } {
    const watch = options.writesSince;
    if (!watch?.changed()) return {};
    if (options.replacedContent === 'discard') return {};
    if (options.replacedContent === 'drop') return { lostWrites: true };
    // Only a watch of this destination's own (watchWrites) can copy it.
    if (!(watch instanceof SqliteWriteWatch)) throw new Error('the write watch is not a SQLite one');
    try {
      return { replaced: watch.keepCopy(replacing) };
    } catch (error) {
      throw new RestoreError(
        `could not keep a copy of what the restore replaces beside ${this.path}: ${(error as Error).message}`,
        {
          hint: (w) =>
            `the destination was not changed; another connection wrote to it after the safety backup, so the copy holds writes no ` +
            `backup has: free disk space there, or restore with ${w.setting('dropReplaced')} to keep no copy`,
          cause: error,
        },
      );
    }
  }

  private lostWritesWarning(options: RestoreOptions): string {
    const since = options.undoCopy
      ? `after the safety backup${options.undoCopyTakenAt ? ` (taken ${options.undoCopyTakenAt})` : ''}`
      : 'after it was inspected, and no safety backup was taken';
    return `another connection wrote to ${this.path} ${since}; as asked, no copy of what was replaced was kept, so those writes are in no copy`;
  }

  private replacedButFailed(reason: string, existed: boolean, options: RestoreOptions, cause?: unknown): RestoreError {
    return new RestoreError(`${this.path} was replaced by the backup, but ${reason}`, {
      hint: (w) =>
        !existed
          ? `it did not exist before: remove it to undo`
          : options.undoCopy
            ? `its previous content is backed up at ${options.undoCopy}: restore that with ${w.option('path')} to undo`
            : 'no copy of its previous content was taken',
      cause,
      destinationChanged: true,
    });
  }

  /**
   * Replaces a database's content with the backup API, in one step (one write transaction),
   * waiting up to {@link LOCK_WAIT_MS} in all for the application's locks.
   */
  private async copyInto(file: string, beforeWriting: (at: Date) => void): Promise<void> {
    const source = new Database(file, { readonly: true, fileMustExist: true });
    let deadline = Date.now() + LOCK_WAIT_MS;
    const locked = () => Object.assign(new Error('the database is locked'), { code: 'SQLITE_BUSY' });
    try {
      for (;;) {
        let copied: { totalPages: number };
        let locking = true;
        try {
          copied = await source.backup(this.path, {
            progress: () => {
              // better-sqlite3's first step copies no page but takes the destination's write lock, held to the
              // end: from here no other connection commits, and nothing is written yet.
              if (locking) {
                locking = false;
                beforeWriting(new Date());
                // The wait was for the lock, which is held now: a long copy beside it is not a busy destination.
                deadline = Date.now() + LOCK_WAIT_MS;
              }
              // A busy destination after the first step makes better-sqlite3 step again at once, forever: this ends it.
              if (Date.now() > deadline) throw locked();
              return 0x7fffffff;
            },
          });
        } catch (error) {
          if (error instanceof RestoreError) throw error;
          throw this.notWritten(error);
        }
        // Locked before the first page, better-sqlite3 resolves as if done, having copied nothing: no page counted.
        if (copied.totalPages > 0) return;
        if (Date.now() > deadline) throw this.notWritten(locked());
        await sleep(LOCK_RETRY_MS);
      }
    } finally {
      source.close();
    }
  }

  private notWritten(error: unknown): RestoreError {
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_READONLY')) {
      return new RestoreError(`SQLite refused to write into ${this.path}: ${(error as Error).message}`, {
        hint: 'the destination was not changed; a database in WAL mode can only be replaced by one with the same page size; check file permissions too',
        cause: error,
      });
    }
    if (code.startsWith('SQLITE_BUSY')) {
      return new RestoreError(`another connection kept ${this.path} locked for ${LOCK_WAIT_MS / 1000} s`, {
        hint: 'the destination was not changed; stop the application, or retry when it writes less',
        cause: error,
      });
    }
    return new RestoreError(`writing into ${this.path} failed: ${(error as Error).message}`, {
      hint: 'the destination was not changed (SQLite rolls back a copy that did not commit)',
      cause: error,
    });
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
      throw new RestoreError(`creating ${this.path} failed: ${(error as Error).message}`, {
        hint: 'nothing was created there',
        cause: error,
      });
    }
  }
}

/** A SQLite file as inspected, and its checks against the manifest. */
interface CheckedFile {
  readonly report: SqliteFileReport;
  readonly outcome: RestoreOutcome;
}

/** integrity_check and row counts of a SQLite file against the manifest. */
function check(file: string, manifest: Manifest | undefined): CheckedFile {
  const report = inspectSqliteFile(file);
  const checks: RestoreCheck[] = [
    { name: 'integrity_check', ok: report.verdict === 'ok', detail: report.verdict.slice(0, 300) },
    ...(manifest
      ? compareRowCounts(manifest.tables, new Set(), report.tables)
      : [{ name: 'row counts', ok: true, detail: 'not checked: no manifest' }]),
  ];
  const rows = Object.values(report.tables).reduce((a, b) => a + b, 0);
  const warnings = Object.entries(report.skipped).map(([table, reason]) => `table ${table}: ${reason}`);
  return { report, outcome: { tables: Object.keys(report.tables).length, rows, checks, warnings } };
}

function failures(outcome: RestoreOutcome): string {
  return outcome.checks
    .filter((c) => !c.ok)
    .map((c) => c.detail)
    .slice(0, 3)
    .join('; ');
}
