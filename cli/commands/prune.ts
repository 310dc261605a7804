import type { Command } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import {
  DEFAULT_ORPHANS_AFTER,
  DEFAULT_PRE_RESTORE_DAYS,
  DEFAULT_RUNS_DAYS,
  parsePruneRequest,
} from '../../shared/retention/prune-request.js';
import { executePrune, planPrune, type PrunePlan } from '../../shared/retention/run-prune.js';
import { action, integerOption } from '../action.js';
import { settings } from '../cli-settings.js';
import { renderTable } from '../render-table.js';
import { writeJson, writeLines } from '../printable.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';

interface PruneFlags extends TargetFlags {
  database?: string;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepWithin?: string;
  keepPreRestoreDays?: number;
  keepRunsDays?: number;
  orphansAfter?: string;
  timeZone?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

/**
 * `dbbackup prune`: deletes the backups a GFS policy no longer keeps. It shows its plan first, and
 * deletes only with --yes: prune is the one command that destroys backups, and is run from cron
 * more often than by hand, where no prompt can be answered; a mistyped policy must show what it
 * would delete, not delete it.
 */
export function registerPrune(program: Command): void {
  targetOptions(
    program
      .command('prune')
      .description('delete the backups a retention policy no longer keeps (shows the plan; deletes only with --yes)')
      .option('-d, --database <name>', 'only this database (default: every database in the target)')
      .option(
        '--keep-daily <n>',
        'keep the newest backup of each of the last N days that have one',
        integerOption('--keep-daily'),
      )
      .option(
        '--keep-weekly <n>',
        "the same for ISO weeks (the week's own weekly run if it has one)",
        integerOption('--keep-weekly'),
      )
      .option(
        '--keep-monthly <n>',
        "the same for months (the month's own monthly run if it has one)",
        integerOption('--keep-monthly'),
      )
      .option('--keep-within <duration>', 'keep every backup taken within this long of the newest (e.g. 7d, 36h)')
      .option(
        '--keep-pre-restore-days <n>',
        `keep pre-restore safety copies this many days (default ${DEFAULT_PRE_RESTORE_DAYS})`,
        integerOption('--keep-pre-restore-days'),
      )
      .option(
        '--keep-runs-days <n>',
        `keep run records this many days (default ${DEFAULT_RUNS_DAYS})`,
        integerOption('--keep-runs-days'),
      )
      .option(
        '--orphans-after <duration>',
        `remove data objects that have had no manifest for this long (default ${DEFAULT_ORPHANS_AFTER}; at least 1h)`,
      )
      .option('--time-zone <zone>', 'the IANA time zone days, weeks and months are counted in (default UTC)')
      .option('--dry-run', 'only show the plan')
      .option('--yes', 'delete what the plan says (without it, the plan is shown and nothing is deleted)')
      .option('--json', 'print the plan (and what was deleted) as JSON on stdout'),
  ).action(
    action('prune', async (flags: PruneFlags) => {
      const request = parsePruneRequest(
        Object.fromEntries(
          Object.entries({
            database: flags.database,
            keepDaily: flags.keepDaily,
            keepWeekly: flags.keepWeekly,
            keepMonthly: flags.keepMonthly,
            keepWithin: flags.keepWithin,
            keepPreRestoreDays: flags.keepPreRestoreDays,
            keepRunsDays: flags.keepRunsDays,
            orphansAfter: flags.orphansAfter,
            timeZone: flags.timeZone,
          }).filter(([, v]) => v !== undefined),
        ),
      );
      const target = await openTargetFromFlags(flags);
      const plan = await planPrune(target, request, new Date());
      for (const p of plan.problems)
        writeLines(process.stderr, `warning: unreadable manifest ${p.key} (kept, with its data): ${p.error}`);
      const deleting = plan.delete.length + plan.orphans.length + plan.runRecords.length;
      if (!flags.json) showPlan(plan);
      if (flags.dryRun || deleting === 0) {
        if (flags.json) writeJson(process.stdout, { plan: planJson(plan), dryRun: Boolean(flags.dryRun) });
        return 0;
      }
      if (!flags.yes) {
        if (flags.json) writeJson(process.stdout, { plan: planJson(plan), dryRun: true });
        throw new ConfigError(`nothing deleted: the plan above would delete ${deleting} object(s)`, {
          hint: 'run again with --yes to delete them, or with --dry-run to only see the plan',
        });
      }
      const result = await executePrune(target, plan, settings, (what, key) => {
        if (!flags.json) writeLines(process.stdout, `deleted ${what} ${key}`);
      });
      if (flags.json) writeJson(process.stdout, { plan: planJson(plan), dryRun: false, result });
      else
        writeLines(
          process.stderr,
          `pruned ${result.deleted.length} backup(s), ${result.orphansRemoved.length} orphan(s), ${result.runRecordsRemoved.length} run record(s); kept ${plan.keep.length} backup(s)`,
        );
      return 0;
    }),
  );
}

/** The plan as a table: every backup with KEEP and its rules, or DELETE; then orphans and run records. */
export function showPlan(plan: PrunePlan): void {
  const rows = [
    ...plan.keep.map((b) => ['keep', b.database, b.datetime, b.kind, b.key, b.reasons.join(', ')]),
    ...plan.delete.map((b) => ['DELETE', b.database, b.datetime, b.kind, b.key, '']),
  ].sort((a, b) => (a[1] as string).localeCompare(b[1] as string) || (b[2] as string).localeCompare(a[2] as string));
  if (rows.length > 0)
    writeLines(process.stdout, ...renderTable(['ACTION', 'DATABASE', 'TAKEN (UTC)', 'KIND', 'KEY', 'KEPT BY'], rows));
  else writeLines(process.stdout, 'no backups');
  for (const o of plan.orphans) writeLines(process.stdout, `DELETE orphan ${o.key} (no manifest since ${o.since})`);
  for (const key of plan.runRecords) writeLines(process.stdout, `DELETE run record ${key}`);
}

function planJson(plan: PrunePlan) {
  return { keep: plan.keep, delete: plan.delete, orphans: plan.orphans, runRecords: plan.runRecords, problems: plan.problems };
}
