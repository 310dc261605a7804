import type { DatabaseReport, Report, RunStats, StoredStats } from './build-report.js';
import { bytesText, durationText, percentText, trendText, usdText } from './report-units.js';

/**
 * The report as plain text: the CLI prints it and the weekly email carries it as its text part.
 * Lines only; the caller makes data printable for its medium.
 */
export function renderReportText(report: Report): string[] {
  const lines: string[] = [
    `dbbackup report: ${report.window.days} days, ${report.window.since.slice(0, 16).replace('T', ' ')} to ${report.window.until.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Overall (${report.overall.databases} ${report.overall.databases === 1 ? 'database' : 'databases'})`,
    ...statsLines(report.overall, report.overall.stored),
  ];
  for (const db of report.databases) {
    lines.push(
      '',
      `Database ${db.database}${db.engine ? ` (${db.engine})` : ''}`,
      ...statsLines(db, db.stored),
      ...databaseLines(db),
    );
  }
  lines.push('', 'Recommendations');
  if (report.recommendations.length === 0) lines.push('  none: nothing in these numbers needs attention');
  for (const r of report.recommendations) lines.push(`  - ${r.database}: ${r.message}`);
  if (report.problems.length > 0) {
    lines.push('', 'Not read (the report is missing what these hold)');
    for (const p of report.problems) lines.push(`  - ${p.key}: ${p.error}`);
  }
  lines.push('', `Costs: ${report.prices.note}. Trends are least-squares slopes over the window.`);
  return lines;
}

function statsLines(stats: RunStats, stored: StoredStats): string[] {
  const d = stats.duration_ms;
  const lines = [
    `  runs            ${stats.runs}, ${stats.failures} failed, success rate ${percentText(stats.success_rate)}`,
    `  duration        ${d ? `average ${durationText(d.average)}, min ${durationText(d.min)}, max ${durationText(d.max)}, trend ${trendText(d.trend_ms_per_week, durationText)}` : '-'}`,
    `  stored          ${stored.backups} backups, ${bytesText(stored.bytes)}, ${usdText(stored.usd_per_month)}/month`,
  ];
  for (const c of stored.by_class) {
    lines.push(
      `    ${c.storage_class.padEnd(14)}${String(c.backups).padStart(5)} backups  ${bytesText(c.bytes).padStart(9)}  ${c.usd_per_month === null ? 'not S3' : `${usdText(c.usd_per_month)}/month`}`,
    );
  }
  lines.push(`  compression     ${stored.compression_ratio === null ? '-' : `${stored.compression_ratio.toFixed(2)}:1`}`);
  for (const e of stats.top_errors) lines.push(`  error ×${e.count}       ${e.error}`);
  return lines;
}

function databaseLines(db: DatabaseReport): string[] {
  return [
    `  newest backup   ${db.stored.newest_at ? `${db.stored.newest_at.slice(0, 16).replace('T', ' ')} UTC, ${bytesText(db.stored.newest_bytes ?? 0)}` : '-'}`,
    `  size trend      ${trendText(db.stored.growth_bytes_per_week, bytesText)}${db.stored.projected_usd_per_month_in_12_weeks === null ? '' : `, ${usdText(db.stored.projected_usd_per_month_in_12_weeks)}/month in 12 weeks`}`,
    `  restore test    ${db.restore_test.last_succeeded_at ? `${db.restore_test.days_since} days ago` : 'none found'}`,
  ];
}
