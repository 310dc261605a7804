import type { Manifest } from '../manifest.js';

/** Where the alert comes from, so that a recipient of several deployments knows which to open. */
export interface AlertOrigin {
  readonly stack?: string;
  readonly account?: string;
  readonly region?: string;
}

/** The newest completed backup of the database and tier, as read from the bucket at send time. */
export type LastGoodBackup =
  | { readonly kind: 'found'; readonly manifest: Manifest }
  | { readonly kind: 'none' }
  | { readonly kind: 'unreadable'; readonly reason: string };

/** What every alert carries beside its own facts: where it is from, and what to do next. */
interface AlertCommon {
  readonly database: string;
  readonly tier: string;
  readonly at: Date;
  readonly runId: string;
  readonly origin?: AlertOrigin;
  readonly lastGood?: LastGoodBackup;
  /** The next steps, one command or instruction a line, in the order to try them. */
  readonly nextSteps?: readonly string[];
  /** A link to the run's log (its stream, or a search for its request id). */
  readonly logUrl?: string;
  /** The Lambda request id, for a search of the function's log. */
  readonly requestId?: string;
}

/** Something a deployment's recipients are told about. */
export type BackupAlert =
  | (AlertCommon & {
      readonly kind: 'failure';
      /** The error's message: never a stack trace, never a secret. */
      readonly error: string;
    })
  | (Omit<AlertCommon, 'tier'> & {
      /** A restore drill of the database's newest backup failed (the backups themselves are unchanged). */
      readonly kind: 'drill-failure';
      /** The backup the drill read, when it got that far. */
      readonly backup?: string;
      readonly error: string;
    })
  | (AlertCommon & {
      readonly kind: 'success';
      readonly manifest: Manifest;
    })
  | (AlertCommon & {
      /** A success after failed runs of the same database and tier. */
      readonly kind: 'recovered';
      readonly manifest: Manifest;
      readonly failedRuns: number;
      /** When the first of those failed runs started. */
      readonly failingSince: Date;
    });

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
  const origin = originLine(alert.origin);
  if (origin) rows.push(['Deployment', origin]);
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
    if (alert.kind === 'recovered') {
      const runs = alert.failedRuns === 1 ? '1 failed run' : `${alert.failedRuns} failed runs`;
      subject = `[dbbackup] RECOVERED ${alert.database} ${alert.tier} backup after ${runs}`;
      headline = `The ${alert.tier} backup of ${alert.database} completed again, after ${runs} since ${alert.failingSince.toISOString()}.`;
      rows.push(['Failed runs', `${alert.failedRuns} since ${alert.failingSince.toISOString()}`]);
    } else {
      subject = `[dbbackup] ${alert.database} ${alert.tier} backup completed: ${megabytes(m.size_bytes)} in ${(m.duration_ms / 1000).toFixed(1)} s`;
      headline = `The ${alert.tier} backup of ${alert.database} completed.`;
    }
    rows.push(
      ['Checked', whatWasChecked(m)],
      ['Not checked', 'the backup was not read back or restored: dbbackup verify does that'],
      ['Size', `${megabytes(m.size_bytes)} stored (${megabytes(m.source_size_bytes)} before compression)`],
      ['Duration', `${(m.duration_ms / 1000).toFixed(1)} s`],
      ['SHA-256', m.hash],
      ['Location', m.location],
      ['Storage class', m.storage_class ?? '-'],
    );
  }
  if (alert.kind !== 'success' && alert.lastGood) rows.push(['Last good backup', lastGoodLine(alert.lastGood, alert.at)]);
  rows.push(['Run id', alert.runId]);
  if (alert.requestId) rows.push(['Request id', alert.requestId]);
  if (alert.logUrl) rows.push(['Log', alert.logUrl]);
  if (subject.length > SUBJECT_MAX) subject = `${subject.slice(0, SUBJECT_MAX - 1)}…`;
  const steps = alert.kind === 'failure' ? (alert.nextSteps ?? []) : [];

  const text = `${headline}\n\n${rows.map(([k, v]) => `${`${k}:`.padEnd(18)}${v}`).join('\n')}\n${
    steps.length > 0 ? `\nNext steps:\n${steps.map((s) => `  ${s}`).join('\n')}\n` : ''
  }`;
  const html = `<!doctype html><html><body style="font-family: sans-serif">
<p>${escapeHtml(headline)}</p>
<table cellpadding="4" style="border-collapse: collapse">
${rows
  .map(([k, v]) => {
    const value = k === 'Log' ? `<a href="${escapeHtml(v)}">open the log</a>` : `<code>${escapeHtml(v)}</code>`;
    return `<tr><th align="left" valign="top">${escapeHtml(k)}</th><td>${value}</td></tr>`;
  })
  .join('\n')}
</table>
${steps.length > 0 ? `<p>Next steps:</p>\n<ol>\n${steps.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('\n')}\n</ol>\n` : ''}</body></html>
`;
  return { subject, text, html };
}

/** `stack DbBackup, account 123456789012, region eu-west-1`, from what is known. */
function originLine(origin: AlertOrigin | undefined): string | undefined {
  if (!origin) return undefined;
  const parts = [
    origin.stack && `stack ${origin.stack}`,
    origin.account && `account ${origin.account}`,
    origin.region && `region ${origin.region}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/**
 * What runBackup confirmed before it wrote the manifest, and only that: a backup is "verified"
 * only once it has been read back, which a backup run does not do.
 */
function whatWasChecked(m: Manifest): string {
  // The dump stream ends only once its program exited 0 (or the snapshot was read whole): anything else fails the run.
  const by = Object.entries(m.engine_version)
    .filter(([name]) => name !== 'server')
    .map(([, version]) => version)
    .join(', ');
  const dumped = `the dump ran to its end without error${by ? ` (written by ${by})` : ''}`;
  const tables = Object.keys(m.tables).length;
  const counts =
    tables === 0
      ? 'no row counts recorded'
      : `row counts of ${tables} table${tables === 1 ? '' : 's'} recorded${
          m.tables_estimated.length > 0 ? ` (${m.tables_estimated.length} estimated)` : ''
        }`;
  return `${dumped}; stored size equals the ${m.size_bytes} bytes sent; SHA-256 recorded; ${counts}`;
}

function lastGoodLine(last: LastGoodBackup, now: Date): string {
  if (last.kind === 'none') return 'none yet';
  if (last.kind === 'unreadable') return `could not be read (${last.reason})`;
  const m = last.manifest;
  return `${m.datetime} (${age(now.getTime() - Date.parse(m.datetime))} ago): ${m.location}`;
}

/** `3 h 5 min`, `2 d 4 h`: an age read at a glance. */
function age(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

/** Makes text safe inside HTML, as element content and in a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}
