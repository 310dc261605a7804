import type { DatabaseReport } from './build-report.js';

/** Something a report advises, about one database, from its numbers. */
export interface Recommendation {
  readonly database: string;
  /** Stable across versions: what `--json` readers match on. */
  readonly code:
    | 'slow-backups'
    | 'low-compression'
    | 'frequent-failures'
    | 'approaching-lambda-limit'
    | 'not-restore-tested'
    | 'table-stopped-growing';
  readonly message: string;
}

/** The thresholds behind each recommendation, in one place. */
export const THRESHOLDS = {
  /** An average backup slower than this is worth optimising. */
  slowAverageMs: 5 * 60 * 1000,
  /** Below this source-to-stored ratio, compression is barely working. */
  minCompressionRatio: 2,
  /** More failed runs than this share needs a look. */
  maxFailureRate: 0.1,
  /** A duration trend reaching Lambda's 15 minutes within this many weeks: move before it fails. */
  lambdaWarningWeeks: 12,
  /** The newest backup should have been restore-tested within this many days. */
  restoreTestDays: 30,
} as const;

/** The recommendations one database's numbers call for, most urgent first. */
export function recommend(db: DatabaseReport): Recommendation[] {
  const out: Recommendation[] = [];
  const add = (code: Recommendation['code'], message: string) => out.push({ database: db.database, code, message });
  if (db.successRate !== null && 1 - db.successRate > THRESHOLDS.maxFailureRate) {
    const top = db.topErrors[0];
    add(
      'frequent-failures',
      `${db.failures} of ${db.runs} runs failed (${percent(1 - db.successRate)}): investigate` +
        (top ? `, starting with the most frequent error: ${top.error}` : ''),
    );
  }
  if (db.weeksToLambdaLimit !== null && db.weeksToLambdaLimit <= THRESHOLDS.lambdaWarningWeeks) {
    add(
      'approaching-lambda-limit',
      db.weeksToLambdaLimit === 0
        ? 'backups take as long as the Lambda limit of 15 minutes: run this database on Fargate (runner "fargate")'
        : `at this growth rate, backups reach the Lambda limit of 15 minutes in about ${Math.max(1, Math.round(db.weeksToLambdaLimit))} weeks: run this database on Fargate (runner "fargate") before they fail`,
    );
  }
  if (db.durationMs && db.durationMs.average > THRESHOLDS.slowAverageMs) {
    add(
      'slow-backups',
      `backups take ${minutes(db.durationMs.average)} on average: optimise (zstd compression is faster than gzip at a similar ratio; a Fargate task has more CPU than a Lambda function)`,
    );
  }
  if (db.stored.compressionRatio !== null && db.stored.compressionRatio < THRESHOLDS.minCompressionRatio) {
    add(
      'low-compression',
      `backups compress only ${db.stored.compressionRatio.toFixed(2)}:1: check the compression settings (compression on, its level), or whether the data is already compressed`,
    );
  }
  if (
    db.stored.newestAt !== null &&
    (db.restoreTest.daysSince === null || db.restoreTest.daysSince > THRESHOLDS.restoreTestDays)
  ) {
    add(
      'not-restore-tested',
      db.restoreTest.daysSince === null
        ? `no restore test (drill) has succeeded in the time looked at: the newest backup (${db.stored.newestAt.slice(0, 10)}) has never been restore-tested; run a restore drill`
        : `the last successful restore test was ${db.restoreTest.daysSince} days ago: the newest backup (${db.stored.newestAt.slice(0, 10)}) has not been restore-tested; run a restore drill`,
    );
  }
  for (const t of db.stalledTables) {
    add(
      'table-stopped-growing',
      `table ${t.table} grew in earlier backups but has had ${t.rows} rows since ${t.since.slice(0, 10)}: check that the application still writes it`,
    );
  }
  return out;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

function minutes(ms: number): string {
  return `${(ms / 60_000).toFixed(1)} min`;
}
