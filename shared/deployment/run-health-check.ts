import { DEFAULT_MAX_AGE_HOURS, type ExpectedDatabase, type HealthReport } from '../health/assess-health.js';
import { checkHealth } from '../health/check-health.js';
import { describeHealth, summarizeHealth } from '../health/describe-health.js';
import { type AlertMessage, escapeHtml } from '../notify/alert.js';
import type { Settings } from '../settings.js';
import { openTarget } from '../targets/open-target.js';
import { type HealthConfig, TIERS, type Tier } from './deployment-config.js';
import { DRILL_METRICS, HEALTH_METRICS, metricDimensions, SERVICE_NAME } from './deployment-names.js';

/**
 * How old a tier's newest good backup may be before the health check calls it stale and its age
 * alarm fires: the tier's schedule period plus slack (26 h, 8 days, 32 days). A schedule's hour
 * and weekday move when a backup runs, not how often, so the period alone decides.
 */
export function maxBackupAgeHours(tier: Tier): number {
  return DEFAULT_MAX_AGE_HOURS[tier] as number;
}

/** Each configured database, with the tiers it must have backups of: its enabled ones. */
export function expectedDatabases(config: HealthConfig): ExpectedDatabase[] {
  return config.databases.map((db) => ({
    name: db.name,
    // As tierSettings decides it: a tier is enabled unless its schedule says otherwise.
    tiers: TIERS.filter((tier) => db.schedules[tier]?.enabled ?? true),
  }));
}

/**
 * Checks every configured database's backups in the deployment's bucket: the age of each enabled
 * tier's newest good backup, a re-read of the newest `health.verifyNewest`, anomalies.
 */
export async function runHealthCheck(
  config: HealthConfig,
  deps: { bucket: string; settings: Settings; signal?: AbortSignal; now?: () => Date },
): Promise<HealthReport> {
  const target = await openTarget(`s3://${deps.bucket}`, { settings: deps.settings });
  return checkHealth(
    target,
    {
      databases: expectedDatabases(config),
      verifyNewest: config.health.verifyNewest,
      maxAgeHours: Object.fromEntries(TIERS.map((tier) => [tier, maxBackupAgeHours(tier)])),
      drills: { databases: config.databases.filter((db) => db.drill).map((db) => db.name) },
    },
    { settings: deps.settings, signal: deps.signal, now: deps.now },
  );
}

/** One set of metrics sharing dimensions, as one embedded-metric-format record holds them. */
export interface HealthMetricSet {
  readonly dimensions: Record<string, string>;
  readonly values: Readonly<Record<string, number>>;
}

/**
 * What a health report publishes: per database and checked tier `BackupAgeHours` (none for a tier
 * without a good backup: the age alarm treats missing data as breaching), and per database the
 * backups re-read good and corrupt and the anomalies found.
 */
export function healthMetrics(report: HealthReport): HealthMetricSet[] {
  return report.databases.flatMap((db) => [
    ...db.tiers
      .filter((t) => t.ageHours !== null)
      .map((t) => ({
        dimensions: metricDimensions({ database: db.database, tier: t.tier }),
        values: { [HEALTH_METRICS.backupAge]: t.ageHours as number },
      })),
    {
      dimensions: { service: SERVICE_NAME, database: db.database },
      values: {
        [HEALTH_METRICS.healthy]: db.verified.filter((v) => v.ok).length,
        [HEALTH_METRICS.corrupt]: db.verified.filter((v) => !v.ok).length,
        [HEALTH_METRICS.anomalies]: db.anomalies,
        // None before the database's first run record: nothing to drill yet (its BackupTooOld alarms speak then).
        ...(db.drill?.daysWithoutPassedDrill != null ? { [DRILL_METRICS.daysWithoutPass]: db.drill.daysWithoutPassedDrill } : {}),
      },
    },
  ]);
}

/**
 * The email about a report: whenever anything is wrong; when all is healthy, only on the weekday
 * `health.allHealthyEmail` names (in the deployment's time zone), else none.
 */
export function healthEmail(report: HealthReport, config: HealthConfig, at: Date, logUrl?: string): AlertMessage | undefined {
  if (report.status === 'healthy') {
    const weekday = new Intl.DateTimeFormat('en-US', { timeZone: config.timeZone, weekday: 'short' }).format(at).toUpperCase();
    if (config.health.allHealthyEmail !== weekday) return undefined;
  }
  const first = report.findings[0]?.message;
  const subject =
    report.status === 'healthy'
      ? `[dbbackup] health: all ${report.databases.length} database(s) healthy`
      : `[dbbackup] health ${report.status.toUpperCase()}: ${first}${report.findings.length > 1 ? ` (and ${report.findings.length - 1} more)` : ''}`;
  const lines = describeHealth(report);
  const log = logUrl ? [`Log: ${logUrl}`] : [];
  const text = [`Backup health check of ${at.toISOString()}:`, '', ...lines, '', ...log].join('\n') + '\n';
  const html = `<!doctype html><html><body style="font-family: sans-serif">
<p>${escapeHtml(`Backup health check of ${at.toISOString()}: ${summarizeHealth(report)}`)}</p>
<pre>${escapeHtml(lines.join('\n'))}</pre>
${logUrl ? `<p><a href="${escapeHtml(logUrl)}">open the log stream</a></p>` : ''}
</body></html>
`;
  return { subject: subject.length > 160 ? `${subject.slice(0, 159)}…` : subject, text, html };
}

/**
 * The email about a health check that could not run (the bucket unreadable, the time limit): its
 * one error line. Without it the first word would be the age alarms' a day later.
 */
export function healthFailureEmail(error: string, at: Date, logUrl?: string): AlertMessage {
  const subject = `[dbbackup] health check FAILED: ${error.split('\n')[0]}`;
  const headline = `The backup health check of ${at.toISOString()} could not run, so nothing was checked:`;
  const log = logUrl ? [`Log: ${logUrl}`] : [];
  return {
    subject: subject.length > 160 ? `${subject.slice(0, 159)}…` : subject,
    text: [headline, '', error, '', ...log].join('\n') + '\n',
    html: `<!doctype html><html><body style="font-family: sans-serif">
<p>${escapeHtml(headline)}</p>
<pre>${escapeHtml(error)}</pre>
${logUrl ? `<p><a href="${escapeHtml(logUrl)}">open the log stream</a></p>` : ''}
</body></html>
`,
  };
}
