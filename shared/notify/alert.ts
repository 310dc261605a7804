import type { Manifest } from '../manifest.js';

/** Something a deployment's recipients are told about. */
export type BackupAlert =
  | {
      readonly kind: 'failure';
      readonly database: string;
      readonly tier: string;
      /** The error's message: never a stack trace, never a secret. */
      readonly error: string;
      readonly at: Date;
      readonly runId: string;
      readonly logUrl?: string;
    }
  | {
      /** A restore drill of the database's newest backup failed (the backups themselves are unchanged). */
      readonly kind: 'drill-failure';
      readonly database: string;
      /** The backup the drill read, when it got that far. */
      readonly backup?: string;
      readonly error: string;
      readonly at: Date;
      readonly runId: string;
      readonly logUrl?: string;
    }
  | {
      readonly kind: 'success';
      readonly database: string;
      readonly tier: string;
      readonly manifest: Manifest;
      readonly at: Date;
      readonly runId: string;
      readonly logUrl?: string;
    };

/** An email ready to send. */
export interface AlertMessage {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const SUBJECT_MAX = 160;

/**
 * Writes the email for an alert. Subjects read well in an inbox list:
 * `[dbbackup] FAILED school daily backup: pg_dump: connection refused`.
 */
export function composeAlert(alert: BackupAlert): AlertMessage {
  const rows: Array<[string, string]> = [
    ['Database', alert.database],
    ...(alert.kind === 'drill-failure' ? [] : [['Tier', alert.tier] as [string, string]]),
    ['When (UTC)', alert.at.toISOString()],
  ];
  let subject: string;
  let headline: string;
  if (alert.kind === 'drill-failure') {
    const firstLine = alert.error.split('\n')[0] ?? '';
    subject = `[dbbackup] DRILL FAILED ${alert.database}: ${firstLine}`;
    headline = `The restore drill of ${alert.database} failed: its newest backup could not be restored and checked on the scratch server. Until a drill passes, do not count on restoring it.`;
    if (alert.backup) rows.push(['Backup', alert.backup]);
    rows.push(['Error', alert.error]);
  } else if (alert.kind === 'failure') {
    const firstLine = alert.error.split('\n')[0] ?? '';
    subject = `[dbbackup] FAILED ${alert.database} ${alert.tier} backup: ${firstLine}`;
    headline = `The ${alert.tier} backup of ${alert.database} failed. No backup was stored for this run.`;
    rows.push(['Error', alert.error]);
  } else {
    const m = alert.manifest;
    subject = `[dbbackup] ${alert.database} ${alert.tier} backup completed: ${megabytes(m.size_bytes)} in ${(m.duration_ms / 1000).toFixed(1)} s`;
    headline = `The ${alert.tier} backup of ${alert.database} completed and was verified.`;
    rows.push(
      ['Size', `${megabytes(m.size_bytes)} stored (${megabytes(m.source_size_bytes)} before compression)`],
      ['Duration', `${(m.duration_ms / 1000).toFixed(1)} s`],
      ['SHA-256', m.hash],
      ['Location', m.location],
      ['Storage class', m.storage_class ?? '-'],
    );
  }
  rows.push(['Run id', alert.runId]);
  if (alert.logUrl) rows.push(['Log', alert.logUrl]);
  if (subject.length > SUBJECT_MAX) subject = `${subject.slice(0, SUBJECT_MAX - 1)}…`;

  const text = `${headline}\n\n${rows.map(([k, v]) => `${`${k}:`.padEnd(15)}${v}`).join('\n')}\n`;
  const html = `<!doctype html><html><body style="font-family: sans-serif">
<p>${escapeHtml(headline)}</p>
<table cellpadding="4" style="border-collapse: collapse">
${rows
  .map(([k, v]) => {
    const value = k === 'Log' ? `<a href="${escapeHtml(v)}">open the log stream</a>` : `<code>${escapeHtml(v)}</code>`;
    return `<tr><th align="left" valign="top">${escapeHtml(k)}</th><td>${value}</td></tr>`;
  })
  .join('\n')}
</table>
</body></html>
`;
  return { subject, text, html };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}
