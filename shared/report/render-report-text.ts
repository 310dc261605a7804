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
  const d = stats.durationMs;
  const lines = [
    `  runs            ${stats.runs}, ${stats.failures} failed, success rate ${percentText(stats.successRate)}`,
    `  duration        ${d ? `average ${durationText(d.average)}, min ${durationText(d.min)}, max ${durationText(d.max)}, trend ${trendText(d.trendMsPerWeek, durationText)}` : '-'}`,
    `  stored          ${stored.backups} backups, ${bytesText(stored.bytes)}, ${usdText(stored.usdPerMonth)}/month`,
  ];
  for (const c of stored.byClass) {
    lines.push(
      `    ${c.storageClass.padEnd(14)}${String(c.backups).padStart(5)} backups  ${bytesText(c.bytes).padStart(9)}  ${c.usdPerMonth === null ? 'not S3' : `${usdText(c.usdPerMonth)}/month`}`,
    );
  }
  lines.push(`  compression     ${stored.compressionRatio === null ? '-' : `${stored.compressionRatio.toFixed(2)}:1`}`);
  for (const e of stats.topErrors) lines.push(`  error ×${e.count}       ${e.error}`);
  return lines;
}

function databaseLines(db: DatabaseReport): string[] {
  return [
    `  newest backup   ${db.stored.newestAt ? `${db.stored.newestAt.slice(0, 16).replace('T', ' ')} UTC, ${bytesText(db.stored.newestBytes ?? 0)}` : '-'}`,
    `  size trend      ${trendText(db.stored.growthBytesPerWeek, bytesText)}${db.stored.projectedUsdPerMonthIn12Weeks === null ? '' : `, ${usdText(db.stored.projectedUsdPerMonthIn12Weeks)}/month in 12 weeks`}`,
    `  restore test    ${db.restoreTest.lastSucceededAt ? `${db.restoreTest.daysSince} days ago` : 'none found'}`,
  ];
}
