/** One check's outcome, as restore and verify report them. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** How far a restored table's rows may be from a planner estimate (estimates are rough). */
const ESTIMATE_TOLERANCE = 0.1;

/**
 * Compares restored row counts with the manifest's: every table of the backup must exist;
 * exact counts must match exactly; estimates within 10% (or 1,000 rows).
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
    const ok = estimated.has(table) ? Math.abs(found - rows) <= Math.max(1000, rows * ESTIMATE_TOLERANCE) : found === rows;
    checks.push({
      name: `table ${table}`,
      ok,
      detail: ok
        ? `${found} rows`
        : `table ${table} has ${found} rows, the backup had ${estimated.has(table) ? 'about ' : ''}${rows}`,
    });
  }
  return checks;
}
