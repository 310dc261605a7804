import { formatHours } from '../health/assess-health.js';
import { escapeHtml } from '../notify/alert.js';
import { bytesText, durationText } from '../report/report-units.js';
import type { ConsoleAction } from './console-action.js';
import type { ConsoleDatabaseView, ConsoleView } from './gather-console-view.js';

/** What an action did, shown above the view: its headline and detail lines. */
export interface ConsoleResult {
  /** true: it succeeded; false: it failed or was refused; null: it was started, the outcome comes later. */
  readonly ok: boolean | null;
  readonly lines: readonly string[];
}

/** How the view is drawn: where its buttons call, and what the last action did. */
export interface RenderOptions {
  /** The ARN of the widget's own function, which every button calls. */
  readonly endpoint: string;
  readonly result?: ConsoleResult;
  /** The view could not be gathered (the bucket unreadable): this line instead. */
  readonly viewError?: string;
}

/** The dashboard hides `<cwdb-action>`; a plain browser (the tests' Chromium) must not print its parameters. */
const STYLE = `<style>
.dbb cwdb-action{display:none}
.dbb table{border-collapse:collapse;margin:4px 0 8px}
.dbb td,.dbb th{padding:2px 8px;text-align:left}
.dbb .num{text-align:right}
.dbb [data-value=broken],.dbb [data-value=failed],.dbb [data-result=failed]{color:#d13212}
.dbb [data-value=warning]{color:#b7740f}
.dbb [data-value=healthy],.dbb [data-value=succeeded],.dbb [data-result=ok]{color:#1d8102}
.dbb [data-result]{border:1px solid #aab7b8;padding:4px 8px;margin-bottom:8px}
.dbb input{width:22em}
.dbb form{display:inline;margin-right:6px}
</style>`;

/**
 * The console widget's HTML: per database its newest backups (size, age, a "verify now" button
 * each), its health as the health check judges it without re-reading, its last drill, and a
 * restore dry run into a destination typed in its field; a "health now" button; the last
 * action's result on top. Every datum is escaped; no script, nothing loaded from elsewhere.
 */
export function renderConsole(view: ConsoleView | undefined, options: RenderOptions): string {
  const parts = [STYLE, '<div class="dbb">'];
  if (options.result) parts.push(renderResult(options.result));
  parts.push(
    `<p>${button(options.endpoint, 'Health now', { action: 'health' }, 'Run the health check now? It re-reads the newest backups of every database and emails if anything is wrong.')}` +
      (view
        ? ` <small>as of <span data-field="at" data-value="${escapeHtml(view.at)}">${escapeHtml(view.at)}</span></small>`
        : '') +
      '</p>',
  );
  if (options.viewError) parts.push(`<p data-result="failed">${escapeHtml(options.viewError)}</p>`);
  if (view) {
    if (view.findings.length > 0) parts.push(list(view.findings));
    view.databases.forEach((db, index) => parts.push(renderDatabase(db, index, options.endpoint)));
    if (view.databases.length === 0) parts.push('<p>No databases are configured.</p>');
  }
  parts.push('</div>');
  return parts.join('\n');
}

function renderResult(result: ConsoleResult): string {
  const state = result.ok === true ? 'ok' : result.ok === false ? 'failed' : 'started';
  const [headline = '', ...rest] = result.lines;
  return `<div data-result="${state}"><strong>${escapeHtml(headline)}</strong>${rest.length > 0 ? list(rest) : ''}</div>`;
}

function renderDatabase(db: ConsoleDatabaseView, index: number, endpoint: string): string {
  const name = escapeHtml(db.name);
  const rows = db.backups.map(
    (b) =>
      `<tr data-backup="${escapeHtml(b.file)}"><td>${escapeHtml(b.file)}</td><td>${escapeHtml(b.tier)}</td>` +
      `<td class="num" data-field="size" data-value="${b.sizeBytes}">${escapeHtml(bytesText(b.sizeBytes))}</td>` +
      `<td class="num" data-field="age" data-value="${b.ageSeconds}">${escapeHtml(ageText(b.ageSeconds))}</td>` +
      `<td>${button(endpoint, 'Verify now', { action: 'verify', database: db.name, file: b.file })}</td></tr>`,
  );
  const drill = db.lastDrill;
  const drillText = drill
    ? `<span data-field="drill" data-value="${drill.result}">${drill.result}</span> ${escapeHtml(ageText(drill.ageSeconds))} ago ` +
      `(<span data-field="drillAt" data-value="${escapeHtml(drill.startedAt)}">${escapeHtml(drill.startedAt)}</span>, ${escapeHtml(durationText(drill.durationMs))})` +
      (drill.error ? `: ${escapeHtml(drill.error)}` : '')
    : db.drillProblem
      ? `<span data-field="drill" data-value="unreadable">unreadable</span> (${escapeHtml(db.drillProblem)})`
      : '<span data-field="drill" data-value="none">none recorded</span>';
  const field = `destination-${index}`;
  return [
    `<section data-database="${name}">`,
    `<h3>${name} <span data-field="status" data-value="${db.status}">${db.status}</span></h3>`,
    db.findings.length > 0 ? list(db.findings) : '',
    rows.length > 0
      ? `<table><tr><th>Backup</th><th>Tier</th><th class="num">Size</th><th class="num">Age</th><th></th></tr>\n${rows.join('\n')}\n</table>`
      : '<p>No backups.</p>',
    `<p>Last drill: ${drillText}</p>`,
    `<form><input name="${field}" placeholder="destination: empty for ${name} itself, or a URL without password"></form>`,
    button(
      endpoint,
      'Restore dry-run',
      { action: 'restore-dry-run', database: db.name, field },
      `Dry run of the newest backup of ${db.name}: the restore function downloads and checks it and looks at the destination; nothing is changed.`,
    ),
    '</section>',
  ].join('\n');
}

/** A button calling the widget's function with `params`; its result replaces the widget. */
function button(endpoint: string, label: string, params: ConsoleAction, confirmation?: string): string {
  const confirm = confirmation ? ` confirmation="${escapeHtml(confirmation)}"` : '';
  return (
    `<a class="btn">${escapeHtml(label)}</a>` +
    `<cwdb-action action="call" endpoint="${escapeHtml(endpoint)}" display="widget"${confirm}>${jsonInHtml(params)}</cwdb-action>`
  );
}

/**
 * Parameters as the text of an element: JSON whose `<`, `>` and `&` are JSON's own escapes, so the
 * text holds no markup and reads the same whether the dashboard takes the element's text or its
 * HTML (entities would survive the latter and break the JSON).
 */
function jsonInHtml(params: ConsoleAction): string {
  return JSON.stringify(params).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function list(lines: readonly string[]): string {
  return `<ul>${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`;
}

/** `40 min`, `3.5 h`, `9.5 days`. */
function ageText(seconds: number): string {
  return seconds < 3600 ? `${Math.round(seconds / 60)} min` : formatHours(seconds / 3600);
}
