import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { ConfigError } from '../../shared/errors.js';
import { DEFAULT_RETENTION } from '../../shared/deployment/deployment-config.js';
import { runDrill } from '../../shared/drill/run-drill.js';
import { databaseFileUrl } from '../../shared/engines/registry.js';
import { checkHealth } from '../../shared/health/check-health.js';
import { describeHealth } from '../../shared/health/describe-health.js';
import { MANIFEST_SUFFIX } from '../../shared/manifest.js';
import { readReport } from '../../shared/report/read-report.js';
import { renderReportHtml } from '../../shared/report/render-report-html.js';
import { renderReportText } from '../../shared/report/render-report-text.js';
import { parsePruneRequest } from '../../shared/retention/prune-request.js';
import { planPrune } from '../../shared/retention/run-prune.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { action } from '../action.js';
import { settings } from '../cli-settings.js';
import { writeLines } from '../printable.js';
import { backupWithProgress, summaryLine } from './backup.js';
import { drillSummary } from './drill.js';
import { showPlan } from './prune.js';
import { writeFileWhole } from './report.js';

/** The Chinook sample database shipped with the repository (MIT, see its LICENSE.md). */
const SAMPLE = join(dirname(fileURLToPath(import.meta.url)), '../../../samples/chinook/Chinook_Sqlite.sqlite');
const NAME = 'chinook';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** One backup of the simulated history: when a schedule would have taken it, and for which tier. */
export interface SimulatedRun {
  readonly at: Date;
  readonly tier: 'daily' | 'weekly' | 'monthly';
  /** A run whose source was missing: it fails and leaves a failed run record, as a real one would. */
  readonly fails?: boolean;
}

/**
 * The runs a default schedule (daily 23:00, weekly Sunday 02:00, monthly the 1st 03:00, UTC)
 * would have made before `now`: 10 days of dailies, 6 Sundays, 3 months, and one failed daily,
 * so that prune has something to delete (the default keeps 7 dailies) and the report a failure.
 */
export function simulatedHistory(now: Date): SimulatedRun[] {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const runs: SimulatedRun[] = [];
  for (let d = 1; d <= 10; d++) runs.push({ at: new Date(midnight - d * DAY + 23 * HOUR), tier: 'daily', fails: d === 4 });
  const lastSunday = midnight - now.getUTCDay() * DAY;
  for (let w = 0; w < 6; w++) runs.push({ at: new Date(lastSunday - w * 7 * DAY + 2 * HOUR), tier: 'weekly' });
  for (let m = 0; m < 3; m++)
    runs.push({ at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - m, 1, 3)), tier: 'monthly' });
  return runs.filter((r) => r.at < now).sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** `dbbackup demo` (what `npm start` runs): backs up the bundled sample into ./backups, then shows its whole life. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'back up the bundled Chinook SQLite sample into ./backups, then show the life of a backup on a simulated history: prune plan, health, drill, report',
    )
    .option('-t, --target <dir>', 'the directory to store the sample backups in', 'backups')
    .option('--report <file>', 'where to write the HTML report (default: report.html in the target directory)')
    .action(
      action('demo', async (flags: { target: string; report?: string }) => {
        await checkDemoTarget(flags.target);
        const manifest = await backupWithProgress({
          source: databaseFileUrl('sqlite', SAMPLE),
          target: flags.target,
          name: NAME,
          compression: 'gzip',
        });
        const shown = relative(process.cwd(), manifest.location) || manifest.location;
        const target = flags.target;
        writeLines(
          process.stdout,
          summaryLine(manifest),
          '',
          `  backup:   ${shown}`,
          `  manifest: ${shown}${MANIFEST_SUFFIX}`,
          `  sha256:   ${manifest.hash}`,
          `  tables:   ${Object.keys(manifest.tables).length}, rows: ${Object.values(manifest.tables).reduce((a, b) => a + b, 0)}`,
        );
        const reportFile = flags.report ?? join(target, 'report.html');
        await showLife(target, reportFile);
        writeLines(
          process.stdout,
          '',
          'Next:',
          `  npx dbbackup list   --target ${target}                     # the backups, newest first`,
          `  npx dbbackup verify --target ${target} --latest            # re-read and check hash and content`,
          `  npx dbbackup info   --target ${target}                     # per database: count, size, age`,
          `  npx dbbackup prune  --target ${target} --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run`,
          `  npx dbbackup health --target ${target}                     # ages, re-reads, anomalies`,
          `  npx dbbackup report --target ${target} --days 90 --html report.html`,
          `  npx dbbackup restore --target ${target} --latest --to ./chinook-restored.db --confirm chinook-restored.db`,
          `  npx dbbackup backup --source postgres://user@host/db --target s3://bucket/prefix   # see README`,
        );
        return 0;
      }),
    );
}

/**
 * The demo writes backdated backups a later prune or health would take for real ones: it keeps to a
 * directory of its own, refusing a URL or a directory that holds backups of another database.
 */
async function checkDemoTarget(dir: string): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) {
    throw new ConfigError(`the demo writes to a local directory, not ${dir}`, {
      hint: 'give --target a directory of its own, e.g. --target demo-backups',
    });
  }
  const others = await listBackups(await openTarget(dir))
    .then(({ backups }) => [...new Set(backups.map((b) => b.manifest.database))].filter((name) => name !== NAME))
    // A directory that does not exist yet holds nothing.
    .catch(() => []);
  if (others.length > 0) {
    throw new ConfigError(
      `${dir} holds backups of ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}: the demo adds simulated, backdated backups, which a prune there would count as real`,
      { hint: 'give the demo a directory of its own with --target, e.g. --target demo-backups' },
    );
  }
}

/**
 * The rest of a backup's life, on a history a schedule would have made: the same commands a user
 * runs (prune --dry-run, health, drill, report --html), through the same core. The history is
 * simulated once per target (only the demo backdates a backup) and marked as scheduled runs of
 * their tier, so retention and health treat them as they would real ones.
 */
async function showLife(targetDir: string, reportFile: string): Promise<void> {
  const target = await openTarget(targetDir);
  const listed = await listBackups(target, { database: NAME });
  const simulated = listed.backups.some((b) => b.manifest.kind === 'scheduled');
  const history = simulatedHistory(new Date());
  writeLines(process.stdout, '', '── The life of a backup, on a simulated history ──');
  if (simulated) {
    writeLines(process.stdout, `(the history an earlier demo simulated in ${targetDir} is used as it is)`);
  } else {
    let failed = 0;
    for (const run of history) {
      const source = run.fails ? join(dirname(SAMPLE), 'missing-on-purpose.sqlite') : SAMPLE;
      await runBackup(
        { source: databaseFileUrl('sqlite', source), target: targetDir, name: NAME, kind: 'scheduled', label: run.tier },
        { now: () => run.at, settings },
      ).catch(() => failed++);
    }
    writeLines(
      process.stdout,
      `simulated ${history.length} scheduled runs of ${NAME} dated back to ${history[0]?.at.toISOString().slice(0, 10)} ` +
        `(${failed} failed on purpose: its source file was missing); only the demo backdates a backup`,
    );
  }

  const keep = DEFAULT_RETENTION;
  writeLines(
    process.stdout,
    '',
    `$ dbbackup prune --target ${targetDir} --keep-daily ${keep.daily} --keep-weekly ${keep.weekly} --keep-monthly ${keep.monthly} --dry-run`,
  );
  const plan = await planPrune(
    target,
    parsePruneRequest({ database: NAME, keepDaily: keep.daily, keepWeekly: keep.weekly, keepMonthly: keep.monthly }),
    new Date(),
  );
  showPlan(plan);
  writeLines(process.stdout, `(dry run: ${plan.delete.length} backup(s) would be deleted, ${plan.keep.length} kept)`);

  writeLines(process.stdout, '', `$ dbbackup health --target ${targetDir}`);
  const health = await checkHealth(target, { maxAgeHours: {}, databases: [{ name: NAME }] }, { settings });
  writeLines(process.stdout, ...describeHealth(health));

  writeLines(process.stdout, '', `$ dbbackup drill --target ${targetDir} --database ${NAME}`);
  writeLines(process.stdout, drillSummary(await runDrill({ target: targetDir, database: NAME }, { settings })));

  writeLines(process.stdout, '', `$ dbbackup report --target ${targetDir} --days 90 --html ${reportFile}`);
  const report = await readReport(target, { days: 90, database: NAME });
  await writeFileWhole(reportFile, renderReportHtml(report));
  writeLines(process.stdout, ...renderReportText(report), `report written to ${reportFile} (open it in a browser)`);
}
