import { z } from 'zod';
import { listBackups } from '../catalog/list-backups.js';
import { ENGINES } from '../engines/registry.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { listRunRecords, runRecordPrefix, type RunRecord } from '../runs/run-record.js';
import type { Target } from '../targets/target.js';
import { buildReport, type Report } from './build-report.js';
import { THRESHOLDS } from './recommend.js';

/** What a report covers: the last `days` days (default 7), one database or all. */
export const reportOptionsSchema = z
  .object({
    days: z.number().int().min(1).max(366).default(7),
    database: z.string().min(1).optional(),
  })
  .strict();

export type ReportOptions = z.input<typeof reportOptionsSchema>;

/**
 * Reads a target's run records and manifests and builds its report (see {@link buildReport}).
 * Run records are read back to the restore-test threshold even for a shorter window, so a drill
 * three weeks ago still counts for a 7-day report.
 */
export async function readReport(target: Target, options: ReportOptions = {}, now = new Date()): Promise<Report> {
  const { days, database } = parseOrConfigError(reportOptionsSchema, options);
  // listBackups refuses a database name that is not one key segment before anything is read.
  // A backup dated ahead of now would pass for the newest: it is named among what was not read.
  const { backups, problems } = await listBackups(target, { database, now });
  const since = new Date(now.getTime() - Math.max(days, THRESHOLDS.restoreTestDays + 1) * 24 * 3600 * 1000);
  const prefixes = database ? ENGINES.map((e) => runRecordPrefix(e.kind, database)) : [undefined];
  const records: RunRecord[] = [];
  const recordProblems: Array<{ key: string; error: string }> = [];
  for (const prefix of prefixes) {
    const read = await listRunRecords(target, { prefix, since });
    records.push(...read.records);
    recordProblems.push(...read.problems);
  }
  return buildReport({
    records,
    manifests: backups.map((b) => b.manifest),
    now,
    days,
    database,
    problems: [...problems.map((p) => ({ key: p.key, error: p.error })), ...recordProblems],
  });
}
