import type { AlertMessage } from '../notify/alert.js';
import { escapeHtml } from '../notify/alert.js';
import type { DatabaseReport, Report } from './build-report.js';
import { renderReportText } from './render-report-text.js';
import { bytesText, durationText, percentText, usdText } from './report-units.js';

/** The widest a bar is drawn, in pixels. */
const BAR_WIDTH = 240;

/**
 * The weekly report as an email: a subject that sums it up, the text report as the plain part,
 * and an HTML part made for mail clients. Gmail and Outlook show neither inline SVG nor styles
 * from a `<style>` block reliably, so the HTML is tables with inline styles, and its charts are
 * bars: a `<td>` whose width is the value's share of the largest. Every text from the data is
 * escaped.
 */
export function renderReportEmail(report: Report, options: { moreDetail?: string } = {}): AlertMessage {
  const { overall } = report;
  const subject =
    `[dbbackup] Weekly report: ${overall.databases} ${overall.databases === 1 ? 'database' : 'databases'}, ` +
    `${overall.runs} runs, ${overall.failures} failed, ${report.recommendations.length} ` +
    `${report.recommendations.length === 1 ? 'recommendation' : 'recommendations'}`;
  return { subject, text: `${renderReportText(report).join('\n')}\n`, html: html(report, options.moreDetail) };
}

const e = escapeHtml;
const cell = 'padding:4px 8px;border-bottom:1px solid #e4e7eb;font-family:Arial,sans-serif;font-size:13px;';
const head = `${cell}text-align:left;background:#f0f4f8;`;

function html(report: Report, moreDetail: string | undefined): string {
  const maxStored = Math.max(1, ...report.databases.map((d) => d.stored.bytes));
  const rows = report.databases
    .map(
      (d) => `<tr data-database="${e(d.database)}">
<td style="${cell}">${e(d.database)}</td>
<td style="${cell}text-align:right" data-field="runs">${d.runs}</td>
<td style="${cell}text-align:right;${d.failures > 0 ? 'color:#c62828;' : ''}" data-field="failures">${d.failures}</td>
<td style="${cell}text-align:right">${percentText(d.successRate)}</td>
<td style="${cell}text-align:right">${d.durationMs ? durationText(d.durationMs.average) : '-'}</td>
<td style="${cell}text-align:right" data-field="storedBytes">${bytesText(d.stored.bytes)}</td>
<td style="${cell}">${bar(d.stored.bytes, maxStored, '#2f6fde')}</td>
<td style="${cell}text-align:right">${usdText(d.stored.usdPerMonth)}</td>
</tr>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html><body style="margin:0;padding:16px;background:#ffffff;color:#1f2933;font-family:Arial,sans-serif">
<h2 style="font-family:Arial,sans-serif;font-size:18px;margin:0 0 4px">dbbackup weekly report</h2>
<p style="font-family:Arial,sans-serif;font-size:13px;color:#627d98;margin:0 0 12px">${e(report.window.since.slice(0, 10))} to ${e(report.window.until.slice(0, 10))}: ${report.overall.runs} runs, ${report.overall.failures} failed (success rate ${percentText(report.overall.successRate)}), ${bytesText(report.overall.stored.bytes)} stored, ${usdText(report.overall.stored.usdPerMonth)}/month</p>
<table cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse">
<tr><th style="${head}">Database</th><th style="${head}">Runs</th><th style="${head}">Failed</th><th style="${head}">Success</th><th style="${head}">Avg duration</th><th style="${head}">Stored</th><th style="${head}"></th><th style="${head}">Per month</th></tr>
${rows}
</table>
<h3 style="font-family:Arial,sans-serif;font-size:15px;margin:16px 0 4px">Recommendations</h3>
${
  report.recommendations.length === 0
    ? '<p style="font-family:Arial,sans-serif;font-size:13px">None: nothing in these numbers needs attention.</p>'
    : `<ul style="font-family:Arial,sans-serif;font-size:13px;padding-left:20px">${report.recommendations
        .map((r) => `<li data-code="${e(r.code)}"><b>${e(r.database)}</b>: ${e(r.message)}</li>`)
        .join('\n')}</ul>`
}
${report.databases.map(databaseDetail).join('\n')}
<p style="font-family:Arial,sans-serif;font-size:11px;color:#627d98">Costs: ${e(report.prices.note)}.${moreDetail ? ` ${e(moreDetail)}` : ''}</p>
</body></html>
`;
}

/** Each backup's size and each run's duration over the week, as bars. */
function databaseDetail(d: DatabaseReport): string {
  if (d.series.backups.length === 0 && d.series.runs.length === 0) return '';
  const maxBytes = Math.max(1, ...d.series.backups.map((b) => b.bytes));
  const maxMs = Math.max(1, ...d.series.runs.map((r) => r.durationMs));
  const line = (at: string, value: string, barHtml: string) =>
    `<tr><td style="${cell}">${e(at.slice(0, 16).replace('T', ' '))}</td><td style="${cell}">${barHtml}</td><td style="${cell}text-align:right">${value}</td></tr>`;
  return `<h3 style="font-family:Arial,sans-serif;font-size:15px;margin:16px 0 4px">${e(d.database)}</h3>
<table cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse">
${
  d.series.backups.length === 0
    ? ''
    : `<tr><th style="${head}" colspan="3">Backup sizes</th></tr>
${d.series.backups.map((b) => line(b.at, bytesText(b.bytes), bar(b.bytes, maxBytes, '#2f6fde'))).join('\n')}`
}
${
  d.series.runs.length === 0
    ? ''
    : `<tr><th style="${head}" colspan="3">Run durations (red: failed)</th></tr>
${d.series.runs.map((r) => line(r.at, durationText(r.durationMs), bar(r.durationMs, maxMs, r.result === 'failed' ? '#c62828' : '#3ebd93'))).join('\n')}`
}
</table>`;
}

/** A bar as mail clients draw it: a one-row table whose filled cell's width is the value's share. */
function bar(value: number, max: number, colour: string): string {
  const filled = Math.max(1, Math.round((value / max) * BAR_WIDTH));
  return `<table cellpadding="0" cellspacing="0" border="0" width="${BAR_WIDTH}" style="border-collapse:collapse"><tr><td width="${filled}" height="12" bgcolor="${colour}" style="background:${colour};height:12px;font-size:0;line-height:0">&nbsp;</td><td width="${BAR_WIDTH - filled}" style="font-size:0;line-height:0">&nbsp;</td></tr></table>`;
}
