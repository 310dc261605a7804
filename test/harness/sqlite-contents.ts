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
