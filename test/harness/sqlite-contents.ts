import Database from 'better-sqlite3';

/**
 * What "the same SQLite database" means in the restore tests: the schema, and every table's rows
 * in rowid order (tables named in `leaveOut` aside, e.g. one a concurrent writer appends to).
 */
export function sqliteContents(
  path: string,
  leaveOut: readonly string[] = [],
): { schema: unknown[]; tables: Record<string, unknown[]> } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const schema = db.prepare('select type, name, sql from sqlite_schema order by name').raw().all();
    const names = (
      db.prepare("select name from sqlite_schema where type = 'table' order by name").pluck().all() as string[]
    ).filter((t) => !leaveOut.includes(t));
    return {
      schema,
      tables: Object.fromEntries(names.map((t) => [t, db.prepare(`select * from "${t}" order by rowid`).raw().all()])),
    };
  } finally {
    db.close();
  }
}

/**
 * Gives an index of an open database a definition it was not built by (`sql`, e.g. on another
 * column): its entries no longer match its table's rows, so integrity_check finds every row missing
 * from it, as after a bug or a bad disk.
 */
export function misdefineIndex(db: Database.Database, index: string, sql: string): void {
  db.unsafeMode(true);
  db.pragma('writable_schema = on');
  db.prepare('update sqlite_schema set sql = ? where name = ?').run(sql, index);
  db.pragma('writable_schema = off');
}
