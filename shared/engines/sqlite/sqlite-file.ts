import Database from 'better-sqlite3';

/** What a SQLite file holds, as backup, verify and restore check it. */
export interface SqliteFileReport {
  /** `ok`, or what `PRAGMA integrity_check` found. */
  readonly verdict: string;
  readonly pages: number;
  /** Rows per table (SQLite's internal tables left out). */
  readonly tables: Record<string, number>;
}

/** Runs integrity_check on a SQLite file and counts the rows of every table. Throws if it is not a database. */
export function inspectSqliteFile(path: string): SqliteFileReport {
  const db = new Database(path, { fileMustExist: true });
  try {
    const pages = Number(db.pragma('page_count', { simple: true }));
    const verdict = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    const tables: Record<string, number> = {};
    for (const name of userTableNames(db)) {
      tables[name] = Number(
        db
          .prepare(`select count(*) from "${name.replace(/"/g, '""')}"`)
          .pluck()
          .get(),
      );
    }
    return { verdict, pages, tables };
  } finally {
    db.close();
  }
}

/** The tables of a SQLite database that hold user data (SQLite's internal `sqlite_*` tables left out). */
export function userTableNames(db: Database.Database): string[] {
  return db
    .prepare(`select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name`)
    .pluck()
    .all() as string[];
}
