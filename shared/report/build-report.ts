import type { Manifest } from '../manifest.js';
import type { RunRecord } from '../runs/run-record.js';
import { STORAGE_CLASSES, type StorageClass } from '../targets/target.js';
import { recommend, type Recommendation } from './recommend.js';
import { monthlyStorageCost, STORAGE_PRICES } from './storage-prices.js';
import { type Point, projectAt, slopePerWeek, WEEK_MS } from './trend.js';

/** The report's own format version: `--json` readers may rely on this shape while it stays 1. */
export const REPORT_VERSION = 1;

const DAY_MS = 24 * 3600 * 1000;

/** How many of the most frequent errors a report names. */
const TOP_ERRORS = 3;

/** Runs in a window: how many, how many failed, with which errors. */
export interface RunStats {
  /** Backup runs (manual, scheduled, pre-restore) started in the window; drills are counted apart. */
  readonly runs: number;
  readonly failures: number;
  /** Succeeded runs / runs, 0 to 1; null without runs. */
  readonly successRate: number | null;
  /** The most frequent error lines, most frequent first. */
  readonly topErrors: ReadonlyArray<{ readonly error: string; readonly count: number }>;
  /**
   * The succeeded backup runs' durations; `trendMsPerWeek` is the least-squares slope over the
   * window (positive: getting slower). Null without a succeeded run.
   */
  readonly durationMs: {
    readonly average: number;
    readonly min: number;
    readonly max: number;
    readonly trendMsPerWeek: number | null;
  } | null;
}

/** What is stored, from the manifests now on the target, and what keeping it costs a month. */
export interface StoredStats {
  readonly backups: number;
  readonly bytes: number;
  /** Per storage class; a directory target's backups have none and no price. */
  readonly byClass: ReadonlyArray<{
    readonly storageClass: StorageClass | 'none';
    readonly backups: number;
    readonly bytes: number;
    readonly usdPerMonth: number | null;
  }>;
  readonly usdPerMonth: number;
  /** Source bytes / stored bytes over the backups taken in the window; null without any. */
  readonly compressionRatio: number | null;
}

/** One database's part of a report. */
export interface DatabaseReport extends RunStats {
  readonly database: string;
  readonly engine: string | null;
  readonly stored: StoredStats & {
    /** The newest backup's size and when it was taken; null without a backup. */
    readonly newestBytes: number | null;
    readonly newestAt: string | null;
    /** Least-squares slope of the backups' sizes over the window, bytes per week. */
    readonly growthBytesPerWeek: number | null;
    /**
     * The monthly cost in 12 weeks if every stored backup grew as the newest is growing (the same
     * number of backups kept, in the same classes); null without growth to project.
     */
    readonly projectedUsdPerMonthIn12Weeks: number | null;
  };
  readonly restoreTest: {
    /** The last succeeded drill's start, within the look-back; null when none. */
    readonly lastSucceededAt: string | null;
    readonly daysSince: number | null;
  };
  /** Weeks until a backup's duration reaches the Lambda's 15 minutes at its trend; null when it is not growing. */
  readonly weeksToLambdaLimit: number | null;
  /** Tables whose row count grew in earlier backups and has not changed in a week or more since. */
  readonly stalledTables: ReadonlyArray<{ readonly table: string; readonly rows: number; readonly since: string }>;
  /** What the charts draw: each backup run in the window, oldest first, and each backup taken in it. */
  readonly series: {
    readonly runs: ReadonlyArray<{ readonly at: string; readonly result: 'succeeded' | 'failed'; readonly durationMs: number }>;
    readonly backups: ReadonlyArray<{ readonly at: string; readonly bytes: number }>;
  };
}

/** A report over a target's run records and stored backups: `dbbackup report --json` prints this. */
export interface Report {
  readonly reportVersion: typeof REPORT_VERSION;
  readonly generatedAt: string;
  readonly window: { readonly days: number; readonly since: string; readonly until: string };
  readonly overall: RunStats & { readonly databases: number; readonly stored: StoredStats };
  readonly databases: readonly DatabaseReport[];
  readonly recommendations: readonly Recommendation[];
  /** Manifests and run records that could not be read: the report is missing what they hold. */
  readonly problems: ReadonlyArray<{ readonly key: string; readonly error: string }>;
  readonly prices: {
    readonly region: string;
    readonly asOf: string;
    readonly currency: string;
    readonly perGbMonth: Readonly<Record<StorageClass, number>>;
    readonly note: string;
  };
}

/** What a report is built from: every record and manifest read, and the moment it describes. */
export interface ReportInput {
  /** Run records; those started before the window count only as restore tests (drills). */
  readonly records: readonly RunRecord[];
  /** The manifests of the backups stored now. */
  readonly manifests: readonly Manifest[];
  readonly now: Date;
  readonly days: number;
  /** Only this database. */
  readonly database?: string;
  /** What could not be read, to be shown with the report. */
  readonly problems?: ReadonlyArray<{ readonly key: string; readonly error: string }>;
}

/**
 * Builds a report: runs come from the run records (every run, failed or not), what is stored
 * from the manifests (what exists). A pure function of its input: the same records and
 * manifests at the same `now` give the same report.
 */
export function buildReport(input: ReportInput): Report {
  const until = input.now.getTime();
  const since = until - input.days * DAY_MS;
  const inWindow = (iso: string) => Date.parse(iso) >= since && Date.parse(iso) <= until;
  const wanted = (database: string) => input.database === undefined || database === input.database;
  const records = input.records.filter((r) => wanted(r.database));
  const manifests = input.manifests.filter((m) => wanted(m.database));

  const names = new Set<string>([
    ...records.filter((r) => inWindow(r.started_at)).map((r) => r.database),
    ...manifests.map((m) => m.database),
  ]);
  if (input.database !== undefined) names.add(input.database);
  const databases = [...names].sort().map((name) =>
    databaseReport(
      name,
      records.filter((r) => r.database === name),
      manifests.filter((m) => m.database === name),
      inWindow,
      until,
    ),
  );
  const windowRuns = records.filter((r) => r.kind !== 'drill' && inWindow(r.started_at));
  return {
    reportVersion: REPORT_VERSION,
    generatedAt: input.now.toISOString(),
    window: { days: input.days, since: new Date(since).toISOString(), until: input.now.toISOString() },
    overall: {
      databases: databases.length,
      ...runStats(windowRuns),
      stored: storedStats(
        manifests,
        manifests.filter((m) => inWindow(m.datetime)),
      ),
    },
    databases,
    recommendations: databases.flatMap(recommend),
    problems: input.problems ?? [],
    prices: {
      region: STORAGE_PRICES.region,
      asOf: STORAGE_PRICES.asOf,
      currency: STORAGE_PRICES.currency,
      perGbMonth: STORAGE_PRICES.perGbMonth,
      note: `S3 list prices per GB-month in ${STORAGE_PRICES.region} as of ${STORAGE_PRICES.asOf}, storage only; prices vary by region`,
    },
  };
}

function databaseReport(
  database: string,
  records: readonly RunRecord[],
  manifests: readonly Manifest[],
  inWindow: (iso: string) => boolean,
  now: number,
): DatabaseReport {
  const runs = records.filter((r) => r.kind !== 'drill' && inWindow(r.started_at));
  const stats = runStats(runs);
  // Pre-restore backups are copies of a restore's destination, not of this database's history.
  const history = manifests.filter((m) => m.kind !== 'pre-restore').sort((a, b) => a.datetime.localeCompare(b.datetime));
  const recent = manifests.filter((m) => inWindow(m.datetime)).sort((a, b) => a.datetime.localeCompare(b.datetime));
  // Only pre-restore copies: the newest of those is still this database's newest backup.
  const newest = history.at(-1) ?? [...manifests].sort((a, b) => a.datetime.localeCompare(b.datetime)).at(-1);
  const sizePoints: Point[] = history
    .filter((m) => inWindow(m.datetime))
    .map((m) => ({ at: Date.parse(m.datetime), value: m.size_bytes }));
  const growth = slopePerWeek(sizePoints);
  const stored = storedStats(manifests, recent);
  const projectedNewest = newest && growth !== null ? Math.max(0, newest.size_bytes + growth * 12) : null;
  const durations: Point[] = runs
    .filter((r) => r.result === 'succeeded')
    .map((r) => ({ at: Date.parse(r.started_at), value: r.duration_ms }));
  const drill = records.filter((r) => r.kind === 'drill' && r.result === 'succeeded').at(-1);
  return {
    database,
    engine: newest?.engine ?? records.at(-1)?.engine ?? null,
    ...stats,
    stored: {
      ...stored,
      newestBytes: newest?.size_bytes ?? null,
      newestAt: newest?.datetime ?? null,
      growthBytesPerWeek: growth,
      projectedUsdPerMonthIn12Weeks:
        projectedNewest !== null && newest && newest.size_bytes > 0
          ? stored.usdPerMonth * (projectedNewest / newest.size_bytes)
          : null,
    },
    restoreTest: {
      lastSucceededAt: drill?.started_at ?? null,
      daysSince: drill ? Math.floor((now - Date.parse(drill.started_at)) / DAY_MS) : null,
    },
    weeksToLambdaLimit: weeksToLambdaLimit(durations, now),
    stalledTables: stalledTables(history),
    series: {
      runs: runs.map((r) => ({ at: r.started_at, result: r.result, durationMs: r.duration_ms })),
      backups: recent.map((m) => ({ at: m.datetime, bytes: m.size_bytes })),
    },
  };
}

function runStats(runs: readonly RunRecord[]): RunStats {
  const failed = runs.filter((r) => r.result === 'failed');
  const counts = new Map<string, number>();
  for (const r of failed) {
    const error = r.error ?? '(no error recorded)';
    counts.set(error, (counts.get(error) ?? 0) + 1);
  }
  const durations = runs.filter((r) => r.result === 'succeeded');
  const values = durations.map((r) => r.duration_ms);
  return {
    runs: runs.length,
    failures: failed.length,
    successRate: runs.length === 0 ? null : (runs.length - failed.length) / runs.length,
    topErrors: [...counts]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, TOP_ERRORS)
      .map(([error, count]) => ({ error, count })),
    durationMs:
      values.length === 0
        ? null
        : {
            average: Math.round(values.reduce((s, v) => s + v, 0) / values.length),
            min: Math.min(...values),
            max: Math.max(...values),
            trendMsPerWeek: roundOrNull(
              slopePerWeek(durations.map((r) => ({ at: Date.parse(r.started_at), value: r.duration_ms }))),
            ),
          },
  };
}

function storedStats(stored: readonly Manifest[], recent: readonly Manifest[]): StoredStats {
  const totals = new Map<StorageClass | 'none', { backups: number; bytes: number }>();
  for (const m of stored) {
    // A manifest without a class is a directory target's backup, or an S3 one in the bucket's default, STANDARD.
    const storageClass = m.storage_class ?? (m.location.startsWith('s3://') ? 'STANDARD' : 'none');
    const entry = totals.get(storageClass) ?? { backups: 0, bytes: 0 };
    entry.backups++;
    entry.bytes += m.size_bytes;
    totals.set(storageClass, entry);
  }
  const order = (c: string) => (c === 'none' ? STORAGE_CLASSES.length : STORAGE_CLASSES.indexOf(c as StorageClass));
  const byClass = [...totals]
    .sort((a, b) => order(a[0]) - order(b[0]))
    .map(([storageClass, e]) => ({
      storageClass,
      ...e,
      usdPerMonth: storageClass === 'none' ? null : monthlyStorageCost(e.bytes, storageClass),
    }));
  const recentStored = recent.reduce((s, m) => s + m.size_bytes, 0);
  return {
    backups: stored.length,
    bytes: stored.reduce((s, m) => s + m.size_bytes, 0),
    byClass,
    usdPerMonth: byClass.reduce((s, c) => s + (c.usdPerMonth ?? 0), 0),
    compressionRatio: recentStored === 0 ? null : recent.reduce((s, m) => s + m.source_size_bytes, 0) / recentStored,
  };
}

/** The Lambda function's hard limit: a backup that needs longer must run on Fargate. */
export const LAMBDA_LIMIT_MS = 15 * 60 * 1000;

/**
 * When the fitted duration line reaches the Lambda's 15 minutes, in weeks from now: 0 when it is
 * there already, null when it is not growing or there are fewer than three runs to fit.
 */
function weeksToLambdaLimit(durations: readonly Point[], now: number): number | null {
  if (durations.length < 3) return null;
  const slope = slopePerWeek(durations);
  const current = projectAt(durations, now);
  if (slope === null || current === null) return null;
  if (current >= LAMBDA_LIMIT_MS) return 0;
  if (slope <= 0) return null;
  return (LAMBDA_LIMIT_MS - current) / slope;
}

/** How long a table's count must have stood still after growing for a report to name it. */
const STALLED_AFTER_MS = WEEK_MS;

/**
 * Tables whose row count grew between earlier backups and has been the same in every backup of
 * the last week or more (at least two since it last changed): an application that stopped writing
 * a table it used to fill. Estimated counts move on their own and are not judged.
 */
function stalledTables(history: readonly Manifest[]): DatabaseReport['stalledTables'] {
  const newest = history.at(-1);
  if (!newest || history.length < 3) return [];
  const stalled: Array<{ table: string; rows: number; since: string }> = [];
  for (const [table, rows] of Object.entries(newest.tables)) {
    if (newest.tables_estimated.includes(table)) continue;
    const counts = history.map((m) => ({ at: m.datetime, rows: m.tables[table] })).filter((c) => c.rows !== undefined);
    let firstSame = counts.length - 1;
    while (firstSame > 0 && counts[firstSame - 1]?.rows === rows) firstSame--;
    const grew = counts.slice(0, firstSame + 1).some((c, i, all) => i > 0 && (c.rows ?? 0) > (all[i - 1]?.rows ?? 0));
    const since = counts[firstSame]?.at as string;
    const unchangedBackups = counts.length - firstSame;
    if (grew && unchangedBackups >= 3 && Date.parse(newest.datetime) - Date.parse(since) >= STALLED_AFTER_MS) {
      stalled.push({ table, rows, since });
    }
  }
  return stalled.sort((a, b) => a.table.localeCompare(b.table));
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : Math.round(value);
}
