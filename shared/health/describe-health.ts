import { formatHours, type HealthReport } from './assess-health.js';

/**
 * A report as lines of text, as the CLI prints it and the health email holds it: one per finding
 * (`BROKEN`, `WARNING`), one per healthy database, and the summary.
 */
export function describeHealth(report: HealthReport): string[] {
  const lines = report.findings.map((f) => `${f.severity === 'broken' ? 'BROKEN ' : 'WARNING'}  ${f.message}`);
  for (const db of report.databases) {
    if (db.status !== 'healthy') continue;
    const ages = db.tiers.map((t) => `${t.tier} ${formatHours(t.ageHours ?? 0)} old`).join(', ');
    const drill = db.drill?.lastPassedAt
      ? `; drill passed ${formatHours((Date.parse(report.checkedAt) - Date.parse(db.drill.lastPassedAt)) / 3_600_000)} ago`
      : '';
    lines.push(`ok       ${db.database}: ${ages}; ${db.verified.length} verified${drill}`);
  }
  lines.push(summarizeHealth(report));
  return lines;
}

/** `3 database(s): 1 healthy, 1 with warnings, 1 broken`. */
export function summarizeHealth(report: HealthReport): string {
  const count = (status: string) => report.databases.filter((d) => d.status === status).length;
  return `${report.databases.length} database(s): ${count('healthy')} healthy, ${count('warning')} with warnings, ${count('broken')} broken`;
}
