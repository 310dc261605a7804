import { type ListedBackup, listBackups } from '../catalog/list-backups.js';
import { assessHealth, type ExpectedDatabase, type HealthPolicy, type Severity, tierOf } from '../health/assess-health.js';
import { DEFAULT_MAX_DRILL_AGE_DAYS, drillHealthOf } from '../health/drill-health.js';
import type { Target } from '../targets/target.js';

/** Databases whose run-record folders are listed at once: a deployment of hundreds must not open hundreds of requests. */
const DRILL_LOOKUPS_AT_ONCE = 8;

/** How many of each database's newest backups the view lists unless told otherwise. */
export const DEFAULT_NEWEST_SHOWN = 5;

/** A database the view shows: its name, its engine (where its run records are) and the tiers it must have. */
export interface ConsoleDatabase extends ExpectedDatabase {
  readonly engine: string;
}

/** One listed backup, as the view shows it. */
export interface ConsoleBackup {
  /** The backup's file name, as `list` names it and `verify` takes it. */
  readonly file: string;
  readonly datetime: string;
  readonly ageSeconds: number;
  readonly sizeBytes: number;
  /** The tier (`daily`, …) or `manual`. */
  readonly tier: string;
}

/** The last restore drill of a database, from its run record. */
export interface ConsoleDrill {
  readonly startedAt: string;
  readonly ageSeconds: number;
  readonly result: 'succeeded' | 'failed';
  /** The one line the drill's user saw, when it failed. */
  readonly error: string | null;
  readonly durationMs: number;
  readonly backupKey: string | null;
}

/** One database's part of the view. */
export interface ConsoleDatabaseView {
  readonly name: string;
  /** The health check's verdict without re-reading any backup: ages, anomalies, unreadable manifests. */
  readonly status: 'healthy' | Severity;
  readonly findings: readonly string[];
  /** Newest first, pre-restore copies left out. */
  readonly backups: readonly ConsoleBackup[];
  readonly lastDrill: ConsoleDrill | null;
  /** Why the last drill could not be read, when its record is damaged. */
  readonly drillProblem?: string;
}

/** What the console widget shows. */
export interface ConsoleView {
  readonly at: string;
  readonly databases: readonly ConsoleDatabaseView[];
  /** Findings about no one database (an unreadable manifest, whose database cannot be told). */
  readonly findings: readonly string[];
}

/**
 * Gathers the console's view of a target as cheaply as it can: one listing of the manifests
 * (no backup is re-read: the view's health is the health check's verdict on ages, anomalies and
 * manifests alone; "verify now" re-reads one), and per database the key names under its run
 * records' folder and the newest drill record only. Only reads.
 */
export async function gatherConsoleView(
  target: Target,
  options: {
    readonly databases: readonly ConsoleDatabase[];
    readonly policy: HealthPolicy;
    /** @default {@link DEFAULT_NEWEST_SHOWN} */
    readonly newest?: number;
    readonly now?: Date;
  },
): Promise<ConsoleView> {
  const now = options.now ?? new Date();
  const shown = options.newest ?? DEFAULT_NEWEST_SHOWN;
  const { backups, problems } = await listBackups(target, { now });
  const report = assessHealth({
    backups,
    problems,
    verified: [],
    databases: options.databases,
    policy: options.policy,
    now,
    where: target.url,
  });
  const ageOf = (datetime: string) => Math.max(0, Math.round((now.getTime() - Date.parse(datetime)) / 1000));
  const databases = await mapLimited(options.databases, DRILL_LOOKUPS_AT_ONCE, async (db): Promise<ConsoleDatabaseView> => {
    const own = backups.filter((b) => b.manifest.database === db.name && tierOf(b.manifest) !== undefined);
    const health = report.databases.find((d) => d.database === db.name);
    const drill = await drillHealthOf(target, db.name, DEFAULT_MAX_DRILL_AGE_DAYS, now, [db.engine]);
    const last = drill.lastDrill;
    return {
      name: db.name,
      status: health?.status ?? 'broken',
      findings: report.findings.filter((f) => f.database === db.name).map((f) => f.message),
      backups: own.slice(0, shown).map((b: ListedBackup) => ({
        file: b.manifest.backup_file,
        datetime: b.manifest.datetime,
        ageSeconds: ageOf(b.manifest.datetime),
        sizeBytes: b.manifest.size_bytes,
        tier: tierOf(b.manifest) as string,
      })),
      lastDrill: last
        ? {
            startedAt: last.at,
            ageSeconds: ageOf(last.at),
            result: last.result,
            error: last.error,
            durationMs: last.durationMs,
            backupKey: last.backupKey,
          }
        : null,
      ...(drill.problem === undefined ? {} : { drillProblem: drill.problem }),
    };
  });
  return {
    at: now.toISOString(),
    databases,
    findings: report.findings.filter((f) => f.database === null).map((f) => f.message),
  };
}

/** `work` over `items`, at most `limit` at a time, results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
