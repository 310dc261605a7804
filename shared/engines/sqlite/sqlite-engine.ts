import { createReadStream, promises as fs } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { ConfigError, DumpError } from '../../errors.js';
import { type Dump, type DumpOptions, type Engine, failWithCounts, type SourceInfo, type TableCounts } from '../engine.js';
import { type ChainProgram, type ProgramChain, spawnChain } from '../../pipeline/program-chain.js';
import { inspectSqliteFile, type SqliteFileReport } from './sqlite-file.js';
import { type InspectionAside, inspectSqliteFileAside } from './inspect-aside.js';
import { heartbeat, holderState, isStale, thisProcess } from '../../pipeline/holder.js';
import { makeRunTempDir } from '../../pipeline/run-temp-dir.js';
import { sqliteUrl } from './sqlite-path.js';
import { isBusy, whenNotBusy } from './when-not-busy.js';

/** Options of the SQLite engine. */
export interface SqliteEngineOptions {
  /** Overrides the database name used in keys. @default the file name without its extension */
  readonly label?: string;
  /** Where the snapshot is written before upload (Settings.tmpDir). */
  readonly tmpDir: string;
  /** Snapshot attempts while the source is locked by a writer, each waiting up to 2 s for the lock. @default 10 */
  readonly busyRetries?: number;
}

/**
 * From this snapshot size on, the snapshot is checked (integrity_check, row counts) in a process
 * of its own while it is compressed and stored; below it, before, in this one (a process costs
 * about 0.1 s to start, more than checking a small file).
 */
const CHECK_ASIDE_FROM_BYTES = 32 * 1024 * 1024;
/** How long the probe waits for a writer's lock (`whenNotBusy`); each snapshot attempt waits its own. */
const PROBE_LOCK_WAIT_MS = 10_000;
const SNAPSHOT_LOCK_WAIT_MS = 2_000;

/**
 * Backs up a SQLite database with SQLite's online backup API into a temporary snapshot file,
 * then streams that file. The snapshot is consistent even while another process writes.
 */
export class SqliteEngine implements Engine {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  private readonly options: SqliteEngineOptions;
  /** Aborted by `close`: a lock wait still running (the probe's, a snapshot's) ends at once. */
  private readonly closing = new AbortController();

  constructor(path: string, options: SqliteEngineOptions) {
    this.path = resolve(path);
    this.options = options;
  }

  get database(): string {
    return this.options.label ?? basename(this.path, extname(this.path));
  }

  async close(): Promise<void> {
    this.closing.abort(new DumpError(`reading ${this.path} stopped: the backup has ended`));
  }

  async probe(): Promise<SourceInfo> {
    const stat = await fs.stat(this.path).catch(() => undefined);
    if (!stat) {
      throw new ConfigError(`SQLite database ${this.path} does not exist`, {
        hint: (w) => `check the path in ${w.option('source')} (sqlite:///absolute/path.db or sqlite:relative/path.db)`,
      });
    }
    if (!stat.isFile()) throw new ConfigError(`SQLite source ${this.path} is not a file`);
    const version = await this.withSource(async (db) => {
      // A writer's commit holds the lock for a moment; wait for it rather than fail the probe. The
      // schema is read (and the lock taken) as the statement is prepared: inside the wait.
      const read = () => db.prepare('select sqlite_version() as v, (select count(*) from sqlite_schema) as n').get();
      return String(((await whenNotBusy(read, PROBE_LOCK_WAIT_MS, this.closing.signal)) as { v: string }).v);
    });
    return {
      engine: 'sqlite',
      database: this.database,
      description: sqliteUrl(this.path),
      engineVersion: { sqlite: version },
      databaseSizeBytes: stat.size,
    };
  }

  async dump(options: DumpOptions = {}): Promise<Dump> {
    const unlock = await this.lock();
    const dir = await makeRunTempDir(this.options.tmpDir, 'sqlite').catch(async (error) => {
      await unlock();
      throw error;
    });
    let inspection: InspectionAside | undefined;
    let stream: Readable | undefined;
    // The lock is held until cleanup, after the manifest: a second run must not start while this one commits.
    const cleanup = async () => {
      // Ended first, and quietly: the check stopped below must not then fail a stream nobody reads.
      stream?.destroy();
      await inspection?.stop();
      await fs.rm(dir, { recursive: true, force: true });
      await unlock();
    };
    try {
      const snapshot = join(dir, 'snapshot.db');
      await this.snapshot(snapshot);
      const { size } = await fs.stat(snapshot);
      // The snapshot is not written to again: it may be checked while it is read for storing. A
      // large one is, in its own process; a small one is checked first, here.
      if (size >= CHECK_ASIDE_FROM_BYTES) inspection = inspectSqliteFileAside(snapshot);
      const tableCounts = inspection
        ? inspection.report.then((report) => judgeSnapshot(report, this.path))
        : Promise.resolve(judgeSnapshot(inspectSqliteFile(snapshot), this.path));
      // The programs asked for (a counter, a compressor) read the snapshot themselves.
      const chain = options.through?.length ? await spawnChainOnFile(snapshot, options.through) : undefined;
      stream = chain?.output ?? createReadStream(snapshot);
      // A snapshot that failed its check is no backup: its storing stops at once.
      failWithCounts(stream, tableCounts);
      return { stream, chain, format: 'sqlite', sizeBytes: size, tableCounts, cleanup };
    } catch (error) {
      await cleanup();
      throw error;
    }
  }

  /**
   * Keeps two backups of this database from running at once (a manual run during a scheduled
   * one): a lock file beside it, created exclusively (which works on EFS/NFSv4 too), naming its
   * holder and touched by a heartbeat while held. A lock whose holder is gone is taken over at
   * once: on this machine its process is checked; from another machine it is gone once its
   * heartbeat stopped (see `isStale`). Where the directory is read-only no lock can be taken and
   * none is.
   */
  private async lock(): Promise<() => Promise<void>> {
    const path = `${this.path}.dbbackup-lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(path, 'wx');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return async () => {};
        if (code !== 'EEXIST') throw error;
        await this.takeOverIfStale(path);
        continue;
      }
      const holder = thisProcess();
      try {
        await handle.writeFile(JSON.stringify({ ...holder, since: new Date().toISOString() }));
      } catch (error) {
        await fs.rm(path, { force: true });
        throw error;
      } finally {
        await handle.close();
      }
      const stopHeartbeat = heartbeat(path);
      return async () => {
        stopHeartbeat();
        // Only our own: a lock taken over from us (our heartbeat stopped for too long) is another run's.
        const found = await readLock(path);
        if (found?.holder.pid === holder.pid && found.holder.machine === holder.machine) await fs.rm(path, { force: true });
      };
    }
    throw new DumpError(`cannot take the backup lock ${path}`);
  }

  /** Removes the lock at `path` if its holder is gone; fails with "already running" if it is not. */
  private async takeOverIfStale(path: string): Promise<void> {
    const found = await readLock(path);
    if (!found) return;
    if (!isStale(found.holder, found.mtimeMs)) {
      const { pid, host, since } = found.holder as { pid?: unknown; host?: unknown; since?: unknown };
      const by = typeof pid === 'number' ? `, held by pid ${pid}${typeof host === 'string' && host ? ` on ${host}` : ''}` : '';
      const from = typeof since === 'string' ? since : new Date(found.mtimeMs).toISOString();
      const alive = holderState(found.holder) === 'alive';
      throw new DumpError(`another backup of ${this.path} is already running (lock file ${path}${by}, since ${from})`, {
        hint: alive
          ? 'nothing was stored by this run; let the other one finish'
          : 'nothing was stored by this run; let the other one finish, or delete the lock file if no backup is running',
      });
    }
    // Remove the lock judged stale, not one another run has put in its place since.
    const now = await fs.stat(path).catch(() => undefined);
    if (now?.ino === found.ino) await fs.rm(path, { force: true });
  }

  /**
   * Copies the database in one backup step inside a read transaction. With SQLite's default of a
   * few pages per step, every write by another process restarts the copy; and a source that is
   * busy at the first step yields `{ totalPages: 0 }` and no file. Taking the read lock first
   * (a SELECT, which waits through busy_timeout) means the copy starts with the lock held.
   */
  private async snapshot(target: string): Promise<void> {
    const attempts = this.options.busyRetries ?? 10;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await fs.rm(target, { force: true });
      try {
        const result = await this.withSourceAsync(async (db) => {
          db.exec('BEGIN');
          try {
            await whenNotBusy(
              () => db.prepare('select count(*) from sqlite_schema').get(),
              SNAPSHOT_LOCK_WAIT_MS,
              this.closing.signal,
            );
            return await db.backup(target, { progress: () => 0x7fffffff });
          } finally {
            db.exec('COMMIT');
          }
        });
        // A source locked at the first step resolves { totalPages: 0 } and writes nothing: busy, not empty.
        const written = await fs.stat(target).then(
          (s) => s.size,
          () => 0,
        );
        if (result.totalPages > 0 && written > 0) return;
        lastError = new Error('the source was locked by another connection');
      } catch (error) {
        lastError = error;
        if (!isBusy(error)) break;
      }
      await sleep(Math.min(50 * attempt, 500));
    }
    throw new DumpError(`SQLite backup of ${this.path} failed: ${describe(lastError)}`, {
      hint: 'the database stayed locked or unreadable; retry, or check that no process holds an exclusive lock on it',
      cause: lastError,
    });
  }

  private async withSource<T>(work: (db: Database.Database) => Promise<T>): Promise<T> {
    let db: Database.Database;
    try {
      db = new Database(this.path, { readonly: true, fileMustExist: true });
    } catch (error) {
      throw new ConfigError(`cannot open SQLite database ${this.path}: ${describe(error)}`, { cause: error });
    }
    try {
      db.pragma('busy_timeout = 0');
      return await work(db);
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_NOTADB') {
        throw new ConfigError(`${this.path} is not a SQLite database`, {
          hint: (w) => `check the path in ${w.option('source')}`,
          cause: error,
        });
      }
      throw new DumpError(`reading SQLite database ${this.path} failed: ${describe(error)}`, {
        hint: isBusy(error) ? 'another connection kept it locked for over 10 s; retry' : undefined,
        cause: error,
      });
    } finally {
      db.close();
    }
  }

  private async withSourceAsync<T>(work: (db: Database.Database) => Promise<T>): Promise<T> {
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 0');
    try {
      return await work(db);
    } finally {
      db.close();
    }
  }
}

/** What a snapshot's inspection means for its backup: the manifest's row counts, or why there is no backup. */
function judgeSnapshot(report: SqliteFileReport, source: string): TableCounts {
  if (!(report.pages > 0)) throw new DumpError(`SQLite snapshot of ${source} is empty (page_count ${report.pages})`);
  if (report.verdict !== 'ok') {
    throw new DumpError(`SQLite snapshot of ${source} failed integrity_check: ${report.verdict.slice(0, 300)}`, {
      hint: 'the source database may be corrupt; run PRAGMA integrity_check on it',
    });
  }
  return { tables: report.tables, estimated: [], skipped: report.skipped };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A lock file's holder (as it wrote itself) and when it was last touched; undefined if there is none. */
async function readLock(path: string): Promise<{ holder: Record<string, unknown>; mtimeMs: number; ino: number } | undefined> {
  const stat = await fs.stat(path).catch(() => undefined);
  if (!stat) return undefined;
  const text = await fs.readFile(path, 'utf8').catch(() => '');
  let holder: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') holder = parsed as Record<string, unknown>;
  } catch {
    // A lock being written, or by hand: its age decides.
  }
  return { holder, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

/** Starts `programs` on the file at `path`, the first reading it as its stdin. */
async function spawnChainOnFile(path: string, programs: readonly ChainProgram[]): Promise<ProgramChain> {
  const file = await fs.open(path, 'r');
  try {
    return spawnChain(programs, { stdin: file.fd });
  } finally {
    // The first program has its own copy of the descriptor.
    await file.close();
  }
}
