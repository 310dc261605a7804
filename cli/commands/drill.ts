import type { Command } from 'commander';
import { type DrillResult, runDrill } from '../../shared/drill/run-drill.js';
import { action, cliWording } from '../action.js';
import { settings } from '../cli-settings.js';
import { formatAge, formatDuration } from '../format-units.js';
import { writeJson, writeLines } from '../printable.js';
import { ProgressLine } from '../progress-line.js';
import { stopOnSignal, TIMEOUT_HELP, timeoutOption } from '../stop-on-signal.js';
import { type TargetFlags, targetOptions } from '../target-flags.js';

interface DrillFlags extends TargetFlags {
  database: string;
  into?: string;
  json?: boolean;
  timeout?: number;
}

/** `dbbackup drill`: restores the newest backup into a scratch database, checks it, removes it, records the run. */
export function registerDrill(program: Command): void {
  targetOptions(
    program
      .command('drill')
      .description(
        'prove the newest backup restores: restore it into a scratch database, check it, drop it, and record the run (exit 0 passed)',
      )
      .requiredOption('-d, --database <name>', 'the database whose newest backup is drilled')
      .option(
        '--into <url-or-dir>',
        'PostgreSQL: the scratch server, postgres://user@host:5432 without a database (its login needs CREATEDB; ' +
          'the password in PGPASSWORD); SQLite: a directory for the scratch file (default: the temp directory)',
      )
      .option('--json', 'print the drill as JSON on stdout')
      .option('--timeout <seconds>', TIMEOUT_HELP, timeoutOption),
  ).action(
    action('drill', async (flags: DrillFlags) => {
      const stop = stopOnSignal(flags.timeout);
      const progress = new ProgressLine();
      const result = await runDrill(
        { target: flags.target, database: flags.database, into: flags.into, s3Checksums: flags.s3Checksums },
        {
          settings,
          signal: stop.signal,
          deadline: stop.deadline,
          onProgress: (p) => progress.update(p),
          wording: cliWording,
          onWarning: (warning) => {
            progress.clear();
            writeLines(process.stderr, `warning: ${warning}`);
          },
        },
      ).finally(() => {
        progress.clear();
        stop.dispose();
      });
      if (flags.json) writeJson(process.stdout, result);
      else writeLines(process.stdout, drillSummary(result));
      return 0;
    }),
  );
}

/** `drill passed: backup_….dump.gz, taken 3 h ago, restored in 4.2 s; 11 tables, 15607 rows checked (11/11 checks passed)` */
export function drillSummary(r: DrillResult): string {
  const passed = r.checks.filter((c) => c.ok).length;
  return (
    `drill passed: ${r.backupFile}, taken ${formatAge(r.backupAgeSeconds)} ago, restored in ${formatDuration(r.restoreMs)}; ` +
    `${r.tables} tables, ${r.rows} rows checked (${passed}/${r.checks.length} checks passed)`
  );
}
