import Database from 'better-sqlite3';
import { whenNotBusy } from './when-not-busy.js';

/** What a SQLite file holds, as backup, verify and restore check it. */
export interface SqliteFileReport {
  /** `ok`, or what `PRAGMA integrity_check` found. */
  readonly verdict: string;
  readonly pages: number;
  /** Rows per table (SQLite's internal tables left out). */
  readonly tables: Record<string, number>;
  /**
   * Tables that could not be counted or checked, each with why: virtual tables whose module or
   * tokenizer lives in an extension that is not loaded here (sqlite-vec's `vec0`, a custom FTS5
   * tokenizer). Their rows are in the file all the same, mostly in shadow tables that are counted.
   */
  readonly skipped: Record<string, string>;
}

/** A table of a SQLite database, and whether it is virtual (its module may be an extension). */
export interface SqliteTable {
  readonly name: string;
  readonly virtual: boolean;
}

/**
 * Runs integrity_check on a SQLite file and counts the rows of every table. Throws if it is not a
 * database. A virtual table whose extension is not loaded is reported in `skipped`, not thrown:
 * dbbackup loads no extension, and such a database is backed up and restored whole all the same.
 */
export function inspectSqliteFile(path: string): SqliteFileReport {
  const db = new Database(path, { fileMustExist: true });
  try {
    return inspectOpen(db);
  } finally {
    db.close();
  }
}

/**
 * `inspectSqliteFile` of a database an application may be writing to: in one read transaction,
 * whose lock is tried every millisecond for up to `waitMs` (`whenNotBusy`). Statement by statement,
 * each took the lock anew, and a writer committing back to back refused one of them in most runs.
 */
export async function inspectLiveSqliteFile(path: string, waitMs: number): Promise<SqliteFileReport> {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    db.exec('BEGIN');
    try {
      await whenNotBusy(() => db.prepare('select count(*) from sqlite_schema').get(), waitMs);
      return inspectOpen(db);
    } finally {
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

function inspectOpen(db: Database.Database): SqliteFileReport {
  const pages = Number(db.pragma('page_count', { simple: true }));
  const tables = listSqliteTables(db);
  const skipped: Record<string, string> = {};
  const verdict = integrityVerdict(db, tables, skipped);
  const counts: Record<string, number> = {};
  for (const table of tables) {
    try {
      counts[table.name] = Number(
        db
          .prepare(`select count(*) from ${quoted(table.name)}`)
          .pluck()
          .get(),
      );
    } catch (error) {
      if (!table.virtual) throw error;
      note(
        skipped,
        table.name,
        `not counted: ${messageOf(error)} (its extension is not loaded here; its rows are in the backup)`,
      );
    }
  }
  return { verdict, pages, tables: counts, skipped };
}

/** The tables of a SQLite database that hold user data (SQLite's internal `sqlite_*` tables left out). */
export function listSqliteTables(db: Database.Database): SqliteTable[] {
  // pragma_table_list tells virtual and shadow tables apart, and lists a virtual table whose module is missing.
  return (
    db
      .prepare(
        `select name, type = 'virtual' as virtual from pragma_table_list
          where schema = 'main' and type in ('table', 'shadow', 'virtual') and name not like 'sqlite\\_%' escape '\\'
          order by name`,
      )
      .all() as Array<{ name: string; virtual: number }>
  ).map((t) => ({ name: t.name, virtual: t.virtual === 1 }));
}

/**
 * `PRAGMA integrity_check`, whose verdict is `ok` or the problems found. Since SQLite 3.44 it also
 * runs each virtual table's own check, which fails outright where that needs what an extension
 * provides (FTS5 with a custom tokenizer). Then every other table is checked on its own, with its
 * indexes (all of the file's b-trees, though not its list of free pages), and the virtual tables
 * whose own check failed are noted in `skipped`. A failure no virtual table explains is thrown.
 */
function integrityVerdict(db: Database.Database, tables: readonly SqliteTable[], skipped: Record<string, string>): string {
  const problems = (target?: string) =>
    (
      db.pragma(target === undefined ? 'integrity_check' : `integrity_check(${quoted(target)})`) as Array<{
        integrity_check: string;
      }>
    )
      .map((r) => r.integrity_check)
      .filter((r) => r !== 'ok');
  try {
    return problems().join('; ') || 'ok';
  } catch (error) {
    const failing = tables
      .filter((t) => t.virtual)
      .flatMap((t) => {
        try {
          problems(t.name);
          return [];
        } catch (own) {
          return [{ name: t.name, reason: messageOf(own) }];
        }
      });
    if (failing.length === 0) throw error;
    for (const { name, reason } of failing) {
      note(
        skipped,
        name,
        `its own integrity check could not run: ${reason} (every other table was checked alone, free pages were not)`,
      );
    }
    const found = ['sqlite_schema', ...tables.filter((t) => !t.virtual).map((t) => t.name)].flatMap((name) => problems(name));
    return found.join('; ') || 'ok';
  }
}

function note(skipped: Record<string, string>, table: string, reason: string): void {
  skipped[table] = skipped[table] ? `${skipped[table]}; ${reason}` : reason;
}

function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
