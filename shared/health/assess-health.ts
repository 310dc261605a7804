import type { ListedBackup, ManifestProblem } from '../catalog/list-backups.js';
import type { Manifest } from '../manifest.js';
import type { VerifyResult } from '../verify/verify-backup.js';
import type { DrillHealth } from './drill-health.js';

/**
 * How old the newest backup of each tier may be, in hours: a day of the schedule plus two hours'
 * slack for a slow run, a week plus a day, the longest month plus a day. Backups taken by hand
 * (tier `manual`) are held to the daily rule, the usual cron interval.
 */
export const DEFAULT_MAX_AGE_HOURS: Readonly<Record<string, number>> = {
  daily: 26,
  weekly: 8 * 24,
  monthly: 32 * 24,
  manual: 26,
};

/** A stored backup shrinking by more than this percentage against the previous one of its tier is an anomaly. */
export const DEFAULT_SHRINK_PERCENT = 50;
/** A table's exact row count falling by more than this percentage against the previous backup is an anomaly. */
export const DEFAULT_ROWS_DROP_PERCENT = 50;

/** What the health check holds each database to. */
export interface HealthPolicy {
  /** Hours the newest good backup of a tier may be old; tiers not named use {@link DEFAULT_MAX_AGE_HOURS}. */
  readonly maxAgeHours: Readonly<Record<string, number>>;
  /** @default {@link DEFAULT_SHRINK_PERCENT} */
  readonly shrinkPercent?: number;
  /** @default {@link DEFAULT_ROWS_DROP_PERCENT} */
  readonly rowsDropPercent?: number;
}

/** A database to check and the tiers it must have backups of (beyond those it has any of). */
export interface ExpectedDatabase {
  readonly name: string;
  /** Tiers checked even when they hold no backup (a missing tier is broken). @default none */
  readonly tiers?: readonly string[];
}

/** `broken`: the backups cannot be relied on (exit 3); `warning`: something looks wrong and deserves a look (exit 1). */
export type Severity = 'warning' | 'broken';

export type FindingKind =
  | 'no-backups'
  | 'stale'
  | 'corrupt'
  | 'unreadable-manifest'
  | 'shrunk'
  | 'table-missing'
  | 'table-emptied'
  | 'rows-dropped'
  | 'drill-overdue';

/** One thing found wrong, in words for the reader. */
export interface HealthFinding {
  readonly severity: Severity;
  readonly kind: FindingKind;
  /** null for an unreadable manifest, whose database cannot be read either. */
  readonly database: string | null;
  readonly tier: string | null;
  /** The backup the finding is about, as `list` names it. */
  readonly backupFile: string | null;
  readonly table: string | null;
  readonly message: string;
}

/** The age of one tier's newest good backup against its limit. */
export interface TierHealth {
  readonly tier: string;
  /** null when the tier has no good backup. */
  readonly newest: { readonly backupFile: string; readonly datetime: string } | null;
  /** null when the tier has no good backup. */
  readonly ageHours: number | null;
  readonly maxAgeHours: number;
  readonly stale: boolean;
}

/** One database's verdict. */
export interface DatabaseHealth {
  readonly database: string;
  readonly status: 'healthy' | Severity;
  readonly tiers: readonly TierHealth[];
  /** The re-read backups, newest first. */
  readonly verified: readonly VerifyResult[];
  /** Findings of kinds shrunk, table-missing, table-emptied and rows-dropped. */
  readonly anomalies: number;
  /** Its restore drills, when they were checked (HealthOptions.drills). */
  readonly drill?: DrillHealth;
}

/** The whole verdict: `--json`'s shape (`reportVersion` changes only when a field changes meaning). */
export interface HealthReport {
  readonly reportVersion: 1;
  readonly checkedAt: string;
  readonly status: 'healthy' | Severity;
  readonly databases: readonly DatabaseHealth[];
  readonly findings: readonly HealthFinding[];
}

const ANOMALIES: ReadonlySet<FindingKind> = new Set(['shrunk', 'table-missing', 'table-emptied', 'rows-dropped']);

/**
 * The tier a backup counts for: a scheduled backup's label (the tier that ran it), `manual` for one
 * taken by hand; none for a pre-restore safety copy, which no schedule promises.
 */
export function tierOf(manifest: Manifest): string | undefined {
  if (manifest.kind === 'pre-restore') return undefined;
  if (manifest.kind === 'scheduled' && manifest.label) return manifest.label;
  return 'manual';
}

/**
 * Judges stored backups, without reading any data: the age of each tier's newest good backup
 * (one whose re-read in `verified` did not fail), the verdicts in `verified`, and anomalies of
 * each tier's newest backup against the one before it. `backups` is newest first, as listed.
 */
export function assessHealth(input: {
  readonly backups: readonly ListedBackup[];
  readonly problems: readonly ManifestProblem[];
  readonly verified: readonly VerifyResult[];
  readonly databases: readonly ExpectedDatabase[];
  readonly policy: HealthPolicy;
  readonly now: Date;
  /** Where the backups are, for the finding that there are none at all. */
  readonly where: string;
  /** The restore drills of the databases whose drills are checked. */
  readonly drills?: ReadonlyMap<string, DrillHealth>;
}): HealthReport {
  const { policy, now } = input;
  const findings: HealthFinding[] = [];
  const add = (f: Omit<HealthFinding, 'backupFile' | 'table' | 'tier'> & Partial<HealthFinding>) =>
    findings.push({ tier: null, backupFile: null, table: null, ...f });
  for (const p of input.problems) {
    add({
      severity: 'broken',
      kind: 'unreadable-manifest',
      database: null,
      backupFile: p.backupFile,
      message: p.futureDated
        ? `the manifest ${p.key} cannot be believed (${p.error})`
        : `the manifest ${p.key} is unreadable (${p.error}): its backup cannot be checked or restored`,
    });
  }
  if (input.databases.length === 0 && input.problems.length === 0) {
    add({ severity: 'broken', kind: 'no-backups', database: null, message: `no backups in ${input.where}` });
  }
  const corrupt = new Set(input.verified.filter((v) => !v.ok).map((v) => v.key));
  const databases: DatabaseHealth[] = [];
  for (const expected of input.databases) {
    const start = findings.length;
    const own = input.backups.filter((b) => b.manifest.database === expected.name && tierOf(b.manifest) !== undefined);
    const verified = input.verified.filter((v) => own.some((b) => b.key === v.key));
    if (own.length === 0) {
      add({
        severity: 'broken',
        kind: 'no-backups',
        database: expected.name,
        message: `${expected.name} has no backups`,
      });
    }
    for (const v of verified.filter((r) => !r.ok)) {
      add({
        severity: 'broken',
        kind: 'corrupt',
        database: expected.name,
        tier: tierOf((own.find((b) => b.key === v.key) as ListedBackup).manifest) ?? null,
        backupFile: v.backupFile,
        message: `${v.backupFile} failed verification: ${v.problem}`,
      });
    }
    const byTier = new Map<string, ListedBackup[]>();
    for (const tier of expected.tiers ?? []) byTier.set(tier, []);
    for (const b of own) {
      const tier = tierOf(b.manifest) as string;
      byTier.set(tier, [...(byTier.get(tier) ?? []), b]);
    }
    const tiers: TierHealth[] = [];
    for (const [tier, backups] of byTier) {
      const maxAgeHours = policy.maxAgeHours[tier] ?? DEFAULT_MAX_AGE_HOURS[tier] ?? (DEFAULT_MAX_AGE_HOURS.manual as number);
      const good = backups.find((b) => !corrupt.has(b.key));
      const ageHours = good ? (now.getTime() - Date.parse(good.manifest.datetime)) / 3_600_000 : null;
      const stale = ageHours === null || ageHours > maxAgeHours;
      tiers.push({
        tier,
        newest: good ? { backupFile: good.manifest.backup_file, datetime: good.manifest.datetime } : null,
        ageHours: ageHours === null ? null : Math.round(ageHours * 100) / 100,
        maxAgeHours,
        stale,
      });
      if (stale && own.length > 0) {
        add({
          severity: 'broken',
          kind: 'stale',
          database: expected.name,
          tier,
          backupFile: good?.manifest.backup_file ?? null,
          message: good
            ? `the newest good ${tier} backup of ${expected.name} is ${formatHours(ageHours as number)} old (limit ${formatHours(maxAgeHours)})`
            : `${expected.name} has no good ${tier} backup`,
        });
      }
      const [newest, previous] = backups;
      if (newest && previous) for (const f of anomaliesBetween(newest.manifest, previous.manifest, policy)) add({ ...f, tier });
    }
    const drill = input.drills?.get(expected.name);
    if (drill?.overdue)
      add({ severity: 'warning', kind: 'drill-overdue', database: expected.name, message: overdueDrill(expected.name, drill) });
    const mine = findings.slice(start);
    databases.push({
      database: expected.name,
      status: worst(mine),
      tiers,
      verified,
      anomalies: mine.filter((f) => ANOMALIES.has(f.kind)).length,
      ...(drill ? { drill } : {}),
    });
  }
  return { reportVersion: 1, checkedAt: now.toISOString(), status: worst(findings), databases, findings };
}

/** `no restore drill of school has passed in 41 days (limit 35); the last one, 2026-11-15, failed: …` */
function overdueDrill(database: string, drill: DrillHealth): string {
  const days = Math.floor(drill.daysWithoutPassedDrill ?? 0);
  const head =
    drill.lastPassedAt === null
      ? `no restore drill of ${database} has passed in the ${days} days since its first run (limit ${drill.maxAgeDays})`
      : `no restore drill of ${database} has passed in ${days} days (limit ${drill.maxAgeDays})`;
  const last = drill.lastDrill;
  if (last === null) return `${head}; none has run`;
  if (last.result === 'failed') return `${head}; the last one, ${last.at.slice(0, 10)}, failed: ${last.error ?? 'no message'}`;
  return head;
}

/**
 * What changed suspiciously from `previous` to `newest` (same database and tier): the stored size
 * shrinking by more than the limit (only between backups of one format and compression, whose
 * sizes compare), a table that had rows gone or empty, a row count fallen by more than the limit.
 * Estimated counts (PostgreSQL's statistics for large tables) can be far off and are 0 for a table
 * never analyzed, so an estimate never makes a table "emptied" or "dropped"; a missing table does.
 */
export function anomaliesBetween(
  newest: Manifest,
  previous: Manifest,
  policy: Pick<HealthPolicy, 'shrinkPercent' | 'rowsDropPercent'>,
): Array<Omit<HealthFinding, 'tier'>> {
  const shrinkPercent = policy.shrinkPercent ?? DEFAULT_SHRINK_PERCENT;
  const rowsDropPercent = policy.rowsDropPercent ?? DEFAULT_ROWS_DROP_PERCENT;
  const found: Array<Omit<HealthFinding, 'tier'>> = [];
  const about = { severity: 'warning' as const, database: newest.database, backupFile: newest.backup_file };
  const comparable = newest.format === previous.format && newest.compression === previous.compression;
  if (comparable && previous.size_bytes > 0 && newest.size_bytes < previous.size_bytes * (1 - shrinkPercent / 100)) {
    const percent = Math.round((1 - newest.size_bytes / previous.size_bytes) * 100);
    found.push({
      ...about,
      kind: 'shrunk',
      table: null,
      message: `${newest.backup_file} is ${percent}% smaller than the backup before it (${newest.size_bytes} bytes, was ${previous.size_bytes})`,
    });
  }
  const estimated = new Set([...newest.tables_estimated, ...previous.tables_estimated]);
  for (const [table, before] of Object.entries(previous.tables)) {
    if (before === 0) continue;
    const now = newest.tables[table];
    const approx = estimated.has(table) ? 'about ' : '';
    if (now === undefined) {
      if (table in newest.tables_skipped) continue;
      found.push({
        ...about,
        kind: 'table-missing',
        table,
        message: `table ${table} (${approx}${before} rows before) is missing from ${newest.backup_file}`,
      });
    } else if (estimated.has(table)) {
      continue;
    } else if (now === 0) {
      found.push({
        ...about,
        kind: 'table-emptied',
        table,
        message: `table ${table} is empty in ${newest.backup_file} (${before} rows before)`,
      });
    } else if (now < before * (1 - rowsDropPercent / 100)) {
      found.push({
        ...about,
        kind: 'rows-dropped',
        table,
        message: `table ${table} has ${now} rows in ${newest.backup_file}, ${Math.round((1 - now / before) * 100)}% fewer than before (${before})`,
      });
    }
  }
  return found;
}

function worst(findings: readonly HealthFinding[]): 'healthy' | Severity {
  if (findings.some((f) => f.severity === 'broken')) return 'broken';
  return findings.length > 0 ? 'warning' : 'healthy';
}

/** `30 h`, `9.5 days`: hours below three days, days above. */
export function formatHours(hours: number): string {
  if (hours < 72) return `${Math.round(hours * 10) / 10} h`;
  return `${Math.round((hours / 24) * 10) / 10} days`;
}
