/** One check's outcome, as restore and verify report them. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Compares restored row counts with the manifest's: every table of the backup must exist, and
 * an exact count must match exactly. A count the manifest marks as estimated (older backups took
 * the planner's estimate for large tables) is shown beside what was restored but never held
 * against it: an estimate is 0 for a table never analyzed and stale after bulk changes, so
 * treating it as a count refused backups that were whole.
 */
export function compareRowCounts(
  expected: Record<string, number>,
  estimated: ReadonlySet<string>,
  actual: Record<string, number>,
): Check[] {
  const checks: Check[] = [];
  for (const [table, rows] of Object.entries(expected)) {
    const found = actual[table];
    if (found === undefined) {
      checks.push({ name: `table ${table}`, ok: false, detail: `table ${table} is missing` });
      continue;
    }
    if (estimated.has(table)) {
      checks.push({
        name: `table ${table}`,
        ok: true,
        detail: `${found} rows (the backup recorded only an estimate, about ${rows}: not compared)`,
      });
      continue;
    }
    const ok = found === rows;
    checks.push({
      name: `table ${table}`,
      ok,
      detail: ok ? `${found} rows` : `table ${table} has ${found} rows, the backup had ${rows}`,
    });
  }
  return checks;
}
