import { escapeHtml } from '../notify/alert.js';
import type { DatabaseReport, Report, RunStats, StoredStats } from './build-report.js';
import { bytesText, durationText, percentText, trendText, usdText } from './report-units.js';

/**
 * The report as one self-contained HTML page: inline CSS, charts drawn here as inline SVG, no
 * script and nothing loaded from anywhere, so it opens the same offline, attached to a ticket or
 * years later. Every text that came from the data is escaped. Numbers carry `data-field` and
 * `data-value` (the JSON report's value) so a reader, or a test, can find them.
 */
export function renderReportHtml(report: Report): string {
  const e = escapeHtml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dbbackup report, ${e(report.window.until.slice(0, 10))}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1f2933; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid #d9e2ec; padding-bottom: 0.2rem; }
.muted { color: #627d98; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { text-align: left; padding: 0.25rem 0.75rem; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
figcaption { font-size: 0.85rem; color: #486581; }
ul.recommendations li { margin: 0.3rem 0; }
.failed { color: #c62828; }
</style>
</head>
<body>
<h1>dbbackup report</h1>
<p class="muted">${report.window.days} days, ${e(stamp(report.window.since))} to ${e(stamp(report.window.until))} UTC</p>
<h2>Overall</h2>
<section id="overall" data-database="">
${statsTable(report.overall, report.overall.stored)}
</section>
<h2>Recommendations</h2>
${
  report.recommendations.length === 0
    ? '<p id="recommendations">None: nothing in these numbers needs attention.</p>'
    : `<ul id="recommendations" class="recommendations">${report.recommendations
        .map(
          (r) =>
            `<li data-code="${e(r.code)}" data-database="${e(r.database)}"><strong>${e(r.database)}</strong>: ${e(r.message)}</li>`,
        )
        .join('\n')}</ul>`
}
${report.databases.map((db) => databaseSection(db, report)).join('\n')}
${
  report.problems.length === 0
    ? ''
    : `<h2>Not read</h2><p>The report is missing what these hold:</p><ul>${report.problems
        .map((p) => `<li><code>${e(p.key)}</code>: ${e(p.error)}</li>`)
        .join('')}</ul>`
}
<p class="muted">Costs: ${e(report.prices.note)}. Trends are least-squares slopes over the window. Generated ${e(stamp(report.generatedAt))} UTC.</p>
</body>
</html>
`;
}

function databaseSection(db: DatabaseReport, report: Report): string {
  const e = escapeHtml;
  const since = Date.parse(report.window.since);
  const until = Date.parse(report.window.until);
  const rows: Array<[string, string, string, number | string | null]> = [
    [
      'Newest backup',
      'newestAt',
      db.stored.newestAt ? `${stamp(db.stored.newestAt)} UTC, ${bytesText(db.stored.newestBytes ?? 0)}` : '-',
      db.stored.newestAt,
    ],
    ['Size trend', 'growthBytesPerWeek', trendText(db.stored.growthBytesPerWeek, bytesText), db.stored.growthBytesPerWeek],
    [
      'Cost in 12 weeks',
      'projectedUsdPerMonthIn12Weeks',
      db.stored.projectedUsdPerMonthIn12Weeks === null ? '-' : `${usdText(db.stored.projectedUsdPerMonthIn12Weeks)}/month`,
      db.stored.projectedUsdPerMonthIn12Weeks,
    ],
    [
      'Last restore test',
      'restoreDaysSince',
      db.restoreTest.daysSince === null ? 'none found' : `${db.restoreTest.daysSince} days ago`,
      db.restoreTest.daysSince,
    ],
  ];
  return `<h2>Database ${e(db.database)}${db.engine ? ` <span class="muted">(${e(db.engine)})</span>` : ''}</h2>
<section class="database" data-database="${e(db.database)}">
<div class="charts">
${chart({
  title: 'Stored size of each backup',
  points: db.series.backups.map((b) => ({ at: Date.parse(b.at), value: b.bytes, failed: false })),
  since,
  until,
  format: bytesText,
  id: 'size',
})}
${chart({
  title: 'Duration of each run (red: failed)',
  points: db.series.runs.map((r) => ({ at: Date.parse(r.at), value: r.durationMs, failed: r.result === 'failed' })),
  since,
  until,
  format: durationText,
  id: 'duration',
})}
</div>
${statsTable(db, db.stored)}
<table>${rows.map(([label, field, shown, value]) => `<tr><th>${label}</th><td data-field="${field}" data-value="${e(String(value))}">${e(shown)}</td></tr>`).join('')}</table>
${
  db.stalledTables.length === 0
    ? ''
    : `<table><tr><th>Table that stopped growing</th><th>Rows</th><th>Since</th></tr>${db.stalledTables
        .map((t) => `<tr><td>${e(t.table)}</td><td class="n">${t.rows}</td><td>${e(t.since.slice(0, 10))}</td></tr>`)
        .join('')}</table>`
}
</section>`;
}

function statsTable(stats: RunStats, stored: StoredStats): string {
  const e = escapeHtml;
  const d = stats.durationMs;
  const cell = (field: string, value: number | null, shown: string) =>
    `<td class="n" data-field="${field}" data-value="${value === null ? 'null' : value}">${e(shown)}</td>`;
  return `<table>
<tr><th>Runs</th>${cell('runs', stats.runs, String(stats.runs))}<th>Failed</th>${cell('failures', stats.failures, String(stats.failures))}<th>Success rate</th>${cell('successRate', stats.successRate, percentText(stats.successRate))}</tr>
<tr><th>Average duration</th>${cell('durationAverage', d?.average ?? null, d ? durationText(d.average) : '-')}<th>Min</th>${cell('durationMin', d?.min ?? null, d ? durationText(d.min) : '-')}<th>Max</th>${cell('durationMax', d?.max ?? null, d ? durationText(d.max) : '-')}</tr>
<tr><th>Duration trend</th>${cell('durationTrend', d?.trendMsPerWeek ?? null, trendText(d?.trendMsPerWeek ?? null, durationText))}<th>Compression</th>${cell('compressionRatio', stored.compressionRatio, stored.compressionRatio === null ? '-' : `${stored.compressionRatio.toFixed(2)}:1`)}<th></th><td></td></tr>
<tr><th>Stored</th>${cell('storedBytes', stored.bytes, `${stored.backups} backups, ${bytesText(stored.bytes)}`)}<th>Storage cost</th>${cell('usdPerMonth', stored.usdPerMonth, `${usdText(stored.usdPerMonth)}/month`)}<th></th><td></td></tr>
</table>
<table>
<tr><th>Storage class</th><th>Backups</th><th>Size</th><th>Per month</th></tr>
${stored.byClass
  .map(
    (c) =>
      `<tr data-storage-class="${e(c.storageClass)}"><td>${e(c.storageClass)}</td><td class="n">${c.backups}</td><td class="n">${e(bytesText(c.bytes))}</td><td class="n">${c.usdPerMonth === null ? 'not S3' : e(usdText(c.usdPerMonth))}</td></tr>`,
  )
  .join('\n')}
</table>
${
  stats.topErrors.length === 0
    ? ''
    : `<table><tr><th>Most frequent errors</th><th>Runs</th></tr>${stats.topErrors
        .map((t) => `<tr><td class="failed">${e(t.error)}</td><td class="n">${t.count}</td></tr>`)
        .join('')}</table>`
}`;
}

const WIDTH = 420;
const HEIGHT = 180;
const PAD = { left: 70, right: 12, top: 12, bottom: 28 };

/** A scatter-and-line chart over the report's window, as inline SVG. */
function chart(options: {
  title: string;
  id: string;
  points: ReadonlyArray<{ at: number; value: number; failed: boolean }>;
  since: number;
  until: number;
  format: (value: number) => string;
}): string {
  const e = escapeHtml;
  const { points, since, until } = options;
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (at: number) => PAD.left + ((at - since) / Math.max(1, until - since)) * (WIDTH - PAD.left - PAD.right);
  const y = (value: number) => HEIGHT - PAD.bottom - (value / max) * (HEIGHT - PAD.top - PAD.bottom);
  const fixed = (n: number) => n.toFixed(1);
  const line = points
    .filter((p) => !p.failed)
    .map((p) => `${fixed(x(p.at))},${fixed(y(p.value))}`)
    .join(' ');
  const dots = points
    .map(
      (p) =>
        `<circle cx="${fixed(x(p.at))}" cy="${fixed(y(p.value))}" r="3.5" fill="${p.failed ? '#c62828' : '#2f6fde'}"><title>${e(`${new Date(p.at).toISOString().slice(0, 16).replace('T', ' ')}: ${options.format(p.value)}`)}</title></circle>`,
    )
    .join('');
  const axis = `<line x1="${PAD.left}" y1="${HEIGHT - PAD.bottom}" x2="${WIDTH - PAD.right}" y2="${HEIGHT - PAD.bottom}" stroke="#9aa5b1"/><line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${HEIGHT - PAD.bottom}" stroke="#9aa5b1"/>`;
  const labels = `<text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end" font-size="10" fill="#486581">${e(options.format(max))}</text><text x="${PAD.left - 6}" y="${HEIGHT - PAD.bottom}" text-anchor="end" font-size="10" fill="#486581">0</text><text x="${PAD.left}" y="${HEIGHT - 8}" font-size="10" fill="#486581">${e(new Date(since).toISOString().slice(0, 10))}</text><text x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end" font-size="10" fill="#486581">${e(new Date(until).toISOString().slice(0, 10))}</text>`;
  const body =
    points.length === 0
      ? `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" font-size="12" fill="#627d98">nothing in this window</text>`
      : `<polyline points="${line}" fill="none" stroke="#2f6fde" stroke-width="2"/>${dots}`;
  return `<figure><svg class="chart" data-chart="${options.id}" data-points="${points.length}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${e(options.title)}">${axis}${labels}${body}</svg><figcaption>${e(options.title)}</figcaption></figure>`;
}

function stamp(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}
