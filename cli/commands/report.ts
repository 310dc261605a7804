import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import { readReport } from '../../shared/report/read-report.js';
import { renderReportHtml } from '../../shared/report/render-report-html.js';
import { renderReportText } from '../../shared/report/render-report-text.js';
import { action, integerOption } from '../action.js';
import { writeJson, writeLines } from '../printable.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';

/** `dbbackup report`: runs, failures, durations, sizes, costs and recommendations over the last days. */
export function registerReport(program: Command): void {
  targetOptions(
    program
      .command('report')
      .description('report on runs, failures, durations, sizes and storage costs, with recommendations')
      .option('--days <n>', 'how many days back the report looks (1-366)', integerOption('--days'), 7)
      .option('-d, --database <name>', 'only this database')
      .option('--json', 'print the report as JSON on stdout')
      .option('--html <file>', 'also write the report as one self-contained HTML page with charts'),
  ).action(
    action('report', async (flags: TargetFlags & { days: number; database?: string; json?: boolean; html?: string }) => {
      if (flags.days < 1 || flags.days > 366) {
        throw new ConfigError(`--days must be between 1 and 366 (got ${flags.days})`, {
          hint: 'give the number of days to report on, e.g. --days 30',
        });
      }
      const target = await openTargetFromFlags(flags);
      const report = await readReport(target, { days: flags.days, database: flags.database });
      // The text report lists what it could not read; beside JSON, stderr says so too, as list does.
      if (flags.json) for (const p of report.problems) writeLines(process.stderr, `warning: not read ${p.key}: ${p.error}`);
      const named = flags.database === undefined ? undefined : report.databases[0];
      // As list does: a name that matches nothing is most often mistyped, but not an error.
      if (named && named.runs === 0 && named.stored.backups === 0 && named.restoreTest.lastSucceededAt === null)
        writeLines(process.stderr, `warning: no runs or backups of database ${flags.database} in ${target.url}`);
      if (flags.html) {
        await writeFileWhole(flags.html, renderReportHtml(report));
        writeLines(process.stderr, `report written to ${flags.html}`);
      }
      if (flags.json) writeJson(process.stdout, report);
      else writeLines(process.stdout, ...renderReportText(report));
      return 0;
    }),
  );
}

/**
 * Writes a file whole or not at all: a temporary name beside it, then a rename, so a failure
 * (a full disk, a signal) never leaves half a report where the last good one was.
 */
export async function writeFileWhole(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.writeFile(temp, text, { flag: 'wx' });
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw new ConfigError(
      `cannot write the report to ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        hint: 'give --html a file in a directory that exists and you can write to',
        cause: error,
      },
    );
  }
}
