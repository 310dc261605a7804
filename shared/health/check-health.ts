import { type ListedBackup, listBackups } from '../catalog/list-backups.js';
import { ConfigError } from '../errors.js';
import type { ReadProgress } from '../pipeline/read-progress.js';
import { defaultSettings, type Settings } from '../settings.js';
import type { Target } from '../targets/target.js';
import { type VerifyResult, verifyBackup } from '../verify/verify-backup.js';
import { DEFAULT_MAX_DRILL_AGE_DAYS, type DrillHealth, drillHealthOf } from './drill-health.js';
import { assessHealth, type ExpectedDatabase, type HealthPolicy, type HealthReport, tierOf } from './assess-health.js';

/** How many of each database's newest backups are re-read unless told otherwise. */
export const DEFAULT_VERIFY_NEWEST = 3;

/** What to check and how strictly. */
export interface HealthOptions extends HealthPolicy {
  /**
   * The databases to check, with the tiers each must have. @default every database the target
   * holds backups of, each with the tiers it has backups of
   */
  readonly databases?: readonly ExpectedDatabase[];
  /** Tiers every database found must have (when `databases` is not given), even without any backup of them. @default none */
  readonly tiers?: readonly string[];
  /** How many of each database's newest backups to re-read (0: none). @default {@link DEFAULT_VERIFY_NEWEST} */
  readonly verifyNewest?: number;
  /**
   * Check that a restore drill passed within `maxAgeDays` (from the drills' run records) for these
   * databases, or for every database checked when `databases` is not given. @default not checked
   */
  readonly drills?: { readonly databases?: readonly string[]; readonly maxAgeDays?: number };
}

/** Hooks of a health check. */
export interface HealthContext {
  readonly settings?: Settings;
  /** Aborting stops the re-reading (it only reads: nothing is left to undo) and rejects with the reason. */
  readonly signal?: AbortSignal;
  /** Told which backup is being re-read, and the read's progress a few times a second. */
  readonly onProgress?: (backup: ListedBackup, progress: ReadProgress) => void;
  readonly now?: () => Date;
}

/**
 * Checks the backups in a target: for each database, the age of each tier's newest good backup
 * against its limit, a re-read of its newest backups (as `verify` does), and anomalies of each
 * tier's newest backup against the one before it. Only reads. A target that is not there fails
 * (ConfigError, as listing does); everything found wrong with the backups is in the report.
 */
export async function checkHealth(target: Target, options: HealthOptions, context: HealthContext = {}): Promise<HealthReport> {
  const verifyNewest = options.verifyNewest ?? DEFAULT_VERIFY_NEWEST;
  checkPolicy(options, verifyNewest);
  const onlyOne = options.databases?.length === 1 ? options.databases[0]?.name : undefined;
  const now = context.now?.() ?? new Date();
  const { backups, problems } = await listBackups(target, { database: onlyOne, now });
  const databases =
    options.databases ??
    [...new Set(backups.map((b) => b.manifest.database))].sort().map((name) => ({ name, tiers: options.tiers }));
  const verified: VerifyResult[] = [];
  for (const { name } of databases) {
    const newest = backups.filter((b) => b.manifest.database === name && tierOf(b.manifest) !== undefined).slice(0, verifyNewest);
    for (const backup of newest) {
      context.signal?.throwIfAborted();
      verified.push(
        await verifyBackup(target, backup, context.settings ?? defaultSettings(), context.signal, (p) =>
          context.onProgress?.(backup, p),
        ),
      );
    }
  }
  const drills = new Map<string, DrillHealth>();
  if (options.drills) {
    const maxAgeDays = options.drills.maxAgeDays ?? DEFAULT_MAX_DRILL_AGE_DAYS;
    for (const name of options.drills.databases ?? databases.map((d) => d.name)) {
      context.signal?.throwIfAborted();
      drills.set(name, await drillHealthOf(target, name, maxAgeDays, now));
    }
  }
  return assessHealth({ backups, problems, verified, databases, policy: options, now, where: target.url, drills });
}

/** Refuses limits that cannot mean anything, naming the value. */
function checkPolicy(options: HealthOptions, verifyNewest: number): void {
  if (!Number.isInteger(verifyNewest) || verifyNewest < 0)
    throw new ConfigError(`the number of backups to verify must be a whole number of 0 or more (got ${verifyNewest})`);
  const drillDays = options.drills?.maxAgeDays;
  if (drillDays !== undefined && !(drillDays > 0))
    throw new ConfigError(`the maximum age of a passed restore drill must be more than 0 days (got ${drillDays})`);
  for (const [tier, hours] of Object.entries(options.maxAgeHours)) {
    if (!(hours > 0)) throw new ConfigError(`the maximum age of ${tier} backups must be more than 0 (got ${hours} h)`);
  }
  for (const [what, value] of [
    ['shrink', options.shrinkPercent],
    ['rows drop', options.rowsDropPercent],
  ] as const) {
    if (value !== undefined && !(value > 0 && value <= 100))
      throw new ConfigError(`the ${what} percentage must be more than 0 and at most 100 (got ${value})`);
  }
}
